"""Issue 18, item 8: minimum necessary by site. The clinic's "site_scope" setting lets nurses and coordinators
change only their own clinic's patients (1), or also see only them (2); physicians and admins work across
clinics. One rule (tracker.policy.site_allows), checked for every guarded route that names a patient."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from config import TestConfig
from tests.support.factories import TODAY, implanted_days_ago, make_patient, patient_data
from tests.web.test_patients import form_of
from tracker import create_app
from tracker.models import AuditEvent, ContactAttempt, Patient, Setting
from tracker.policy import site_allows


def _patient_rules():
    """Every staff route naming a patient; not the FHIR API's (a client's token, not a user, calls those)."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    return sorted(
        (rule.rule, method)
        for rule in app.url_map.iter_rules()
        if "<int:patient_id>" in rule.rule and not rule.endpoint.startswith("fhir.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    )


RULES = _patient_rules()


def scope(session, value: int) -> None:
    session.merge(Setting(name="site_scope", value=str(value)))
    session.commit()


@pytest.mark.parametrize(
    "role, home, patient_at, scope_value, writing, allowed",
    [
        ("nurse", 1, 2, 0, True, True),
        ("nurse", 1, 2, 1, False, True),
        ("nurse", 1, 2, 1, True, False),
        ("nurse", 1, 1, 1, True, True),
        ("coordinator", 1, 2, 2, False, False),
        ("coordinator", 1, 1, 2, True, True),
        ("physician", 1, 2, 2, True, True),
        ("admin", 1, 2, 2, False, True),
        ("nurse", None, 2, 1, True, False),
    ],
)
def test_the_rule(role, home, patient_at, scope_value, writing, allowed):
    assert site_allows(role, home, patient_at, scope_value, writing) is allowed


def test_with_change_own_clinic_every_write_route_refuses_another_clinics_patient(world, session, as_role):
    patient = implanted_days_ago(session, world, 20)
    patient.location_id = world.sites["Buckhead Clinic"].id
    session.commit()
    scope(session, 1)
    nurse, coordinator, physician = as_role("nurse"), as_role("coordinator"), as_role("physician")
    audit_rows = session.scalar(select(func.count(AuditEvent.id)))
    refused = []
    for rule, method in RULES:
        if method != "POST":
            continue
        url = rule.replace("<int:patient_id>", str(patient.id))
        url = re.sub(r"<int:\w+>", "1", url)  # any other id: the guard answers before the view looks
        for client in (nurse, coordinator):
            response = client.post(url, {})
            assert response.status_code == 403, (url, response.status_code)
            refused.append(url)
    assert refused
    session.expire_all()
    assert session.scalar(select(func.count(AuditEvent.id))) == audit_rows  # nothing written
    # Reading stays open at scope 1; the message says why a write was refused.
    page = nurse.get(f"/patients/{patient.id}")
    assert page.status_code == 200
    response = nurse.post(f"/patients/{patient.id}/contacts", {"method": "phone", "outcome": "reached"})
    assert response.status_code == 403 and "belongs to another clinic" in response.get_data(as_text=True)
    # A physician works across clinics.
    assert (
        physician.post(f"/patients/{patient.id}/contacts", {"method": "phone", "outcome": "reached"}).status_code == 302
    )
    assert session.scalar(select(func.count(ContactAttempt.id))) == 1


def test_own_clinic_patients_are_unaffected_and_scope_0_is_as_before(world, session, as_role):
    own = implanted_days_ago(session, world, 20)
    scope(session, 1)
    nurse = as_role("nurse")
    assert nurse.post(f"/patients/{own.id}/contacts", {"method": "phone", "outcome": "reached"}).status_code == 302
    own.location_id = world.sites["Buckhead Clinic"].id
    session.commit()
    scope(session, 0)
    assert nurse.post(f"/patients/{own.id}/contacts", {"method": "sms", "outcome": "reached"}).status_code == 302


def test_a_new_patient_for_another_clinic_is_refused_at_scope_1(world, session, as_role):
    scope(session, 1)
    data = form_of(
        patient_data(world, mrn="ELSE-1", location_id=world.sites["Buckhead Clinic"].id), referred_on=TODAY.isoformat()
    )
    assert as_role("nurse").post("/patients/new", data).status_code == 403
    assert session.scalar(select(func.count(Patient.id))) == 0


def test_with_own_clinic_only_pages_and_lists_show_only_the_users_clinic(world, session, as_role):
    mine = make_patient(session, world, last_name="Homefield")
    theirs = make_patient(session, world, last_name="Farfield", location_id=world.sites["Buckhead Clinic"].id)
    scope(session, 2)
    nurse, physician = as_role("nurse"), as_role("physician")
    for rule, method in RULES:
        if method == "GET" and rule.count("<int:") == 1:
            assert nurse.get(rule.replace("<int:patient_id>", str(theirs.id))).status_code == 403, rule
    listed = nurse.get(f"/patients?location={world.sites['Buckhead Clinic'].id}&status=").get_data(as_text=True)
    assert "Homefield" in listed and "Farfield" not in listed
    assert nurse.get(f"/patients/{mine.id}").status_code == 200
    assert "Farfield" in physician.get("/patients?status=").get_data(as_text=True)
    assert physician.get(f"/patients/{theirs.id}").status_code == 200
