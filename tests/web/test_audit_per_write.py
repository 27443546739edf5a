"""Every write path leaves exactly the audit rows it documents, with the right before/after for a changed field.

Each test notes the last audit id, performs one write through the service the route calls, and compares the
new rows as a multiset of (action, entity, entity id). Extra rows are named where a write touches two entities:
a stage move writes a stage_event create plus a patient update, a void a stage_event void plus a patient update,
a rebook an appointment update (the old booking closed) plus an appointment create (the new one)."""

import inspect
import re
from collections import Counter
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import select

from tests.support.factories import (
    CLINIC_ZONE,
    TODAY,
    bolus_data,
    implant_details,
    implanted_days_ago,
    make_patient,
    make_user,
    move,
    patient_data,
)
from tracker.models import AuditEvent, DrugConcentration, PumpModel, StageEvent, User, UserSession
from tracker.services import (
    accounts,
    advisories,
    bookings,
    calendar,
    catalogue,
    corrections,
    dose_corrections,
    doses,
    escalation,
    locations,
    pump_corrections,
    pump_events,
    pumps,
    refill_visits,
    refills,
    sessions,
    trial_boluses,
)
from tracker.services import patients as service
from tracker.services.doses import change_dose
from tracker.services.pumps import implant_pump
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import Programme, current_pump, last_fill

NOW = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)


def mark(session) -> int:
    session.expire_all()
    return session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0


def new_rows(session, since: int) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.id > since).order_by(AuditEvent.id)))


def assert_rows(rows, *expected):
    """The new rows are exactly the expected (action, entity, entity_id) triples, in any order."""
    assert Counter((r.action, r.entity, r.entity_id) for r in rows) == Counter(expected), [
        (r.action, r.entity, r.entity_id) for r in rows
    ]


def only(rows, action, entity) -> AuditEvent:
    [row] = [r for r in rows if (r.action, r.entity) == (action, entity)]
    return row


# Patients and the journey


def test_create_patient(world, session):
    since = mark(session)
    patient = service.create_patient(
        session, world.actor(), patient_data(world, mrn="AUD1"), TODAY - timedelta(days=3), TODAY
    )
    rows = new_rows(session, since)
    event_id = session.scalar(select(StageEvent.id).where(StageEvent.patient_id == patient.id))
    assert_rows(rows, ("create", "patient", patient.id), ("create", "stage_event", event_id))
    created = only(rows, "create", "patient")
    assert created.before is None and created.after["mrn"] == "AUD1" and created.after["stage"] == "evaluation"
    assert created.user_id == world.users["nurse"].id and created.patient_id == patient.id


def test_edit_patient(world, session):
    patient = make_patient(session, world, first_name="Ada")
    since = mark(session)
    data = patient_data(world, mrn=patient.mrn, first_name="Augusta", last_name=patient.last_name)
    service.update_patient(session, world.actor(), patient.id, patient.version, data, TODAY)
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "patient", patient.id))
    assert rows[0].before == {"first_name": "Ada"} and rows[0].after == {"first_name": "Augusta"}


def test_move_stage(world, session):
    patient = make_patient(session, world)
    since = mark(session)
    event = move(session, world, patient, "trial", days_ago=0)
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "stage_event", event.id), ("update", "patient", patient.id))
    update = only(rows, "update", "patient")
    assert update.before["stage"] == "evaluation" and update.after["stage"] == "trial"
    assert update.after["version"] == update.before["version"] + 1
    assert only(rows, "create", "stage_event").after["to_stage"] == "trial"


def test_void_latest_stage_change(world, session):
    patient = make_patient(session, world)
    event = move(session, world, patient, "trial", days_ago=0)
    session.refresh(patient)
    since = mark(session)
    service.void_last_event(
        session, world.actor(), patient.id, patient.version, event.id, "wrong patient", datetime.now(UTC)
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("void", "stage_event", event.id), ("update", "patient", patient.id))
    assert only(rows, "void", "stage_event").after == {"void_reason": "wrong patient"}
    update = only(rows, "update", "patient")
    assert update.before["stage"] == "trial" and update.after["stage"] == "evaluation"


def test_record_bolus(world, session):
    patient = make_patient(session, world)
    move(session, world, patient, "trial", days_ago=1)
    since = mark(session)
    bolus = trial_boluses.record_bolus(
        session, world.actor(), patient.id, bolus_data(TODAY, dose_mcg=75), TODAY, acknowledged=["trial_sequence"]
    )  # a first bolus above 50 mcg
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "trial_bolus", bolus.id))
    assert rows[0].before is None and rows[0].after["dose_mcg"] == 75 and rows[0].after["outcome"] == "positive"
    assert [w["code"] for w in rows[0].after["warnings"]] == ["trial_sequence"]


