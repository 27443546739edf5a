"""Asking a physician: a booking after the alarm date and a dose above the titration limit go to the physicians'
queue instead of a dead end; the physician answers; the requester sees the answer; all of it audited."""

from datetime import datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine
from flask import render_template
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from tests.support.factories import TODAY, implanted_days_ago, make_patient, to_adjustment
from tracker.clinic_zone import clinic_zone
from tracker.clinical import refill_risk
from tracker.formats import fmt_date
from tracker.models import AuditEvent, DoseChange, PhysicianRequest, RefillAppointment, RefillSchedule
from tracker.models.requests import BOOKING_AFTER_ALARM, DOSE_SIGN_OFF
from tracker.services import DomainError, PermissionDenied, StaleEdit, escalation, physician_queue
from tracker.services.doses import change_dose
from tracker.services.refills import Programme, current_pump
from tracker.services.settings import risk_windows

FORM_TIME = "%Y-%m-%dT%H:%M"


@pytest.fixture(autouse=True)
def now(app):
    """The clinic's clock, pinned to 11:00 on the factories' TODAY (pages and services read it)."""
    pinned = datetime.combine(TODAY, time(11), clinic_zone())
    with time_machine.travel(pinned, tick=False):
        yield pinned


def past_alarm(session, world):
    """Default pump (due day 23, alarm day 30, empty day 33), filled 31 days ago: past its alarm date."""
    patient = implanted_days_ago(session, world, 31)
    schedule = session.get(RefillSchedule, current_pump(session, patient.id).id)
    assert schedule.alarm_date < TODAY < schedule.empty_date
    return patient


def slot(world, day) -> dict:
    return {
        "starts_at": datetime.combine(day, time(10)).strftime(FORM_TIME),
        "location_id": world.clinic.id,
        "clinician_id": world.users["nurse"].id,
    }


def answer_form(request: PhysicianRequest, approve: bool, note: str = "") -> dict:
    return {"version": request.version, "note": note, "approve" if approve else "decline": "y"}


def only_request(session) -> PhysicianRequest:
    session.expire_all()
    return session.scalars(select(PhysicianRequest)).one()


def audit_rows(session, request_id: int) -> list[tuple[str, int]]:
    return list(
        session.execute(
            select(AuditEvent.action, AuditEvent.user_id)
            .where(AuditEvent.entity == "physician_request", AuditEvent.entity_id == request_id)
            .order_by(AuditEvent.id)
        )
    )


def test_a_coordinator_refused_after_the_alarm_date_asks_a_physician_who_approves_and_books(as_role, world, session):
    patient = past_alarm(session, world)
    coordinator, physician = as_role("coordinator"), as_role("physician")
    tried = slot(world, TODAY + timedelta(days=1))

    refused = coordinator.post(f"/patients/{patient.id}/book", tried)
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "refused unless a physician overrides" in page
    assert "Ask a physician" in page and f'name="ask-starts_at" type="hidden" value="{tried["starts_at"]}"' in page
    assert f'value="{tried["starts_at"]}"' in page.split("Ask a physician")[0], "the user's input is kept"

    asked = coordinator.post(
        f"/patients/{patient.id}/ask-physician",
        {
            "ask-kind": BOOKING_AFTER_ALARM,
            "ask-note": "No clinic slot before tomorrow",
            **{f"ask-{name}": value for name, value in tried.items()},
        },
    )
    assert asked.status_code == 302
    request = only_request(session)
    assert (request.status, request.requested_by_id, request.pump_id) == (
        "open",
        world.users["coordinator"].id,
        current_pump(session, patient.id).id,
    )
    assert request.payload == tried and request.note == "No clinic slot before tomorrow"

    queue = physician.get("/queue").get_data(as_text=True)
    item = queue.split(f'id="request-{request.id}"')[1].split("</article>")[0]
    assert patient.mrn in item and "No clinic slot before tomorrow" in item
    assert refill_risk.LABELS[refill_risk.PAST_ALARM] in item and "urgency-past_alarm" in queue
    assert 'name="approve"' in item

    approved = physician.post(f"/requests/{request.id}/answer", answer_form(request, True, "Book it; I will see her"))
    assert approved.status_code == 302 and f"/patients/{patient.id}/book?" in approved.location
    form_page = physician.get(approved.location).get_data(as_text=True)
    assert f'value="{tried["starts_at"]}"' in form_page, "the booking form opens on the slot that was tried"
    booked = physician.post(f"/patients/{patient.id}/book", {**tried, "override_reason": "Seen tomorrow; checked"})
    assert booked.status_code == 302
    assert session.scalars(select(RefillAppointment)).one().override_by_id == world.users["physician"].id

    request = only_request(session)
    assert (request.status, request.answered_by_id, request.answer_note) == (
        "approved",
        world.users["physician"].id,
        "Book it; I will see her",
    )
    mine = coordinator.get("/queue").get_data(as_text=True).split('id="mine-h"')[1]
    assert "Approved" in mine and "Book it; I will see her" in mine and patient.mrn in mine
    with physician.app.test_request_context():
        shown = render_template(
            "physician/_requests.html", requests=physician_queue.requests_for_patient(session, patient.id)
        )
    assert "Approved" in shown and "Book it; I will see her" in shown and "No clinic slot" in shown
    assert audit_rows(session, request.id) == [
        ("create", world.users["coordinator"].id),
        ("update", world.users["physician"].id),
    ]
    # Booked with an override, the pump is still past its alarm: it stays in front of physicians.
    queue = physician.get("/queue").get_data(as_text=True)
    assert f'data-mrn="{patient.mrn}"' in queue.split("not asked about")[1]


