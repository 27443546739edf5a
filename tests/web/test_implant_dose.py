"""The implant starting dose at the stage form: above the trial's guide (or, for a replacement pump, above the old
pump's dose by more than the titration limit) a physician signs off; a nurse can send it to one."""

import html
from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from sqlalchemy import func, select

from tests.support.factories import CLINIC_ZONE, TODAY, bolus_data, implant_details, make_patient, move, to_adjustment
from tracker.formats import fmt_date
from tracker.models import AuditEvent, DoseChange, Patient, PhysicianRequest, Pump, RefillVisit, StageEvent
from tracker.models.requests import IMPLANT_SIGN_OFF
from tracker.services import DomainError, StaleEdit, escalation, trial_boluses
from tracker.services.catalogue import settings_version
from tracker.services.doses import change_dose
from tracker.services.pumps import check_implant_start
from tracker.services.refills import Programme, current_pump
from tracker.services.settings import all_settings


@pytest.fixture(autouse=True)
def now(app):
    """The clinic's clock, pinned to 11:00 on the factories' TODAY (pages and services read it)."""
    pinned = datetime.combine(TODAY, time(11), CLINIC_ZONE)
    with time_machine.travel(pinned, tick=False):
        yield pinned


GUIDE_TEXT = (
    "100 mcg/day: twice the effective screening dose, the 50 mcg trial bolus of "
    f"{fmt_date(TODAY - timedelta(days=3))} (effect 6 h)"
)


def in_trial(session, world, hours: str = "6") -> Patient:
    """In the trial since 4 days ago; a positive 50 mcg bolus 3 days ago with `hours` of effect."""
    patient = make_patient(session, world, referred_days_ago=30)
    move(session, world, patient, "trial", days_ago=4)
    trial_boluses.record_bolus(
        session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=3), hours_of_effect=Decimal(hours)), TODAY
    )
    session.refresh(patient)
    return patient


def implant_form(session, world, patient, dose: str, **extra) -> dict:
    session.expire_all()
    d = implant_details(session, serial="NGP777")
    return {
        "move": "implantation",
        "effective_date": TODAY.isoformat(),
        "reason": "",
        "version": session.get(Patient, patient.id).version,
        "surgery_centre_id": world.centre.id,
        "surgeon": "Dr Shaw",
        "model_id": d.model_id,
        "serial": "NGP777",
        "catheter_tip_level": "T10",
        "fill_volume_ml": "20",
        "concentration_mcg_per_ml": "500",
        "daily_dose_mcg": dose,
        **extra,
    }


def counts(session, patient) -> tuple[int, int, int]:
    """Pumps, stage events and audit rows of the patient."""
    session.expire_all()
    return (
        session.scalar(select(func.count(Pump.id)).where(Pump.patient_id == patient.id)),
        session.scalar(select(func.count(StageEvent.id)).where(StageEvent.patient_id == patient.id)),
        session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.patient_id == patient.id)),
    )


def starting_dose(session, patient) -> DoseChange:
    pump = current_pump(session, patient.id)
    return session.scalars(select(DoseChange).where(DoseChange.pump_id == pump.id).order_by(DoseChange.id)).first()


def test_the_form_shows_the_trials_guide_before_typing(as_role, world, session):
    patient = in_trial(session, world)
    page = html.unescape(as_role("nurse").get(f"/patients/{patient.id}/move?to=implantation").get_data(as_text=True))
    assert "Starting dose without a physician's sign-off: up to</b> " + GUIDE_TEXT in page


def test_a_nurses_1000_after_a_50_mcg_trial_is_refused_on_the_field_and_nothing_is_saved(as_role, world, session):
    patient = in_trial(session, world)
    before = counts(session, patient)
    response = as_role("nurse").post(f"/patients/{patient.id}/move", implant_form(session, world, patient, "1000"))
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    field = page.split('id="daily_dose_mcg"')[1].split("</div>")[0]  # the message sits beside the dose field
    assert f"1000 mcg/day is above the guide for the starting dose, {GUIDE_TEXT}" in field
    assert "A physician must sign off" in field
    assert 'value="1000' in page and 'value="NGP777"' in page and "Dr Shaw" in page, "what was typed is kept"
    assert "Send for sign-off" in page
    assert counts(session, patient) == before, "no pump, no stage event, no audit row"
    assert session.get(Patient, patient.id).stage == "trial"