def test_implant_via_move(world, session):
    patient = make_patient(session, world, referred_days_ago=30)
    move(session, world, patient, "trial", days_ago=20)
    trial_boluses.record_bolus(session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=19)), TODAY)
    since = mark(session)
    # 300 mcg/day is above the 50 mcg trial's guide (100): the physician entering it signs off, on the record.
    event = move(
        session,
        world,
        patient,
        "implantation",
        days_ago=10,
        surgery_centre_id=world.centre.id,
        surgeon="Dr Shaw",
        implant=implant_details(session, serial="NGP-AUDIT"),
        role="physician",
    )
    rows = new_rows(session, since)
    pump = current_pump(session, patient.id)
    assert_rows(
        rows, ("create", "stage_event", event.id), ("update", "patient", patient.id), ("create", "pump", pump.id)
    )
    created = only(rows, "create", "pump")
    assert created.before is None and created.after["serial"] == "NGP-AUDIT"
    assert Decimal(created.after["daily_dose_mcg"]) == 300 and created.patient_id == patient.id
    assert created.after["signed_off_by_id"] == world.users["physician"].id
    assert created.after["start_guide"].startswith("100 mcg/day: twice the effective screening dose")
    assert only(rows, "update", "patient").after["stage"] == "implantation"


# Refills, doses and bookings


def test_record_refill(world, session):
    patient = implanted_days_ago(session, world, 20)
    pump = current_pump(session, patient.id)
    first_fill = last_fill(session, pump.id)
    since = mark(session)
    now = datetime.now(CLINIC_ZONE)
    visit = record_refill(
        session,
        world.actor(),
        pump.id,
        RefillEntry(
            visit_at=now - timedelta(minutes=5),
            expected_residual_ml=Decimal(3),
            actual_residual_ml=Decimal(3),
            concentration_mcg_per_ml=500,
            volume_added_ml=Decimal(17),
            resulting_volume_ml=Decimal(20),
        ),
        True,
        now,
        expected_last_fill_id=first_fill.id,
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "refill_visit", visit.id))
    assert rows[0].after["resulting_volume_ml"] == "20" and rows[0].after["actual_residual_ml"] == "3"


def test_dose_change(world, session):
    patient = implanted_days_ago(session, world, 20)
    pump = current_pump(session, patient.id)
    since = mark(session)
    now = datetime.now(CLINIC_ZONE)
    change = change_dose(
        session, world.actor(), pump.id, now - timedelta(minutes=1), Programme(Decimal(330)), "more tone", now
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "dose_change", change.id))
    assert set(rows[0].before) == {"daily_dose_mcg"} and Decimal(rows[0].before["daily_dose_mcg"]) == 300
    assert Decimal(rows[0].after["daily_dose_mcg"]) == Decimal(330) and rows[0].after["reason"] == "more tone"


# Corrections (issue 17, item 8): the original voided, its correction created; implant details updated in place.


def _refill_entry(now, ml: str) -> RefillEntry:
    return RefillEntry(
        visit_at=now - timedelta(minutes=5),
        expected_residual_ml=Decimal(3),
        actual_residual_ml=Decimal(3),
        concentration_mcg_per_ml=500,
        volume_added_ml=Decimal(ml),
        resulting_volume_ml=Decimal(ml),
    )


def test_correct_and_void_a_refill(world, session):
    patient = implanted_days_ago(session, world, 20)
    pump = current_pump(session, patient.id)
    now = datetime.now(CLINIC_ZONE)
    visit = record_refill(session, world.actor(), pump.id, _refill_entry(now, "20"), True, now)
    since = mark(session)
    new = corrections.correct_refill(session, world.actor(), visit.id, _refill_entry(now, "18"), "typo", True, now)
    rows = new_rows(session, since)
    assert_rows(rows, ("void", "refill_visit", visit.id), ("create", "refill_visit", new.id))
    assert only(rows, "void", "refill_visit").after["void_reason"] == "typo"
    created = only(rows, "create", "refill_visit")
    assert (created.before["resulting_volume_ml"], created.after["resulting_volume_ml"]) == ("20.000", "18")
    since = mark(session)
    corrections.void_refill(session, world.actor(), new.id, "wrong patient", now)
    rows = new_rows(session, since)
    assert_rows(rows, ("void", "refill_visit", new.id))
    assert rows[0].after["void_reason"] == "wrong patient" and "due_date" in rows[0].before


