"""Edge cases found in review: each was a 500, a silent overwrite or a patient falling out of view."""

from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.support.clock import NOW_UTC
from tests.support.factories import CLINIC_ZONE, TODAY, implant_details, implanted_days_ago, make_patient, move
from tracker.clinical.refill_risk import Windows
from tracker.models import DoseChange, RefillAppointment, RefillVisit
from tracker.services import DomainError, PermissionDenied
from tracker.services.doses import change_dose
from tracker.services.refills import Programme, current_pump
from tracker.services.worklist import refill_rows, worklist

NOW = NOW_UTC


def test_a_patient_lost_to_follow_up_with_drug_in_the_pump_stays_on_the_refill_lists(as_role, world, session):
    patient = implanted_days_ago(session, world, 20)  # due in 3 days
    move(session, world, patient, "exit:lost_to_follow_up")
    assert patient.id in {r.patient.id for r in worklist(session, TODAY, NOW, Windows(14, 6))}
    transferred = implanted_days_ago(session, world, 20)
    move(session, world, transferred, "exit:transferred")  # handed over: leaves through the recorded exit
    assert transferred.id not in {r.patient.id for r in refill_rows(session, TODAY, NOW, Windows(14, 6))}
    page = as_role("nurse").get(f"/patients/{transferred.id}/move").get_data(as_text=True)
    assert page.count("still holds drug") == 0  # exited already; the warning is for active patients


def test_the_move_page_warns_that_an_exit_does_not_empty_the_pump(as_role, world, session):
    patient = implanted_days_ago(session, world, 20)
    page = as_role("nurse").get(f"/patients/{patient.id}/move").get_data(as_text=True)
    assert "pump still holds drug" in page


@pytest.mark.parametrize(
    "url",
    [
        "/calendar?date=9999-12-31",
        "/calendar?view=week&date=0001-01-01",
        "/calendar?view=list&date=9999-12-31",
        "/calendar/events.json?start=0001-01-01&end=0001-01-05",
        "/calendar/export.csv?start=9999-12-31&end=9999-12-31",
        "/patients?page=99999999999999999999",
        "/patients?location=99999999999999999999",
        "/board?location=1" + "0" * 30,
        "/worklist?nurse=99999999999999999999",
    ],
)
def test_absurd_query_values_never_cause_a_500(as_role, world, url):
    assert as_role("coordinator").get(url).status_code in (200, 400)


def test_nul_bytes_are_refused_before_they_reach_the_database(as_role, world, session):
    nurse = as_role("nurse")
    assert nurse.get("/patients?q=a%00b").status_code == 400
    response = nurse.post("/patients/new", {"mrn": "N1", "first_name": "A\x00B", "last_name": "C"})
    assert response.status_code == 400


def test_a_tampered_version_is_treated_as_stale_not_a_crash(as_role, world, session):
    patient = make_patient(session, world)
    response = as_role("nurse").post(
        f"/patients/{patient.id}/move", {"move": "trial", "effective_date": TODAY.isoformat(), "version": "abc"}
    )
    assert response.status_code == 422 and "Someone else changed this patient" in response.get_data(as_text=True)


def test_an_implant_fill_at_or_below_the_alarm_volume_is_refused(world, session):
    patient = make_patient(session, world, referred_days_ago=20)
    move(session, world, patient, "trial", days_ago=10)
    from tests.support.factories import bolus_data
    from tracker.services.trial_boluses import record_bolus

    record_bolus(session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=9)), TODAY)
    with pytest.raises(DomainError, match="above the 4 mL alarm volume"):
        move(
            session,
            world,
            patient,
            "implantation",
            surgery_centre_id=world.centre.id,
            surgeon="Dr Lee",
            implant=implant_details(session, fill_ml="4", alarm_volume_ml=Decimal(4)),
        )


def test_boluses_count_toward_the_titration_limit(world, session):
    patient = implanted_days_ago(session, world, 10)  # 300 mcg/day, spinal: 30% a day
    pump = current_pump(session, patient.id)
    with pytest.raises(PermissionDenied, match="with boluses"):
        change_dose(
            session,
            world.actor("nurse"),
            pump.id,
            datetime.now(CLINIC_ZONE) - timedelta(minutes=1),
            Programme(Decimal(300), Decimal(50), 4),
            "more boluses",
            datetime.now(CLINIC_ZONE),
        )
    session.rollback()
    with pytest.raises(DomainError, match="at least 1 mcg a day"):
        change_dose(
            session,
            world.actor("physician"),
            pump.id,
            datetime.now(CLINIC_ZONE) - timedelta(minutes=1),
            Programme(Decimal(0), flex_schedule={"default": [["00:00", "0.00000001"]]}),
            "tiny",
            datetime.now(CLINIC_ZONE),
        )


