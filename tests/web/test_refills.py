"""Pumps and refills through the services and pages: stored due dates, warnings, bad input, the safety invariant."""

import random
import re
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError

from config import TestConfig
from tests.support.clock import NOW
from tests.support.factories import CLINIC_ZONE as ZONE
from tests.support.factories import TODAY, implant_details, make_patient, move, to_adjustment
from tracker import create_app
from tracker.clinic_zone import set_clinic_zone
from tracker.clinical import refill as engine
from tracker.extensions import db
from tracker.models import AuditEvent, DoseChange, Patient, Pump, RefillSchedule, RefillVisit, Setting, StageEvent
from tracker.services import DomainError, PermissionDenied
from tracker.services import patients as patient_service
from tracker.services.calendar import calendar_events
from tracker.services.doses import change_dose
from tracker.services.patients import PATIENT_FIELDS
from tracker.services.refill_visits import RefillEntry, preview_refill, record_refill
from tracker.services.refills import (
    Programme,
    current_pump,
    dose_ledger,
    last_fill,
    projection_inputs,
    recompute_schedule,
    schedule_violations,
)
from tracker.services.settings import all_settings


def implanted(session, world, **patient):
    """A patient implanted 10 days ago: SynchroMed II 20 mL, filled to 20 mL at 500 mcg/mL, 300 mcg/day."""
    p = to_adjustment(session, world, make_patient(session, world, referred_days_ago=40, **patient))
    return p, current_pump(session, p.id)


def entry(**changes) -> RefillEntry:
    data = dict(
        visit_at=NOW - timedelta(hours=1),
        expected_residual_ml=Decimal("14"),
        actual_residual_ml=Decimal("14"),
        concentration_mcg_per_ml=500,
        volume_added_ml=Decimal("20"),
        resulting_volume_ml=Decimal("20"),
    )
    data.update(changes)
    return RefillEntry(**data)


def test_implantation_stores_the_worked_example_due_date(world, session):
    _, pump = implanted(session, world)
    schedule = session.get(RefillSchedule, pump.id)
    implanted_on = TODAY - timedelta(days=10)
    # domain.md: 20 mL, 500 mcg/mL, 300 mcg/day, alarm 2 mL -> 0.6 mL/day, alarm day 30, due day 23.
    assert schedule.daily_volume_ml == Decimal("0.6")
    assert schedule.alarm_date == implanted_on + timedelta(days=30)
    assert schedule.due_date == implanted_on + timedelta(days=23)
    assert schedule.binding_rule == "alarm"
    assert "minus the 7-day buffer" in schedule.explanation


def test_a_patient_moved_to_another_clinic_takes_the_refill_to_that_clinics_calendar(world, session):
    """refill_schedule keeps a copy of the patient's clinic (one index range per clinic's calendar); the
    database keeps the copy equal: ON UPDATE CASCADE follows a move, and a wrong value is refused."""
    patient, pump = implanted(session, world)
    home, other = patient.location_id, world.sites["Buckhead Clinic"].id
    assert session.get(RefillSchedule, pump.id).location_id == home != other

    def shown_at(location_id):
        due = session.get(RefillSchedule, pump.id).due_date
        return [e.fact.patient_id for e in calendar_events(session, due, due, TODAY, NOW, [location_id])]

    assert shown_at(home) == [patient.id] and shown_at(other) == []
    # Moved together with a change that rewrites the schedule (the high-risk buffer): both land.
    data = {name: getattr(patient, name) for name in PATIENT_FIELDS} | {
        "location_id": other,
        "withdrawal_risk": True,
        "withdrawal_risk_reason": "C6 SCI",
    }
    patient_service.update_patient(session, world.actor(), patient.id, patient.version, data, TODAY)
    session.expire_all()
    schedule = session.get(RefillSchedule, pump.id)
    assert schedule.location_id == other and "14-day buffer" in schedule.explanation
    assert shown_at(other) == [patient.id] and shown_at(home) == []

    with pytest.raises(IntegrityError):
        session.execute(update(RefillSchedule).where(RefillSchedule.pump_id == pump.id).values(location_id=home))
    session.rollback()
    assert session.get(RefillSchedule, pump.id).location_id == other