def test_correct_and_void_a_dose_change(world, session):
    patient = implanted_days_ago(session, world, 20)
    pump = current_pump(session, patient.id)
    now = datetime.now(CLINIC_ZONE)
    change = change_dose(
        session, world.actor(), pump.id, now - timedelta(minutes=1), Programme(Decimal(360)), "more tone", now
    )
    since = mark(session)
    new = dose_corrections.correct_dose(
        session, world.actor(), change.id, change.effective_at, Programme(Decimal(330)), "more tone", "typo", now
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("void", "dose_change", change.id), ("create", "dose_change", new.id))
    assert Decimal(only(rows, "create", "dose_change").before["daily_dose_mcg"]) == 360
    since = mark(session)
    dose_corrections.void_dose(session, world.actor(), new.id, "never programmed", now)
    assert_rows(new_rows(session, since), ("void", "dose_change", new.id))


def test_correct_and_void_a_trial_bolus(world, session):
    patient = make_patient(session, world)
    move(session, world, patient, "trial", days_ago=1)
    bolus = trial_boluses.record_bolus(session, world.actor(), patient.id, bolus_data(TODAY), TODAY)
    since = mark(session)
    new = corrections.correct_bolus(
        session, world.actor(), bolus.id, bolus_data(TODAY, outcome="negative"), "typo", TODAY, datetime.now(UTC)
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("void", "trial_bolus", bolus.id), ("create", "trial_bolus", new.id))
    created = only(rows, "create", "trial_bolus")
    assert (created.before["outcome"], created.after["outcome"]) == ("positive", "negative")
    since = mark(session)
    corrections.void_bolus(session, world.actor(), new.id, "wrong patient", datetime.now(UTC))
    assert_rows(new_rows(session, since), ("void", "trial_bolus", new.id))


def test_correct_implant_details_and_the_eri(world, session):
    patient = implanted_days_ago(session, world, 20)
    pump = current_pump(session, patient.id)
    implantation = pump_corrections.implantation_of(session, pump)
    since = mark(session)
    pump_corrections.correct_implant(
        session,
        world.actor(),
        pump.id,
        pump.version,
        0,
        pump_corrections.ImplantValues("NGP-FIXED", "T9", Decimal(2), "Dr Shah", pump.surgery_centre_id),
        "op note",
        datetime.now(UTC),
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "pump", pump.id), ("update", "implantation", implantation.id))
    assert only(rows, "update", "pump").after == {
        "serial": "NGP-FIXED",
        "catheter_tip_level": "T9",
        "correction_reason": "op note",
    }
    assert only(rows, "update", "implantation").before == {"surgeon": "Dr Shaw"}
    pumps.record_eri(session, world.actor(), pump.id, TODAY, pump.version, datetime.now(UTC))
    since = mark(session)
    pump_corrections.correct_eri(
        session,
        world.actor(),
        pump.id,
        pump.version,
        pump_corrections.last_correction_id(session, pump.id),
        None,
        "test alarm",
        datetime.now(UTC),
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "pump", pump.id))
    assert rows[0].before["eri_on"] == TODAY.isoformat() and rows[0].after["eri_on"] is None


def test_device_event_and_its_check_done(world, session):
    patient = implanted_days_ago(session, world, 20)
    since = mark(session)
    now = datetime.now(UTC)
    event = pump_events.record_event(
        session,
        world.actor(),
        patient.id,
        None,
        pump_events.EventEntry("mri", now - timedelta(hours=1), "brain MRI"),
        now,
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "pump_event", event.id))
    assert rows[0].before is None and rows[0].after["kind"] == "mri" and rows[0].after["work"] == "post_mri_check"
    since = mark(session)
    pump_events.record_done(
        session, world.actor(), patient.id, event.id, "post_mri_check", "motor running", event.version, now
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "pump_event", event.id))
    assert rows[0].before == {"done_at": None, "done_by_id": None, "done_note": ""}
    assert rows[0].after["done_note"] == "motor running" and rows[0].patient_id == patient.id


def _book(session, world, patient, days_ahead=2, role="coordinator"):
    return bookings.book_refill(
        session,
        world.actor(role),
        patient.id,
        datetime.combine(TODAY + timedelta(days=days_ahead), time(10), CLINIC_ZONE),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        datetime.now(UTC),
    )