def test_a_second_open_request_of_a_kind_is_refused_by_the_database_with_a_clear_message(as_role, world, session):
    patient = past_alarm(session, world)
    coordinator, nurse = as_role("coordinator"), as_role("nurse")
    form = {"ask-kind": BOOKING_AFTER_ALARM, "ask-note": "first"}
    assert coordinator.post(f"/patients/{patient.id}/ask-physician", form).status_code == 302
    again = nurse.post(f"/patients/{patient.id}/ask-physician", {**form, "ask-note": "second"}, follow_redirects=True)
    assert again.status_code == 200
    assert "already waiting for a physician" in again.get_data(as_text=True)
    assert session.scalar(select(func.count(PhysicianRequest.id))) == 1

    # The guard is the database's partial unique index, not a query before the insert.
    session.add(
        PhysicianRequest(
            kind=BOOKING_AFTER_ALARM, patient_id=patient.id, requested_by_id=world.users["nurse"].id, note="raw"
        )
    )
    with pytest.raises(IntegrityError):
        session.flush()
    session.rollback()
    # A closed request does not count: withdrawn, the patient can be asked about again.
    request = only_request(session)
    escalation.withdraw(
        session, world.actor("coordinator"), request.id, request.version, "Refilled early", datetime.now(clinic_zone())
    )
    escalation.ask_physician(
        session, world.actor("nurse"), patient.id, BOOKING_AFTER_ALARM, "again", None, datetime.now(clinic_zone())
    )
    assert session.scalar(select(func.count(PhysicianRequest.id))) == 2


def dose_form(now, dose: str) -> dict:
    return {
        "effective_at": (now - timedelta(minutes=5)).strftime(FORM_TIME),
        "mode": "simple",
        "daily_dose_mcg": dose,
        "bolus_dose_mcg": "0",
        "max_boluses_per_day": "0",
        "reason": "Spasms at night",
    }


