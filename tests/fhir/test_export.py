"""The patient page's FHIR download (roles and audit as every export), the CLI's bundle and NDJSON files, and the
reader's fixed number of statements however long a patient's history grows."""

from __future__ import annotations

import json

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.observation import Observation
from fhir.resources.R4B.patient import Patient
from sqlalchemy import select

from tests.fhir.history import rich_patient
from tests.support.factories import make_patient
from tests.web.test_site_scope import scope
from tracker.extensions import db
from tracker.fhir.bundle import RESOURCE_TYPES
from tracker.models import AuditEvent
from tracker.services.fhir_export import everything
from tracker.statements import statements_run
from tracker.web.fhir import FHIR_JSON


def last_audit(session) -> AuditEvent:
    session.expire_all()
    return session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).first()


def test_the_patient_page_offers_the_fhir_download(as_role, world, session):
    patient = make_patient(session, world)
    page = as_role("coordinator").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f"/patients/{patient.id}/fhir.json" in page


def test_clinical_roles_download_the_bundle_with_names_and_it_is_audited(as_role, world, session):
    patient, _ = rich_patient(session, world, refills=1, last_name="Quimby")
    for role in ("nurse", "coordinator", "physician"):
        response = as_role(role).get(f"/patients/{patient.id}/fhir.json")
        assert response.status_code == 200 and response.mimetype == FHIR_JSON
        assert "attachment" in response.headers["Content-Disposition"]
        parsed = Bundle.model_validate(json.loads(response.get_data(as_text=True)))
        assert parsed.type == "collection" and parsed.entry[0].resource.name[0].family == "Quimby"
        row = last_audit(session)
        assert (row.action, row.entity, row.patient_id, row.user_id) == (
            "export",
            "fhir_bundle",
            patient.id,
            world.users[role].id,
        )
        assert row.after["names"] is True and row.after["rows"] == len(parsed.entry)


def test_an_admin_downloads_mrns_only_as_in_every_export(as_role, world, session):
    patient, _ = rich_patient(session, world, refills=0, last_name="Quimby")
    text = as_role("admin").get(f"/patients/{patient.id}/fhir.json").get_data(as_text=True)
    assert "Quimby" not in text and patient.mrn in text and str(patient.date_of_birth) not in text
    assert last_audit(session).after["names"] is False


def test_another_clinics_patient_is_refused_when_staff_see_only_their_own(as_role, world, session):
    other = make_patient(session, world, location_id=world.sites["Snellville Clinic"].id)
    scope(session, 2)
    assert as_role("nurse").get(f"/patients/{other.id}/fhir.json").status_code == 403
    assert as_role("physician").get(f"/patients/{other.id}/fhir.json").status_code == 200


def test_an_unknown_patient_is_not_found(as_role, world):
    assert as_role("nurse").get("/patients/999999/fhir.json").status_code == 404


def test_the_cli_prints_one_patients_bundle(app, world, session):
    patient, pump = rich_patient(session, world, refills=1)
    result = app.test_cli_runner().invoke(args=["fhir-export", "--mrn", f" {patient.mrn.lower()} "])
    assert result.exit_code == 0, result.output
    parsed = Bundle.model_validate(json.loads(result.stdout))
    assert {e.resource.get_resource_type() for e in parsed.entry} == set(RESOURCE_TYPES)
    assert last_audit(session).entity == "fhir_bundle" and last_audit(session).client_address == "cli"


def test_the_cli_writes_one_ndjson_file_per_type_for_the_whole_programme(app, world, session, tmp_path):
    first, _ = rich_patient(session, world, refills=1)
    second = make_patient(session, world)
    result = app.test_cli_runner().invoke(args=["fhir-export", "--all", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{t}.ndjson" for t in RESOURCE_TYPES)
    patients = [Patient.model_validate_json(line) for line in (tmp_path / "Patient.ndjson").read_text().splitlines()]
    assert [p.identifier[0].value for p in patients] == [first.mrn, second.mrn]
    observations = (tmp_path / "Observation.ndjson").read_text().splitlines()
    assert observations and all(Observation.model_validate_json(line).status == "final" for line in observations)
    assert last_audit(session).entity == "fhir_bulk"


def test_the_cli_refuses_without_a_choice_or_an_unknown_mrn(app, world):
    runner = app.test_cli_runner()
    assert runner.invoke(args=["fhir-export"]).exit_code == 2
    assert runner.invoke(args=["fhir-export", "--all"]).exit_code == 2
    unknown = runner.invoke(args=["fhir-export", "--mrn", "NOPE"])
    assert unknown.exit_code == 1 and "No patient with MRN NOPE" in unknown.output


def _statements(session, patient_id: int) -> int:
    with statements_run(db.engine) as seen:
        assert everything(session, patient_id, "urn:x") is not None
    return len(seen)


def test_everything_reads_in_the_same_statements_however_long_the_history(session, world):
    short, _ = rich_patient(session, world, refills=1)
    long, _ = rich_patient(session, world, refills=6)
    session.expire_all()
    assert _statements(session, short.id) == _statements(session, long.id) == 8