def test_a_physicians_1000_is_saved_signed_off_and_a_nurses_100_needs_no_one(as_role, world, session):
    patient = in_trial(session, world)
    response = as_role("physician").post(f"/patients/{patient.id}/move", implant_form(session, world, patient, "1000"))
    assert response.status_code == 302, response.get_data(as_text=True)
    start = starting_dose(session, patient)
    assert start.daily_dose_mcg == Decimal(1000) and start.signed_off_by_id == world.users["physician"].id
    audit = session.scalars(select(AuditEvent).where(AuditEvent.entity == "pump")).one()
    assert audit.after["signed_off_by_id"] == world.users["physician"].id

    other = in_trial(session, world)
    response = as_role("nurse").post(f"/patients/{other.id}/move", implant_form(session, world, other, "100"))
    assert response.status_code == 302
    assert starting_dose(session, other).signed_off_by_id is None


def test_a_10_hour_effect_halves_the_guide(as_role, world, session):
    # 50 mcg with 10 h of effect (over 8 h): the start is 50 mcg/day once; a nurse's 100 needs a physician.
    patient = in_trial(session, world, hours="10")
    nurse = as_role("nurse")
    page = nurse.get(f"/patients/{patient.id}/move?to=implantation").get_data(as_text=True)
    assert "up to</b> 50 mcg/day: once the effective screening dose" in page
    response = nurse.post(f"/patients/{patient.id}/move", implant_form(session, world, patient, "100"))
    assert response.status_code == 422 and "100 mcg/day is above the guide" in response.get_data(as_text=True)
    assert nurse.post(f"/patients/{patient.id}/move", implant_form(session, world, patient, "50")).status_code == 302


def test_a_replacement_300_to_900_needs_a_physician_and_330_does_not(as_role, world, session):
    # Old pump 300 mcg/day, spinal origin, adult: +30% -> 390 mcg/day without sign-off.
    patient = to_adjustment(session, world, make_patient(session, world, referred_days_ago=40))
    nurse = as_role("nurse")
    page = html.unescape(nurse.get(f"/patients/{patient.id}/move?to=implantation").get_data(as_text=True))
    assert "up to</b> 390 mcg/day: the old pump's 300 mcg/day" in page
    before = counts(session, patient)
    response = nurse.post(f"/patients/{patient.id}/move", implant_form(session, world, patient, "900"))
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "900 mcg/day is above the guide" in text
    assert "30% titration limit for spinal spasticity" in text
    assert counts(session, patient) == before
    assert current_pump(session, patient.id).serial != "NGP777", "the old pump is still in use"

    assert (
        as_role("physician")
        .post(f"/patients/{patient.id}/move", implant_form(session, world, patient, "900"))
        .status_code
        == 302
    )
    start = starting_dose(session, patient)
    assert start.daily_dose_mcg == Decimal(900) and start.signed_off_by_id == world.users["physician"].id

    other = to_adjustment(session, world, make_patient(session, world, referred_days_ago=40))
    assert nurse.post(f"/patients/{other.id}/move", implant_form(session, world, other, "330")).status_code == 302
    start = starting_dose(session, other)
    assert start.daily_dose_mcg == Decimal(330) and start.signed_off_by_id is None


def test_a_nurse_sends_the_implantation_for_sign_off_and_the_physicians_approval_records_it(as_role, world, session):
    patient = in_trial(session, world)
    nurse, physician = as_role("nurse"), as_role("physician")
    before = counts(session, patient)
    sent = nurse.post(
        f"/patients/{patient.id}/move",
        implant_form(session, world, patient, "1000", action="sign_off", **{"sign_off-note": "Very strong tone"}),
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)
    assert counts(session, patient)[:2] == before[:2], "no pump and no stage change before the sign-off"
    request = session.scalars(select(PhysicianRequest)).one()
    assert (request.kind, request.note, request.pump_id) == (IMPLANT_SIGN_OFF, "Very strong tone", None)
    assert request.payload["daily_dose_mcg"] == "1000" and request.payload["serial"] == "NGP777"
    assert "starting dose <b>1000 mcg/day</b>" in physician.get("/queue").get_data(as_text=True)
    page = nurse.get(f"/patients/{patient.id}/move?to=implantation").get_data(as_text=True)
    assert "An implantation is waiting for a physician's sign-off" in page

    approve = {"version": request.version, "note": "", "approve": "y"}
    assert physician.post(f"/requests/{request.id}/answer", approve).status_code == 302
    session.expire_all()
    start = starting_dose(session, patient)
    assert start.daily_dose_mcg == Decimal(1000) and start.signed_off_by_id == world.users["physician"].id
    assert session.get(Patient, patient.id).stage == "implantation"
    request = session.get(PhysicianRequest, request.id)
    assert request.status == "approved" and "starting dose 1000 mcg/day, signed off" in request.outcome