def test_book(world, session):
    patient = implanted_days_ago(session, world, 20)
    since = mark(session)
    appointment = _book(session, world, patient)
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "refill_appointment", appointment.id))
    assert rows[0].before is None and rows[0].after["location_id"] == world.clinic.id


def test_rebook(world, session):
    patient = implanted_days_ago(session, world, 20)
    old = _book(session, world, patient)
    since = mark(session)
    new = bookings.rebook(
        session,
        world.actor("coordinator"),
        old.id,
        old.version,
        datetime.combine(TODAY + timedelta(days=1), time(14), CLINIC_ZONE),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        "patient asked",
        datetime.now(UTC),
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "refill_appointment", old.id), ("create", "refill_appointment", new.id))
    closed = only(rows, "update", "refill_appointment")
    assert closed.before["status"] == "booked" and closed.after["status"] == "rebooked"
    assert closed.after["close_reason"] == "patient asked"


def test_cancel(world, session):
    patient = implanted_days_ago(session, world, 20)
    appointment = _book(session, world, patient)
    since = mark(session)
    bookings.cancel(
        session, world.actor("coordinator"), appointment.id, appointment.version, "hospitalised", datetime.now(UTC)
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "refill_appointment", appointment.id))
    assert rows[0].before["status"] == "booked" and rows[0].after["status"] == "cancelled"


def test_log_contact(world, session):
    patient = implanted_days_ago(session, world, 20)
    since = mark(session)
    attempt = bookings.log_contact(
        session, world.actor("coordinator"), patient.id, "phone", "reached", "ok", datetime.now(UTC)
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "contact_attempt", attempt.id))
    assert rows[0].after == {"method": "phone", "outcome": "reached"} and rows[0].patient_id == patient.id


# Administration


def test_settings_change(world, session):
    since = mark(session)
    before = catalogue.all_settings(session)["safety_buffer_days"]
    catalogue.update_settings(session, world.actor("admin"), {"safety_buffer_days": before + 1})
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "settings", None))
    assert rows[0].before == {"safety_buffer_days": before} and rows[0].after == {"safety_buffer_days": before + 1}


def test_pump_model_edit(world, session):
    model = session.scalar(select(PumpModel).where(PumpModel.name == "SynchroMed II 20 mL"))
    since = mark(session)
    catalogue.update_pump_model(session, world.actor("admin"), model.id, model.version, {"battery_life_months": 90})
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "pump_model", model.id))
    assert rows[0].after == {"battery_life_months": 90} and set(rows[0].before) == {"battery_life_months"}
    assert rows[0].before["battery_life_months"] != 90


def test_drug_edit(world, session):
    drug = session.scalar(select(DrugConcentration).where(DrugConcentration.concentration_mcg_per_ml == 500))
    since = mark(session)
    catalogue.update_drug(
        session, world.actor("admin"), drug.id, drug.version, {"stability_days": drug.stability_days + 1}
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "drug_concentration", drug.id))
    assert rows[0].after["stability_days"] == rows[0].before["stability_days"] + 1


def test_create_user(world, session):
    since = mark(session)
    user = accounts.create_user(
        session,
        world.actor("admin"),
        "new.nurse@example.org",
        "New Nurse",
        "nurse",
        "a long enough password 42",
        world.clinic.id,
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "user", user.id))
    assert rows[0].after == {"email": "new.nurse@example.org", "role": "nurse", "location_id": world.clinic.id}
    assert "password" not in str(rows[0].after).lower() and user.password_hash not in str(rows[0].after)


def test_deactivate_user(world, session):
    user = make_user(session, "nurse")
    since = mark(session)
    accounts.set_active(session, world.actor("admin"), user, False, NOW)
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "user", user.id))
    assert rows[0].before == {"active": True} and rows[0].after == {"active": False}


def test_change_password(world, session):
    user = session.get(User, world.users["nurse"].id)
    since = mark(session)
    accounts.change_password(
        session, world.actor("nurse"), user, "correct horse battery staple", "an entirely new passphrase 7", NOW
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "user", user.id))
    assert rows[0].after == {"password": "changed"}  # never the password or its hash
    assert "passphrase" not in str(rows[0].before) + str(rows[0].after)