def test_a_second_tab_cannot_record_the_same_refill_or_dose_change_twice(as_role, world, session):
    patient = implanted_days_ago(session, world, 10)
    nurse = as_role("nurse")
    opened = nurse.get(f"/patients/{patient.id}/refill").get_data(as_text=True)
    last_fill = opened.split('name="last_fill_id" type="hidden" value="')[1].split('"')[0]
    form = {
        "visit_at": (datetime.now(CLINIC_ZONE) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "expected_residual_ml": "14",
        "actual_residual_ml": "14",
        "concentration_mcg_per_ml": "500",
        "volume_added_ml": "20",
        "resulting_volume_ml": "20",
        "action": "save",
        "last_fill_id": last_fill,
    }
    assert nurse.post(f"/patients/{patient.id}/refill", form).status_code == 302
    second = nurse.post(
        f"/patients/{patient.id}/refill",
        {**form, "visit_at": (datetime.now(CLINIC_ZONE) - timedelta(minutes=30)).strftime("%Y-%m-%dT%H:%M")},
    )
    assert second.status_code == 422 and "Someone else recorded a refill" in second.get_data(as_text=True)
    assert session.scalar(select(func.count(RefillVisit.id))) == 2  # implant fill + one refill
    opened = nurse.get(f"/patients/{patient.id}/dose").get_data(as_text=True)
    last_dose = opened.split('name="last_dose_id" type="hidden" value="')[1].split('"')[0]
    dose = {
        "effective_at": (datetime.now(CLINIC_ZONE) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "mode": "simple",
        "daily_dose_mcg": "320",
        "bolus_dose_mcg": "0",
        "max_boluses_per_day": "0",
        "reason": "tone",
        "last_dose_id": last_dose,
    }
    assert nurse.post(f"/patients/{patient.id}/dose", dose).status_code == 302
    assert nurse.post(f"/patients/{patient.id}/dose", dose).status_code == 422
    assert session.scalar(select(func.count(DoseChange.id))) == 2


def test_rebooking_from_a_stale_tab_does_not_replace_the_newer_booking(as_role, world, session):
    patient = implanted_days_ago(session, world, 10)
    coordinator = as_role("coordinator")
    first = {
        "starts_at": (TODAY + timedelta(days=5)).strftime("%Y-%m-%dT09:00"),
        "location_id": world.clinic.id,
        "clinician_id": world.users["nurse"].id,
    }
    assert coordinator.post(f"/patients/{patient.id}/book", first).status_code == 302
    appointment = session.scalars(select(RefillAppointment)).one()
    tab = {**first, "appointment_id": appointment.id, "version": appointment.version, "why": "moved"}
    assert (
        coordinator.post(
            f"/patients/{patient.id}/book", {**tab, "starts_at": (TODAY + timedelta(days=6)).strftime("%Y-%m-%dT09:00")}
        ).status_code
        == 302
    )
    stale = coordinator.post(
        f"/patients/{patient.id}/book", {**tab, "starts_at": (TODAY + timedelta(days=7)).strftime("%Y-%m-%dT09:00")}
    )
    assert stale.status_code == 302 and "/book" in stale.location  # refused: back to the form with a message
    session.expire_all()
    open_rows = session.scalars(select(RefillAppointment).where(RefillAppointment.status == "booked")).all()
    assert [a.starts_at.astimezone(CLINIC_ZONE).date() for a in open_rows] == [TODAY + timedelta(days=6)]


def test_the_calendar_banner_counts_overdue_refills_outside_the_month_shown(as_role, world, session):
    implanted_days_ago(session, world, 26)  # overdue by 3 days
    page = as_role("coordinator").get(f"/calendar?date={(TODAY + timedelta(days=90)).isoformat()}")
    assert "1 pump is past the refill due date" in page.get_data(as_text=True)


def test_the_feed_declares_its_time_zone_and_csv_cells_cannot_be_formulas(as_role, world, session):
    patient = implanted_days_ago(
        session,
        world,
        10,
    )
    patient.last_name = '=HYPERLINK("http://x")'
    session.commit()
    coordinator = as_role("coordinator")
    coordinator.post(
        f"/patients/{patient.id}/book",
        {
            "starts_at": (TODAY + timedelta(days=5)).strftime("%Y-%m-%dT09:00"),
            "location_id": world.clinic.id,
            "clinician_id": world.users["nurse"].id,
        },
    )
    coordinator.post("/account/calendar")
    from tracker.models import User

    token = session.scalar(select(User.calendar_token).where(User.id == world.users["coordinator"].id))
    feed = coordinator.http.get(f"/calendar/feed/{token}.ics").get_data(as_text=True)
    assert "BEGIN:VTIMEZONE" in feed and f"TZID:{CLINIC_ZONE.key}" in feed
    exported = coordinator.get("/worklist/export.csv?").get_data(as_text=True) + coordinator.get(
        f"/calendar/export.csv?start={TODAY}&end={TODAY + timedelta(days=30)}"
    ).get_data(as_text=True)
    assert "'=HYPERLINK" in exported and ",=HYPERLINK" not in exported