def test_only_an_entry_a_sign_off_alone_would_let_through_is_sent(world, session, now):
    patient = in_trial(session, world)
    proposal = escalation.ImplantProposal(
        patient.version, TODAY, "", world.centre.id, "Dr Shaw", implant_details(session, dose_mcg="100")
    )
    with pytest.raises(DomainError, match="within its guide"):  # 100 is the guide: the nurse records it
        escalation.ask_implant_sign_off(session, world.actor("nurse"), patient.id, proposal, "", TODAY, now)
    no_surgeon = escalation.ImplantProposal(
        patient.version, TODAY, "", world.centre.id, " ", implant_details(session, dose_mcg="1000")
    )
    with pytest.raises(DomainError, match="Name the surgeon"):
        escalation.ask_implant_sign_off(session, world.actor("nurse"), patient.id, no_surgeon, "", TODAY, now)
    assert session.scalar(select(func.count(PhysicianRequest.id))) == 0
    assert session.scalar(select(func.count(Pump.id))) == 0


def test_an_approval_after_the_patient_changed_is_stale_and_saves_nothing(world, session, now):
    patient = in_trial(session, world)
    proposal = escalation.ImplantProposal(
        patient.version, TODAY, "", world.centre.id, "Dr Shaw", implant_details(session, dose_mcg="1000")
    )
    request = escalation.ask_implant_sign_off(session, world.actor("nurse"), patient.id, proposal, "", TODAY, now)
    move(session, world, patient, "evaluation")  # back to evaluation meanwhile
    with pytest.raises(StaleEdit, match="changed after this request was sent"):
        escalation.answer(session, world.actor("physician"), request.id, request.version, True, "", now)
    session.rollback()
    assert session.get(PhysicianRequest, request.id).status == "open"
    assert session.scalar(select(func.count(Pump.id))) == 0


def test_no_positive_trial_and_no_pump_is_a_warning_not_a_block(as_role, world, session):
    patient = make_patient(session, world, referred_days_ago=30)
    move(session, world, patient, "trial", days_ago=4)
    physician = as_role("physician")
    page = physician.get(f"/patients/{patient.id}/move?to=implantation").get_data(as_text=True)
    assert "Starting dose:</b> no guide: no positive trial bolus" in page
    response = physician.post(
        f"/patients/{patient.id}/move",
        implant_form(session, world, patient, "1000", override_reason="Goals met clinically"),
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    fill = session.scalars(select(RefillVisit).where(RefillVisit.pump_id == current_pump(session, patient.id).id)).one()
    assert [w["code"] for w in fill.warnings] == ["no_start_guide"]
    assert starting_dose(session, patient).signed_off_by_id is None  # nothing to sign off against


def test_the_factor_and_the_hours_are_settings_on_the_admin_page(as_role, world, session):
    admin = as_role("admin")
    page = html.unescape(admin.get("/admin/settings").get_data(as_text=True))
    assert "Implant starting dose guide: times the effective screening dose, per day" in page
    current = all_settings(session)
    form = {k: str(v) for k, v in (current | {"version": settings_version(current)}).items()}
    # Three times, once only after 12 h: the 50 mcg bolus with 10 h of effect guides 3 x 50 = 150 mcg/day.
    response = admin.post(
        "/admin/settings", form | {"implant_start_factor": "3", "implant_start_once_after_hours": "12"}
    )
    assert response.status_code == 302
    patient = in_trial(session, world, hours="10")
    page = html.unescape(as_role("nurse").get(f"/patients/{patient.id}/move?to=implantation").get_data(as_text=True))
    assert "up to</b> 150 mcg/day: 3 times the effective screening dose" in page


def test_a_replacement_after_a_cut_is_measured_from_the_cut(world, session, now):
    # Old pump 300 mcg/day, cut to 150 at 23:00 yesterday (within the 24 h before the implant day): as at a dose
    # change, the lowest dose in force counts. 150 x 1.3 = 195 mcg/day, so restarting at 300 needs a physician.
    patient = to_adjustment(session, world, make_patient(session, world, referred_days_ago=40))
    change_dose(
        session,
        world.actor("nurse"),
        current_pump(session, patient.id).id,
        now - timedelta(hours=12),
        Programme(Decimal(150)),
        "drowsy",
        now,
        acknowledged=True,
    )
    session.refresh(patient)
    check = check_implant_start(session, patient, TODAY, Programme(Decimal(300)))
    assert check.guide.ceiling_mcg == Decimal(195) and check.sign_off
    assert not check_implant_start(session, patient, TODAY, Programme(Decimal(195))).sign_off