def test_high_withdrawal_risk_uses_the_longer_buffer(world, session):
    _, pump = implanted(session, world, withdrawal_risk=True, withdrawal_risk_reason="C6 SCI")
    schedule = session.get(RefillSchedule, pump.id)
    assert schedule.due_date == TODAY - timedelta(days=10) + timedelta(days=30 - 14)
    assert "14-day buffer" in schedule.explanation


def test_refill_preview_shows_new_dates_and_concentration_change_needs_acknowledgement(as_role, world, session):
    patient, pump = implanted(session, world)
    preview = preview_refill(session, pump.id, entry(concentration_mcg_per_ml=1000), datetime.now(ZONE))
    codes = {w.code: w.severity for w in preview.warnings}
    assert codes.get("bridge_bolus") == "high" and preview.needs_acknowledgement
    # 1000 mcg/mL at 300 mcg/day: 0.3 mL/day, 18 mL to the alarm = 60 days, minus 7.
    assert preview.projection.due_date == (NOW - timedelta(hours=1)).date() + timedelta(days=53)
    with pytest.raises(DomainError, match="say whether a bridge bolus was programmed") as unanswered:
        record_refill(session, world.actor(), pump.id, entry(concentration_mcg_per_ml=1000), True, datetime.now(ZONE))
    assert unanswered.value.field == "bridge_bolus_given"
    answered = entry(concentration_mcg_per_ml=1000, bridge_bolus_given=True, bridge_bolus_mcg=Decimal("40"))
    with pytest.raises(DomainError, match="Acknowledge"):
        record_refill(session, world.actor(), pump.id, answered, False, datetime.now(ZONE))
    session.rollback()
    assert session.scalar(select(func.count(RefillVisit.id))) == 1  # only the fill at implant
    visit = record_refill(session, world.actor(), pump.id, answered, True, datetime.now(ZONE))
    assert visit.acknowledged_by_id == world.users["nurse"].id and visit.warnings
    assert session.get(RefillSchedule, pump.id).due_date == preview.projection.due_date


def test_a_refill_keeps_the_due_date_the_worklist_showed_before_it(world, session):
    _, pump = implanted(session, world)
    due_before = session.get(RefillSchedule, pump.id).due_date  # day 23 after the implant
    visit = record_refill(session, world.actor(), pump.id, entry(), False, datetime.now(ZONE))
    assert visit.due_date_in_force == due_before
    assert session.get(RefillSchedule, pump.id).due_date > due_before  # rewritten from the new fill
    implant_fill = session.scalar(select(RefillVisit).where(RefillVisit.pump_id == pump.id, RefillVisit.at_implant))
    assert implant_fill.due_date_in_force is None
    audit = session.scalar(select(AuditEvent).where(AuditEvent.entity == "refill_visit"))
    assert audit.after["due_date_in_force"] == due_before.isoformat()