def test_a_nurses_dose_increase_beyond_the_limit_goes_for_sign_off_and_approval_records_it(
    as_role, world, session, now
):
    patient = to_adjustment(session, world, make_patient(session, world, referred_days_ago=40))  # 300 mcg/day
    nurse, physician = as_role("nurse"), as_role("physician")
    refused = nurse.post(f"/patients/{patient.id}/dose", dose_form(now, "400"))  # spinal: 30% per 24 h
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "physician must sign off" in page and "Send for sign-off" in page
    assert 'value="400' in page, "the nurse's dose is kept"

    sent = nurse.post(
        f"/patients/{patient.id}/dose",
        {**dose_form(now, "400"), "action": "sign_off", "sign_off-note": "Tone worse since the last step"},
    )
    assert sent.status_code == 302
    assert session.scalar(select(func.count(DoseChange.id))) == 1, "nothing recorded before the sign-off"
    request = only_request(session)
    assert request.kind == DOSE_SIGN_OFF and request.note == "Tone worse since the last step"
    assert request.payload["daily_dose_mcg"] == "400" and request.payload["reason"] == "Spasms at night"
    assert "400 mcg/day" in physician.get("/queue").get_data(as_text=True)

    assert physician.post(f"/requests/{request.id}/answer", answer_form(request, True)).status_code == 302
    change = session.scalars(select(DoseChange).order_by(DoseChange.id.desc())).first()
    assert change.daily_dose_mcg == Decimal(400)
    assert change.signed_off_by_id == change.recorded_by_id == world.users["physician"].id
    assert change.effective_at == now.replace(second=0) - timedelta(minutes=5)
    request = only_request(session)
    assert request.status == "approved" and "400.00 mcg/day" in request.outcome
    assert (
        session.scalar(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.entity == "dose_change", AuditEvent.user_id == world.users["physician"].id
            )
        )
        == 1
    )
    assert [action for action, _ in audit_rows(session, request.id)] == ["create", "update"]
    nurse_view = nurse.get("/queue").get_data(as_text=True).split('id="mine-h"')[1]
    assert "Approved" in nurse_view and "Dose change recorded" in nurse_view


def test_an_answer_on_a_stale_version_is_refused_and_saves_nothing(as_role, world, session, now):
    patient = past_alarm(session, world)
    request = escalation.ask_physician(
        session, world.actor("coordinator"), patient.id, BOOKING_AFTER_ALARM, "please", None, now
    )
    opened = answer_form(request, True)  # the physician's page, opened now
    escalation.answer(session, world.actor("physician"), request.id, request.version, False, "Earlier slot exists", now)
    late = as_role("physician").post(f"/requests/{request.id}/answer", opened)
    assert late.status_code == 422 and "Someone else answered" in late.get_data(as_text=True)
    assert (only_request(session).status, only_request(session).answer_note) == ("declined", "Earlier slot exists")
    with pytest.raises(StaleEdit):
        escalation.answer(session, world.actor("physician"), request.id, 1, True, "", now)


def test_a_dose_sign_off_is_refused_when_another_dose_was_recorded_meanwhile(world, session, now):
    patient = to_adjustment(session, world, make_patient(session, world, referred_days_ago=40))
    pump = current_pump(session, patient.id)
    last = session.scalar(select(func.max(DoseChange.id)).where(DoseChange.pump_id == pump.id))
    payload = escalation.dose_payload(now - timedelta(minutes=5), Programme(Decimal(400)), "tone", last)
    request = escalation.ask_physician(session, world.actor("nurse"), patient.id, DOSE_SIGN_OFF, "", payload, now)
    change_dose(
        session, world.actor("nurse"), pump.id, now - timedelta(minutes=1), Programme(Decimal(320)), "small step", now
    )
    with pytest.raises(StaleEdit, match="recorded after this request was sent"):
        escalation.answer(session, world.actor("physician"), request.id, request.version, True, "", now)
    session.rollback()
    assert only_request(session).status == "open"
    assert session.scalar(select(func.count(DoseChange.id)).where(DoseChange.pump_id == pump.id)) == 2


def test_declining_needs_a_reason_and_the_requester_can_withdraw(world, session, now):
    patient = past_alarm(session, world)
    request = escalation.ask_physician(
        session, world.actor("coordinator"), patient.id, BOOKING_AFTER_ALARM, "", {"starts_at": "garbage"}, now
    )
    assert request.payload is None, "a garbled slot is dropped, the request kept"
    with pytest.raises(DomainError, match="Say why you decline"):
        escalation.answer(session, world.actor("physician"), request.id, request.version, False, " ", now)
    session.rollback()
    escalation.withdraw(session, world.actor("coordinator"), request.id, request.version, "Refilled at home", now)
    request = only_request(session)
    assert (request.status, request.outcome) == ("withdrawn", "Withdrawn: Refilled at home")
    with pytest.raises(DomainError, match="no longer open"):
        escalation.answer(session, world.actor("physician"), request.id, request.version, True, "", now)


