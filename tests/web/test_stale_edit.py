"""Two tabs editing one patient: the stale save is refused, the current values shown, nothing overwritten."""

from sqlalchemy import select

from tests.support.factories import TODAY, make_patient
from tests.web.test_patients import form_of
from tracker.models import Patient, StageEvent


def edit_form(patient, **changes):
    data = {
        name: getattr(patient, name)
        for name in (
            "mrn",
            "first_name",
            "last_name",
            "date_of_birth",
            "sex",
            "diagnosis",
            "spasticity_origin",
            "location_id",
            "nurse_id",
            "withdrawal_risk",
            "withdrawal_risk_reason",
            "phone",
        )
    }
    data.update(changes)
    return form_of(data, version=patient.version)


def test_second_tab_save_is_refused_and_shows_the_current_values(as_role, world, session):
    patient = make_patient(session, world, phone="555-0100")
    tab_one, tab_two = as_role("nurse"), as_role("physician")
    opened_one, opened_two = edit_form(patient, phone="555-1111"), edit_form(patient, phone="555-2222")

    assert tab_one.post(f"/patients/{patient.id}/edit", opened_one).status_code == 302
    response = tab_two.post(f"/patients/{patient.id}/edit", opened_two)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else saved this patient" in page
    assert 'value="555-1111"' in page, "the form shows the saved values"
    assert "555-2222" in page, "the user's own entry is listed so it is not lost"
    session.expire_all()
    assert session.get(Patient, patient.id).phone == "555-1111"


def test_stale_stage_move_is_refused(as_role, world, session):
    patient = make_patient(session, world)
    nurse = as_role("nurse")
    stale_version = patient.version
    nurse.post(f"/patients/{patient.id}/edit", edit_form(patient, phone="1"))
    response = nurse.post(
        f"/patients/{patient.id}/move", {"move": "trial", "effective_date": TODAY.isoformat(), "version": stale_version}
    )
    assert response.status_code == 422
    assert "Someone else changed this patient" in response.get_data(as_text=True)
    assert (
        session.scalars(select(StageEvent).where(StageEvent.patient_id == patient.id)).all()[-1].to_stage
        == "evaluation"
    )


def test_editing_keeps_the_audit_before_and_after(as_role, world, session):
    from tracker.models import AuditEvent

    patient = make_patient(session, world, phone="555-0100")
    as_role("nurse").post(f"/patients/{patient.id}/edit", edit_form(patient, phone="555-0199"))
    row = session.scalars(select(AuditEvent).where(AuditEvent.action == "update", AuditEvent.entity == "patient")).one()
    assert (row.before, row.after) == ({"phone": "555-0100"}, {"phone": "555-0199"})
