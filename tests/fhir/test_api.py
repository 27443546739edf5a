"""The read-only FHIR API: bearer tokens an admin creates and revokes (hashed at rest), no access from a browser
session, every call audited with the client as its "who" and no patient data, a rate limit per client, and
OperationOutcome for every refusal."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome
from fhir.resources.R4B.patient import Patient
from sqlalchemy import select

from tests.fhir.history import rich_patient
from tests.support.factories import TODAY
from tracker.models import ApiClient, AuditEvent
from tracker.services.api_clients import create_client
from tracker.services.sessions import hash_token
from tracker.web.fhir import FHIR_JSON


def new_token(session, world, name: str = "EHR interface") -> str:
    _, token = create_client(session, world.actor("admin"), name, datetime.now(UTC))
    return token


def call(client, url: str, token: str | None = None, method: str = "get"):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with client.app.app_context():
        return getattr(client.http, method)(url, headers=headers)


def outcome(response, status: int, code: str) -> OperationOutcome:
    assert response.status_code == status and response.mimetype == FHIR_JSON, response.get_data(as_text=True)
    parsed = OperationOutcome.model_validate(json.loads(response.get_data(as_text=True)))
    assert parsed.issue[0].code == code
    return parsed


def api_rows(session) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.action == "api_read").order_by(AuditEvent.id)))


def test_an_admin_creates_a_client_whose_token_is_shown_once_and_kept_hashed(as_role, session):
    admin = as_role("admin")
    page = admin.post("/admin/api-clients", {"name": "Epic bridge"}).get_data(as_text=True)
    token = re.search(r'id="api-token">([^<]+)<', page).group(1)
    stored = session.scalar(select(ApiClient).where(ApiClient.name == "Epic bridge"))
    assert stored.token_hash == hash_token(token) and token not in json.dumps(
        [r.after for r in session.scalars(select(AuditEvent))]
    )
    listing = admin.get("/admin/api-clients").get_data(as_text=True)
    assert "Epic bridge" in listing and token not in listing and "Never" in listing


def test_a_blank_or_taken_name_is_refused_on_the_form(as_role, world, session):
    new_token(session, world, "Epic bridge")
    admin = as_role("admin")
    response = admin.post("/admin/api-clients", {"name": "Epic bridge"})
    assert response.status_code == 422 and "A client with this name exists" in response.get_data(as_text=True)
    assert admin.post("/admin/api-clients", {"name": "  "}).status_code == 422


@pytest.mark.parametrize("role", ["nurse", "coordinator", "physician"])
def test_only_admins_manage_api_clients(as_role, role):
    assert as_role(role).get("/admin/api-clients").status_code == 403
    assert as_role(role).post("/admin/api-clients", {"name": "mine"}).status_code == 403


def test_missing_wrong_and_revoked_tokens_are_refused(as_role, client, world, session):
    patient, _ = rich_patient(session, world, refills=0)
    token = new_token(session, world)
    url = f"/fhir/Patient/{patient.id}"
    assert call(client, url, token).status_code == 200
    missing = call(client, url)
    outcome(missing, 401, "login")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    outcome(call(client, url, token + "x"), 401, "login")
    outcome(call(client, url, "not-a-token"), 401, "login")
    stored = session.scalar(select(ApiClient))
    admin = as_role("admin")
    assert admin.post(f"/admin/api-clients/{stored.id}/revoke").status_code == 302
    outcome(call(client, url, token), 401, "login")
    assert "Revoked" in admin.get("/admin/api-clients").get_data(as_text=True)


def test_a_browser_session_opens_no_api_call(as_role, world, session):
    patient, _ = rich_patient(session, world, refills=0)
    for role in ("admin", "physician"):
        outcome(as_role(role).get(f"/fhir/Patient/{patient.id}"), 401, "login")


def test_a_read_is_audited_with_the_client_and_no_patient_data(client, world, session):
    patient, _ = rich_patient(session, world, refills=1, last_name="Quimby")
    token = new_token(session, world)
    response = call(client, f"/fhir/Patient/{patient.id}", token)
    assert response.status_code == 200 and response.mimetype == FHIR_JSON
    assert response.headers["Cache-Control"] == "no-store"
    read = Patient.model_validate(json.loads(response.get_data(as_text=True)))
    assert read.identifier[0].value == patient.mrn and read.name[0].family == "Quimby"
    (row,) = api_rows(session)
    stored = session.scalar(select(ApiClient))
    assert (row.user_id, row.api_client_id, row.patient_id) == (None, stored.id, patient.id)
    assert row.after == {
        "interaction": "read",
        "type": "Patient",
        "id": patient.id,
        "rows": 1,
        "client": "EHR interface",
    }
    assert "Quimby" not in json.dumps(row.after) and patient.mrn not in json.dumps(row.after)
    assert stored.last_used_at is not None


def test_everything_is_a_searchset_of_the_patients_resources(client, world, session):
    patient, pump = rich_patient(session, world, refills=2)
    token = new_token(session, world)
    parsed = Bundle.model_validate(json.loads(call(client, f"/fhir/Patient/{patient.id}/$everything", token).data))
    assert parsed.type == "searchset" and parsed.total == len(parsed.entry)
    assert parsed.entry[0].fullUrl == f"http://127.0.0.1:5000/fhir/Patient/{patient.id}"
    devices = [e.resource for e in parsed.entry if e.resource.get_resource_type() == "Device"]
    assert [d.serialNumber for d in devices] == [pump.serial]
    assert api_rows(session)[-1].after["operation"] == "$everything"


def test_unknown_patients_and_paths_are_not_found(client, world, session):
    token = new_token(session, world)
    outcome(call(client, "/fhir/Patient/999999", token), 404, "not-found")
    outcome(call(client, "/fhir/Patient/999999/$everything", token), 404, "not-found")
    outcome(call(client, "/fhir/Observation", token), 404, "not-found")
    rows = api_rows(session)  # a client probing ids is on the trail too
    assert [(r.after["id"], r.after["rows"], r.patient_id) for r in rows] == [(999999, 0, None), (999999, 0, None)]


def test_appointments_are_searched_by_clinic_days(client, world, session):
    patient, _ = rich_patient(session, world, refills=0)  # booked for tomorrow
    token = new_token(session, world)
    tomorrow = TODAY + timedelta(days=1)

    def found(query: str) -> list[str]:
        response = call(client, f"/fhir/Appointment?{query}", token)
        assert response.status_code == 200, response.data
        parsed = Bundle.model_validate(json.loads(response.data))
        return [e.resource.participant[0].actor.reference for e in parsed.entry or []]

    assert found(f"date=ge{TODAY}&date=le{tomorrow}") == [f"Patient/{patient.id}"]
    assert found(f"date=eq{tomorrow}") == [f"Patient/{patient.id}"]
    assert found(f"date={tomorrow}") == [f"Patient/{patient.id}"]
    assert found(f"date=ge{TODAY}&date=lt{tomorrow}") == []
    assert found(f"date=gt{tomorrow}&date=le{tomorrow + timedelta(days=30)}") == []
    row = api_rows(session)[0]
    assert row.after["params"] == {"date": [f"ge{TODAY}", f"le{tomorrow}"]} and row.after["rows"] == 1


@pytest.mark.parametrize(
    "query",
    [
        "",
        "date=ge2026-07-01",
        "date=le2026-07-31",
        "date=ge2026-13-01&date=le2026-07-31",
        "date=xx2026-07-01",
        "date=ge2026-07&date=le2026-07-31",
        "date=ge2026-01-01&date=le2026-12-31",
    ],
)
def test_bad_date_searches_are_400(client, world, session, query):
    token = new_token(session, world)
    outcome(call(client, f"/fhir/Appointment?{query}", token), 400, "invalid")
    assert [r.after["refused"] for r in api_rows(session)] == [400]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_there_is_no_write_api(as_role, client, world, session, method):
    patient, _ = rich_patient(session, world, refills=0)
    token = new_token(session, world)
    for url in (f"/fhir/Patient/{patient.id}", "/fhir/Patient", "/fhir/Appointment", "/fhir/"):
        outcome(call(client, url, token, method), 405, "not-supported")
    signed_in = as_role("admin")
    with signed_in.app.app_context():
        outcome(getattr(signed_in.http, method)(f"/fhir/Patient/{patient.id}"), 405, "not-supported")


def test_calls_past_the_clients_limit_are_429_and_other_clients_go_on(app, client, world, session):
    patient, _ = rich_patient(session, world, refills=0)
    busy, other = new_token(session, world, "busy"), new_token(session, world, "other")
    before, app.config["FHIR_API_RATE_LIMIT"] = app.config["FHIR_API_RATE_LIMIT"], "3/minute"
    try:
        url = f"/fhir/Patient/{patient.id}"
        assert [call(client, url, busy).status_code for _ in range(3)] == [200, 200, 200]
        refused = call(client, url, busy)
        outcome(refused, 429, "throttled")
        assert 1 <= int(refused.headers["Retry-After"]) <= 61
        assert call(client, url, other).status_code == 200
    finally:
        app.config["FHIR_API_RATE_LIMIT"] = before
    assert len(api_rows(session)) == 4  # the refused call read nothing


def test_metadata_is_a_capability_statement_open_to_anyone(client):
    response = call(client, "/fhir/metadata")
    assert response.status_code == 200 and response.mimetype == FHIR_JSON
    statement = CapabilityStatement.model_validate(json.loads(response.data))
    assert {r.type for r in statement.rest[0].resource} == {"Patient", "Appointment"}
    assert statement.fhirVersion == "4.3.0"


def test_the_audit_page_names_the_client_of_an_api_read(as_role, client, world, session):
    patient, _ = rich_patient(session, world, refills=0)
    call(client, f"/fhir/Patient/{patient.id}", new_token(session, world, "Epic bridge"))
    admin = as_role("admin")
    assert "API client Epic bridge" in admin.get(f"/admin/audit?patient={patient.id}").get_data(as_text=True)
    everything = admin.get("/admin/audit")  # the client's creation too
    assert everything.status_code == 200 and everything.get_data(as_text=True).count("Epic bridge") >= 2