def test_the_queue_holds_requests_oldest_first_then_every_pump_past_alarm_or_empty(world, session, now):
    empty = implanted_days_ago(session, world, 34)
    alarm = past_alarm(session, world)
    overdue = implanted_days_ago(session, world, 26)  # due 3 days ago, alarm in 4: the coordinator's, not theirs
    first = escalation.ask_physician(
        session, world.actor("coordinator"), overdue.id, BOOKING_AFTER_ALARM, "", None, now - timedelta(hours=2)
    )
    second = escalation.ask_physician(
        session, world.actor("coordinator"), alarm.id, BOOKING_AFTER_ALARM, "", None, now - timedelta(hours=1)
    )
    items = physician_queue.physician_queue(session, TODAY, now, risk_windows(session))
    assert [(i.request.id if i.request else None, i.patient_id) for i in items] == [
        (first.id, overdue.id),
        (second.id, alarm.id),
        (None, empty.id),
    ]
    assert items[0].fact is None, "an overdue pump is not past its alarm: no physician's status on it"
    assert items[1].fact.judgement.risk.status == refill_risk.PAST_ALARM
    assert items[2].fact.judgement.risk.status == refill_risk.EMPTY


ROLE_CASES = [
    ("coordinator", "answer", 403),
    ("nurse", "answer", 403),
    ("admin", "answer", 403),
    ("physician", "answer", 302),
    ("physician", "ask", 403),
    ("admin", "ask", 403),
    ("nurse", "ask", 302),
    ("coordinator", "ask", 302),
]


@pytest.mark.parametrize("role, action, status", ROLE_CASES, ids=[f"{r}-{a}" for r, a, _ in ROLE_CASES])
def test_who_may_ask_and_who_may_answer(as_role, world, session, now, role, action, status):
    patient = past_alarm(session, world)
    other = past_alarm(session, world)
    request = escalation.ask_physician(session, world.actor("nurse"), other.id, BOOKING_AFTER_ALARM, "", None, now)
    client = as_role(role)
    page = client.get("/queue").get_data(as_text=True)
    assert ('name="approve"' in page) == (role == "physician")
    if action == "answer":
        response = client.post(f"/requests/{request.id}/answer", answer_form(request, False, "No"))
    else:
        response = client.post(f"/patients/{patient.id}/ask-physician", {"ask-kind": BOOKING_AFTER_ALARM})
    assert response.status_code == status
    session.expire_all()
    assert session.scalar(select(func.count(PhysicianRequest.id))) == (2 if (action, status) == ("ask", 302) else 1)
    assert only_open_status(session, request.id) == ("declined" if (action, status) == ("answer", 302) else "open")


def only_open_status(session, request_id: int) -> str:
    return session.get(PhysicianRequest, request_id).status


def test_only_staff_who_ask_may_ask_and_only_physicians_may_answer_in_the_services(world, session, now):
    patient = past_alarm(session, world)
    with pytest.raises(PermissionDenied):
        escalation.ask_physician(session, world.actor("physician"), patient.id, BOOKING_AFTER_ALARM, "", None, now)
    request = escalation.ask_physician(session, world.actor("nurse"), patient.id, BOOKING_AFTER_ALARM, "", None, now)
    with pytest.raises(PermissionDenied):
        escalation.answer(session, world.actor("coordinator"), request.id, request.version, True, "", now)


def test_a_physician_who_books_with_an_override_answers_the_open_request(world, session, now):
    from tracker.services.bookings import book_refill

    patient = past_alarm(session, world)
    asked = escalation.ask_physician(
        session, world.actor("coordinator"), patient.id, BOOKING_AFTER_ALARM, "no earlier slot", None, now
    )
    starts_at = datetime.combine(TODAY + timedelta(days=2), time(10), clinic_zone())
    book_refill(
        session,
        world.actor("physician"),
        patient.id,
        starts_at,
        world.clinic.id,
        world.users["nurse"].id,
        "patient away",
        "called: no withdrawal signs",
        now,
    )
    request = only_request(session)
    assert (request.id, request.status, request.answered_by_id) == (asked.id, "approved", world.users["physician"].id)
    assert request.outcome == f"Booked for {fmt_date(starts_at.date())} 10:00 with the physician's override."
    assert audit_rows(session, asked.id)[-1] == ("update", world.users["physician"].id)
    assert physician_queue.open_physician_requests(session) == [], "nothing stays open once the slot is booked"