def test_ending_my_other_sessions(world, session):
    nurse = session.get(User, world.users["nurse"].id)
    here, phone, ward = (sessions.start(session, nurse, NOW) for _ in range(3))
    here_id = session.scalar(select(UserSession.id).where(UserSession.token_hash == sessions.hash_token(here)))
    phone_id = session.scalar(select(UserSession.id).where(UserSession.token_hash == sessions.hash_token(phone)))
    since = mark(session)
    sessions.end_one(session, world.actor("nurse"), phone_id, NOW)
    sessions.end_others(session, world.actor("nurse"), here_id, NOW)
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "user", nurse.id), ("update", "user", nurse.id))
    assert [r.after for r in rows] == [{"sessions": "ended 1 other"}, {"sessions": "ended 1 other"}]
    assert ward not in str([r.after for r in rows])  # no token in the trail


def test_regenerate_calendar_token(world, session):
    user = session.get(User, world.users["coordinator"].id)
    old = user.calendar_token
    since = mark(session)
    token = calendar.regenerate_token(session, world.actor("coordinator"), user)
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "user", user.id))
    assert token != old and rows[0].after == {"calendar_token": "regenerated"}
    assert token not in str(rows[0].after)  # the secret itself is not in the trail


def test_editing_a_location_is_audited(world, session):
    since, before = mark(session), world.clinic.emergency_phone
    locations.update_location(
        session, world.actor("admin"), world.clinic.id, world.clinic.version, {"emergency_phone": "770 555 0199"}
    )
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "location", world.clinic.id))
    assert rows[0].before == {"emergency_phone": before} and rows[0].after == {"emergency_phone": "770 555 0199"}


def test_every_write_path_is_covered_above():
    """The audit rows the services can write, by (action, entity): each is produced by a test in this file."""
    covered = {
        ("create", "patient"),
        ("create", "stage_event"),
        ("update", "patient"),
        ("void", "stage_event"),
        ("create", "trial_bolus"),
        ("create", "pump"),
        ("create", "refill_visit"),
        ("create", "dose_change"),
        ("create", "refill_appointment"),
        ("update", "refill_appointment"),
        ("create", "contact_attempt"),
        ("update", "settings"),
        ("update", "pump_model"),
        ("update", "drug_concentration"),
        ("create", "user"),
        ("update", "user"),
        ("update", "location"),
        # Asked, answered and withdrawn: test_escalation.py checks each row.
        ("create", "physician_request"),
        ("update", "physician_request"),
        # Corrections: the tests above.
        ("void", "refill_visit"),
        ("void", "dose_change"),
        ("void", "trial_bolus"),
        ("update", "implantation"),
        ("create", "pump_event"),
        ("update", "pump_event"),
        # Device advisories entered and closed, follow-ups listed and recorded: test_advisories.py checks each row.
        ("create", "advisory"),
        ("update", "advisory"),
        ("create", "advisory_follow_up"),
        ("update", "advisory_follow_up"),
    }
    written = set()
    for module in (
        service,
        refills,
        pumps,
        doses,
        refill_visits,
        bookings,
        catalogue,
        locations,
        accounts,
        calendar,
        escalation,
        corrections,
        pump_corrections,
        sessions,
        pump_events,
        advisories,
    ):
        written |= set(re.findall(r'record\(\s*session,\s*actor,\s*"(\w+)",\s*"(\w+)"', inspect.getsource(module)))
        # The catalogue's edits audit through apply_changes(session, actor, entity, ...): an update of that entity.
        written |= {
            ("update", entity)
            for entity in re.findall(r'apply_changes\(\s*session,\s*actor,\s*"(\w+)"', inspect.getsource(module))
        }
    # The two left are checked in test_replacement_implant_and_new_drug below.
    assert written - covered == {("update", "pump"), ("create", "drug_concentration")}


def test_replacement_implant_and_new_drug(world, session):
    patient = implanted_days_ago(session, world, 20)
    old_pump = current_pump(session, patient.id)
    since = mark(session)
    drug = catalogue.add_drug(session, world.actor("admin"), {"concentration_mcg_per_ml": 1500})
    rows = new_rows(session, since)
    assert_rows(rows, ("create", "drug_concentration", drug.id))
    assert rows[0].after["concentration_mcg_per_ml"] == 1500
    # A replacement pump explants the old one: called as move_stage calls it at an implantation.
    since = mark(session)
    session.refresh(patient)
    new_pump = implant_pump(session, world.actor(), patient, TODAY, world.centre.id, implant_details(session))
    session.commit()
    rows = new_rows(session, since)
    assert_rows(rows, ("update", "pump", old_pump.id), ("create", "pump", new_pump.id))
    explant = only(rows, "update", "pump")
    assert explant.before == {"explanted_on": None} and explant.after == {"explanted_on": TODAY.isoformat()}