def test_refill_page_preview_then_save(as_role, world, session):
    patient, pump = implanted(session, world)
    nurse = as_role("nurse")
    form = {
        "visit_at": (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "expected_residual_ml": "14",
        "actual_residual_ml": "10",
        "concentration_mcg_per_ml": "500",
        "volume_added_ml": "20",
        "resulting_volume_ml": "20",
        "action": "preview",
    }
    page = nurse.post(f"/patients/{patient.id}/refill", form).get_data(as_text=True)
    assert "Check before saving" in page and 'data-code="residual_discrepancy"' in page
    assert session.scalar(select(func.count(RefillVisit.id))) == 1, "a preview writes nothing"
    response = nurse.post(f"/patients/{patient.id}/refill", {**form, "action": "save"})
    assert response.status_code == 422 and "Acknowledge" in response.get_data(as_text=True)
    response = nurse.post(f"/patients/{patient.id}/refill", {**form, "action": "save", "acknowledge": "y"})
    assert response.status_code == 302
    assert session.scalar(select(func.count(RefillVisit.id))) == 2
    assert session.scalar(select(func.count(AuditEvent.id)).where(AuditEvent.entity == "refill_visit")) == 1
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Pump &amp; refills" in page and "Why this date:" in page and 'id="reservoir-chart"' in page


REFILL_BAD = [
    ("fill above capacity", {"resulting_volume_ml": "25"}, "never overfill"),
    ("negative residual", {"actual_residual_ml": "-1"}, "Number must be between 0 and 40"),
    ("concentration not in the catalogue", {"concentration_mcg_per_ml": "750"}, "Not a valid choice"),
    ("trial-only concentration", {"concentration_mcg_per_ml": "50"}, "Not a valid choice"),
    (
        "dated before the last fill",
        {"visit_at": (TODAY - timedelta(days=30)).strftime("%Y-%m-%dT08:00")},
        "must be after the last fill",
    ),
    ("in the future", {"visit_at": (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")}, "cannot be in the future"),
    ("impossible date", {"visit_at": "2026-02-31T10:00"}, "Not a valid datetime value"),
    ("residual not a number", {"expected_residual_ml": "lots"}, "Not a valid decimal"),
]


@pytest.mark.parametrize("case, changes, message", REFILL_BAD, ids=[c[0] for c in REFILL_BAD])
def test_refill_bad_input_is_refused_and_nothing_saved(as_role, world, session, case, changes, message):
    patient, pump = implanted(session, world)
    due_before = session.get(RefillSchedule, pump.id).due_date
    form = {
        "visit_at": (NOW - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "expected_residual_ml": "14",
        "actual_residual_ml": "14",
        "concentration_mcg_per_ml": "500",
        "volume_added_ml": "20",
        "resulting_volume_ml": "20",
        "action": "save",
        "acknowledge": "y",
        **changes,
    }
    response = as_role("nurse").post(f"/patients/{patient.id}/refill", form)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    session.expire_all()
    assert session.scalar(select(func.count(RefillVisit.id))) == 1
    assert session.get(RefillSchedule, pump.id).due_date == due_before


def test_a_big_dose_increase_needs_a_physician(world, session):
    _, pump = implanted(session, world)  # spinal origin: 30% per 24 h
    when = datetime.now(ZONE) - timedelta(minutes=5)
    with pytest.raises(PermissionDenied, match="physician must sign off"):
        change_dose(session, world.actor("nurse"), pump.id, when, Programme(Decimal(400)), "tone", datetime.now(ZONE))
    session.rollback()
    change = change_dose(
        session, world.actor("physician"), pump.id, when, Programme(Decimal(400)), "tone", datetime.now(ZONE)
    )
    assert change.signed_off_by_id == world.users["physician"].id
    with pytest.raises(PermissionDenied, match="within 24 h"):
        # 400 -> 440 is 10%, but 300 -> 440 within the same day is 47%.
        change_dose(
            session,
            world.actor("nurse"),
            pump.id,
            when + timedelta(minutes=1),
            Programme(Decimal(440)),
            "tone",
            datetime.now(ZONE),
        )
    session.rollback()
    small = change_dose(
        session,
        world.actor("nurse"),
        pump.id,
        when + timedelta(minutes=1),
        Programme(Decimal(380)),
        "tone",
        datetime.now(ZONE),
    )
    assert small.signed_off_by_id is None


def test_a_dose_change_moves_the_due_date_earlier(world, session):
    _, pump = implanted(session, world)
    before = session.get(RefillSchedule, pump.id).due_date
    change_dose(
        session,
        world.actor("physician"),
        pump.id,
        datetime.now(ZONE) - timedelta(minutes=5),
        Programme(Decimal(600)),
        "tone",
        datetime.now(ZONE),
    )
    session.expire_all()
    assert session.get(RefillSchedule, pump.id).due_date < before


DOSE_BAD = [
    ("dose 0", {"daily_dose_mcg": "0"}, "Number must be between 1 and 3000"),
    ("no dose", {"daily_dose_mcg": ""}, "Enter the daily dose"),
    (
        "14 flex steps",
        {"mode": "flex", "flex_schedule": "\n".join(f"{h:02d}:00 10" for h in range(14))},
        "At most 13 flex steps",
    ),
    (
        "flex steps out of order",
        {"mode": "flex", "flex_schedule": "00:00 10\n12:00 10\n06:00 10"},
        "Flex steps must start later and later",
    ),
    ("flex not covering midnight", {"mode": "flex", "flex_schedule": "06:00 10\n18:00 12"}, "must start at 00:00"),
    ("flex garbage", {"mode": "flex", "flex_schedule": "morning lots"}, "is not HH:MM followed by a number"),
    ("future", {"effective_at": (NOW + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}, "cannot take effect in"),
    ("no reason", {"reason": ""}, "This field is required"),
]


@pytest.mark.parametrize("case, changes, message", DOSE_BAD, ids=[c[0] for c in DOSE_BAD])
def test_dose_bad_input_is_refused(as_role, world, session, case, changes, message):
    patient, pump = implanted(session, world)
    form = {
        "effective_at": (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "mode": "simple",
        "daily_dose_mcg": "310",
        "bolus_dose_mcg": "0",
        "max_boluses_per_day": "0",
        "reason": "tone",
        **changes,
    }
    response = as_role("physician").post(f"/patients/{patient.id}/dose", form)
    assert response.status_code == 422, response.get_data(as_text=True)[-500:]
    assert message in response.get_data(as_text=True)
    assert session.scalar(select(func.count(DoseChange.id))) == 1


def test_flex_schedule_through_the_page(as_role, world, session):
    patient, pump = implanted(session, world)
    form = {
        "effective_at": (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "mode": "flex",
        "flex_schedule": "00:00 12.5\n12:00 12.5",
        "bolus_dose_mcg": "0",
        "max_boluses_per_day": "0",
        "reason": "Flex trial",
    }
    response = as_role("physician").post(f"/patients/{patient.id}/dose", form)
    assert response.status_code == 302, response.get_data(as_text=True)[-800:]
    change = session.scalars(select(DoseChange).order_by(DoseChange.id.desc())).first()
    assert (change.mode, change.daily_dose_mcg) == ("flex", Decimal(300))


def test_explant_removes_the_due_date_only_through_the_recorded_exit_and_void_restores_it(world, session):
    patient, pump = implanted(session, world)
    move(session, world, patient, "exit:explanted", days_ago=0)
    assert session.get(RefillSchedule, pump.id) is None and schedule_violations(session) == []
    session.refresh(patient)
    last = session.scalars(select(StageEvent).order_by(StageEvent.id.desc())).first()
    from tracker.services.patients import void_last_event

    void_last_event(session, world.actor(), patient.id, patient.version, last.id, "Wrong patient", datetime.now(ZONE))
    session.expire_all()
    assert session.get(Pump, pump.id).explanted_on is None
    assert session.get(RefillSchedule, pump.id) is not None


def test_pump_replacement_keeps_exactly_one_due_date(world, session):
    patient, old = implanted(session, world)
    move(
        session,
        world,
        patient,
        "implantation",
        surgery_centre_id=world.centre.id,
        surgeon="Dr Lee",
        implant=implant_details(session, model="Prometra II 40 mL", fill_ml="40"),
    )
    new = current_pump(session, patient.id)
    assert new.id != old.id and session.get(Pump, old.id).explanted_on == TODAY
    assert (
        session.scalar(select(func.count()).select_from(RefillSchedule).where(RefillSchedule.patient_id == patient.id))
        == 1
    )
    assert new.alarm_volume_ml == Decimal(3), "Prometra keys to 3 mL by default"


def test_implantation_refuses_overfill_and_writes_nothing(world, session):
    patient = make_patient(session, world, referred_days_ago=20)
    move(session, world, patient, "trial", days_ago=10)
    from tests.support.factories import bolus_data
    from tracker.services.trial_boluses import record_bolus

    record_bolus(session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=9)), TODAY)
    with pytest.raises(DomainError, match="never overfill"):
        move(
            session,
            world,
            patient,
            "implantation",
            surgery_centre_id=world.centre.id,
            surgeon="Dr Lee",
            implant=implant_details(session, fill_ml="25"),
        )
    session.rollback()
    assert session.scalar(select(func.count(Pump.id))) == 0
    assert session.get(Patient, patient.id).stage == "trial"


@pytest.mark.parametrize("seed", range(4))
def test_every_pump_in_use_has_exactly_one_due_date_after_any_sequence(world, session, seed):
    """The safety invariant under a random but repeatable mix of the operations that touch dates."""
    rng = random.Random(seed)
    patients = [implanted(session, world)[0] for _ in range(3)]
    clock = datetime.combine(TODAY, time(0), ZONE) - timedelta(days=9)
    for _ in range(12):
        patient = rng.choice(patients)
        session.refresh(patient)
        pump = current_pump(session, patient.id)
        clock += timedelta(hours=rng.randint(1, 6))
        if pump is not None:
            clock = max(clock, last_fill(session, pump.id).visit_at + timedelta(minutes=1))
        op = rng.choice(["dose", "refill", "risk", "buffer", "exit", "replace"])
        if pump is None or patient.status != "active":
            op = "buffer"
        if op == "dose":
            change_dose(
                session,
                world.actor("physician"),
                pump.id,
                clock,
                Programme(Decimal(rng.randint(200, 400))),
                "titration",
                datetime.now(ZONE),
            )
        elif op == "refill":
            record_refill(
                session,
                world.actor(),
                pump.id,
                entry(visit_at=clock, actual_residual_ml=Decimal(10), expected_residual_ml=Decimal(10)),
                True,
                datetime.now(ZONE),
            )
        elif op == "risk":
            patient.withdrawal_risk = not patient.withdrawal_risk
            patient.withdrawal_risk_reason = "flag"
            recompute_schedule(session, pump)
            session.commit()
        elif op == "buffer":
            row = session.get(Setting, "safety_buffer_days") or Setting(name="safety_buffer_days", value="7")
            row.value = str(rng.randint(3, 10))
            session.add(row)
            for p in session.scalars(select(Pump).where(Pump.explanted_on.is_(None))):
                recompute_schedule(session, p)
            session.commit()
        elif op == "exit":
            move(session, world, patient, rng.choice(["exit:explanted", "exit:transferred"]))
        else:
            move(
                session,
                world,
                patient,
                "implantation",
                days_ago=4,
                surgery_centre_id=world.centre.id,
                surgeon="Dr Lee",
                implant=implant_details(session),
            )
            move(session, world, patient, "adjustment", days_ago=4)
        assert schedule_violations(session) == [], op


def test_refill_warning_thresholds_are_clinic_settings(world, session):
    """domain.md's 2 mL discrepancy, 1/2 mL pocket-fill and 20-2000 mcg/day range are defaults an admin may change."""
    _, pump = implanted(session, world)
    gap_3_ml = entry(expected_residual_ml=Decimal("11"), actual_residual_ml=Decimal("14"))  # 3 mL more left
    over_3_ml = entry(expected_residual_ml=Decimal("14"), actual_residual_ml=Decimal("11"))  # 3 mL more used
    mismatch_1_5_ml = entry(volume_added_ml=Decimal("20"), resulting_volume_ml=Decimal("18.5"))

    def codes(visit):
        return {w.code: w.severity for w in preview_refill(session, pump.id, visit, datetime.now(ZONE)).warnings}

    assert codes(gap_3_ml).get("residual_discrepancy") == "high"
    assert codes(mismatch_1_5_ml).get("pocket_fill") == "high"  # 20 mL pump: over 1 mL
    assert "dose_range" not in codes(entry())  # 300 mcg/day

    session.add_all(
        [
            Setting(name="residual_discrepancy_ml", value="4"),
            Setting(name="pocket_fill_small_pump_ml", value="2"),
            Setting(name="usual_dose_min_mcg_per_day", value="400"),
        ]
    )
    session.commit()

    assert codes(gap_3_ml).get("residual_discrepancy") == "medium"  # still beyond 14.5% of 9 mL programmed
    # More used than programmed (6 mL programmed, 3 mL over: beyond the accuracy bound) stays high: over-infusion.
    assert codes(over_3_ml).get("residual_discrepancy") == "high"
    assert "pocket_fill" not in codes(mismatch_1_5_ml)
    assert codes(entry()).get("dose_range") == "low"


def test_a_clinic_in_los_angeles_counts_a_late_evening_refill_from_its_own_day(app, world, session):
    """Issue 16: stored dates were always counted in New York, so a clinic configured for Los Angeles had a 22:30
    refill (01:30 the next day in New York) stored with its alarm and due dates a day late. One clinic zone now."""
    _, pump = implanted(session, world)
    los_angeles = create_app(
        TestConfig, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"], CLINIC_TIMEZONE="America/Los_Angeles"
    )
    zone = ZoneInfo("America/Los_Angeles")
    day = datetime.now(zone).date() - timedelta(days=1)
    refilled_at = datetime.combine(day, time(22, 30), zone)
    try:
        with los_angeles.app_context():
            record_refill(db.session, world.actor(), pump.id, entry(visit_at=refilled_at), True, datetime.now(UTC))
            schedule = db.session.get(RefillSchedule, pump.id)
            # 20 mL at 500 mcg/mL, 300 mcg/day: the alarm 30 days after the fill, due 7 days before the alarm.
            assert (schedule.alarm_date, schedule.due_date) == (day + timedelta(days=30), day + timedelta(days=23))
            stored = db.session.get(Pump, pump.id)
            inputs = projection_inputs(
                db.session,
                stored,
                last_fill(db.session, pump.id),
                dose_ledger(db.session, pump.id),
                all_settings(db.session),
                previous=None,
            )
            assert inputs.tz == "America/Los_Angeles"
            new_york = engine.project_refill(replace(inputs, tz="America/New_York"))  # what was stored before
            assert (new_york.alarm_date, new_york.due_date) == (day + timedelta(days=31), day + timedelta(days=24))
    finally:
        with los_angeles.app_context():
            db.session.remove()
            db.engine.dispose()
        set_clinic_zone(app.config["CLINIC_TIMEZONE"])  # the zone is the process's: back to the suite's


def test_the_pump_panel_shows_the_daily_volume_of_the_dose_now_and_volumes_to_one_decimal(as_role, world, session):
    patient = to_adjustment(session, world, make_patient(session, world))  # 300 mcg/day, 500 mcg/mL, 20 mL
    pump = current_pump(session, patient.id)
    change_dose(
        session,
        world.actor("physician"),
        pump.id,
        datetime.now(UTC) - timedelta(minutes=1),
        Programme(Decimal(260)),
        "calmer",
        datetime.now(UTC),
    )
    page = as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "<dt>Daily volume now</dt><dd>0.52 mL</dd>" in page  # 260 / 500, not the fill's 0.6 mL/day
    volume = re.search(r"<dt>Volume now \(projected\)</dt><dd>([0-9.]+) mL", page).group(1)
    assert re.fullmatch(r"\d+(\.\d)?", volume), f"one decimal at most: {volume}"
    assert "260 mcg/day" in page and "260.00" not in page
