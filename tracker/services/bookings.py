"""Booking refill appointments: book, rebook, cancel (history kept), and logging contact attempts."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.clinic_zone import local_date
from tracker.clinical import booking, refill_risk
from tracker.clinical.booking import DEFAULT_BOOKING_TIME, check_booking
from tracker.clinical.row_values import booking_values, completed_booking_values
from tracker.formats import fmt_date
from tracker.models import ContactAttempt, Location, Patient, RefillAppointment, RefillSchedule, User
from tracker.models.bookings import OPEN
from tracker.policy import allowed
from tracker.services import Actor, DomainError, NeedsPhysician, PermissionDenied, StaleEdit, lock_row, use_case
from tracker.services.audit import record, snapshot
from tracker.services.escalation import settle_booking_request
from tracker.services.refills import current_pump

CONTACT_METHODS = {
    "phone": "Phone",
    "sms": "Text message",
    "letter": "Letter",
    "email": "E-mail",
    "in_person": "In person",
}
CONTACT_OUTCOMES = {
    "reached": "Reached",
    "voicemail": "Left voicemail",
    "no_answer": "No answer",
    "wrong_number": "Wrong number",
    "declined": "Declined",
    "booked": "Booked",
}
# A last attempt that did not reach the patient (a wrong number included: find the right one and try again). While
# the refill still needs action, someone must try again: the home page lists these.
RETRY_OUTCOMES = frozenset({"voicemail", "no_answer", "wrong_number"})
FIELDS = ["starts_at", "location_id", "clinician_id", "late_reason", "override_by_id", "status"]
# The slot the booking form offers first (the user changes it freely): a little before the due date, a morning.
SUGGEST_DAYS_BEFORE_DUE = 2


def suggested_start(due_date: date, today: date) -> datetime:
    """The booking form's first suggestion, on the clinic's wall clock (naive, as its datetime-local field holds it):
    SUGGEST_DAYS_BEFORE_DUE before the due date at DEFAULT_BOOKING_TIME, never before tomorrow."""
    day = max(due_date - timedelta(days=SUGGEST_DAYS_BEFORE_DUE), today + timedelta(days=1))
    return datetime.combine(day, DEFAULT_BOOKING_TIME)


def open_appointment(session: Session, patient_id: int) -> RefillAppointment | None:
    return session.scalars(
        select(RefillAppointment).where(RefillAppointment.patient_id == patient_id, RefillAppointment.status == OPEN)
    ).first()


def _check(
    session: Session,
    actor: Actor,
    patient: Patient,
    starts_at: datetime,
    location_id: int,
    clinician_id: int,
    late_reason: str,
    override_reason: str,
    now: datetime,
) -> tuple[int, int | None]:
    """The booking rules; returns (pump id, overriding physician or None)."""
    if not allowed(actor.role, "refill.book"):
        raise PermissionDenied("Your role may not book refills.")
    pump = current_pump(session, patient.id)
    schedule = session.get(RefillSchedule, pump.id) if pump else None
    if not patient.on_refill_list or schedule is None:
        raise DomainError("Only patients whose pump holds drug have refills to book.")
    location = session.get(Location, location_id) if location_id else None  # None: the form's empty choice
    clinician = session.get(User, clinician_id) if clinician_id else None
    day = local_date(starts_at)
    dates = refill_risk.RefillDates(schedule.due_date, schedule.alarm_date, schedule.empty_date)
    check = check_booking(
        dates,
        starts_at,
        day,
        now,
        at_clinic=location is not None and location.active and location.kind == "clinic",
        clinician_ok=clinician is not None and clinician.active and clinician.role in ("nurse", "physician"),
        may_override=allowed(actor.role, "booking.override"),
        late_reason=late_reason,
        override_reason=override_reason,
    )
    if check.refused == booking.IN_THE_PAST:
        raise DomainError("The appointment must be in the future.", "starts_at")
    if check.refused == booking.NOT_A_CLINIC:
        raise DomainError("Choose an active clinic.", "location_id")
    if check.refused == booking.NO_CLINICIAN:
        raise DomainError("Choose an active nurse or physician.", "clinician_id")
    if check.refused == booking.NEEDS_PHYSICIAN:
        what = "is projected empty" if check.verdict == refill_risk.AFTER_EMPTY else "reaches its low-reservoir alarm"
        raise NeedsPhysician(
            f"On {fmt_date(day)} the pump {what} (from {fmt_date(check.limit(dates))}): refused unless a "
            "physician overrides. Ask a physician, or choose an earlier day.",
            "starts_at",
        )
    if check.refused == booking.NO_OVERRIDE_REASON:
        raise DomainError("A booking after the alarm date needs the physician's reason.", "override_reason")
    if check.refused == booking.NO_LATE_REASON:
        raise DomainError(
            f"{fmt_date(day)} is after the due date ({fmt_date(schedule.due_date)}); say why.", "late_reason"
        )
    override_by = actor.user_id if check.overridden else None
    return pump.id, override_by


@use_case("booking")
def book_refill(
    session: Session,
    actor: Actor,
    patient_id: int,
    starts_at: datetime,
    location_id: int,
    clinician_id: int,
    late_reason: str,
    override_reason: str,
    now: datetime,
    replacing: RefillAppointment | None = None,
) -> RefillAppointment:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise DomainError("No such patient.")
    lock_row(session, Patient, patient_id)  # a second booking racing this one waits, then sees it
    if replacing is None and open_appointment(session, patient_id) is not None:  # booked since the form opened
        raise StaleEdit(
            "Someone else booked this patient's refill meanwhile; nothing was saved. Check the "
            "booking shown, then rebook it if needed."
        )
    pump_id, override_by = _check(
        session, actor, patient, starts_at, location_id, clinician_id, late_reason, override_reason, now
    )
    reason = late_reason.strip()
    if override_by:
        reason = f"{reason}\nPhysician override: {override_reason.strip()}".strip()
    appointment = RefillAppointment(
        **booking_values(
            patient_id=patient_id,
            pump_id=pump_id,
            starts_at=starts_at,
            location_id=location_id,
            clinician_id=clinician_id,
            late_reason=reason,
            override_by_id=override_by,
            booked_by_id=actor.user_id,
        )
    )
    session.add(appointment)
    try:
        session.flush()
    except IntegrityError:  # the database's one open booking per pump: another booking won the race
        raise StaleEdit(
            "Someone else booked this patient's refill at the same moment; nothing was saved. "
            "Check the booking shown, then rebook it if needed."
        ) from None
    record(
        session, actor, "create", "refill_appointment", appointment.id, patient_id, None, snapshot(appointment, FIELDS)
    )
    if override_by:
        settle_booking_request(session, actor, patient_id, starts_at, now)
    return appointment


def _close(
    session: Session, actor: Actor, appointment_id: int, expected_version: int, status: str, reason: str, now: datetime
) -> RefillAppointment:
    appointment = session.get(RefillAppointment, appointment_id)
    if appointment is None or appointment.status != OPEN:
        raise DomainError("This appointment is no longer open.")
    if appointment.version != expected_version:
        raise StaleEdit("Someone else changed this appointment meanwhile; nothing was saved.")
    if not allowed(actor.role, "refill.book"):
        raise PermissionDenied("Your role may not change bookings.")
    if not reason.strip():
        raise DomainError("Say why.", "reason")
    before = snapshot(appointment, FIELDS)
    appointment.status, appointment.closed_at, appointment.closed_by_id = status, now, actor.user_id
    appointment.close_reason = reason.strip()
    session.flush()
    record(
        session,
        actor,
        "update",
        "refill_appointment",
        appointment.id,
        appointment.patient_id,
        before,
        snapshot(appointment, FIELDS) | {"close_reason": appointment.close_reason},
    )
    return appointment


@use_case("booking")
def rebook(
    session: Session,
    actor: Actor,
    appointment_id: int,
    expected_version: int,
    starts_at: datetime,
    location_id: int,
    clinician_id: int,
    late_reason: str,
    override_reason: str,
    why: str,
    now: datetime,
) -> RefillAppointment:
    """Close the old booking as rebooked and book the new one, in one transaction."""
    old = _close(session, actor, appointment_id, expected_version, "rebooked", why, now)
    new = book_refill(
        session,
        actor,
        old.patient_id,
        starts_at,
        location_id,
        clinician_id,
        late_reason,
        override_reason,
        now,
        replacing=old,
    )
    old.replaced_by_id = new.id
    return new


@use_case("booking")
def cancel(session: Session, actor: Actor, appointment_id: int, expected_version: int, why: str, now: datetime) -> None:
    _close(session, actor, appointment_id, expected_version, "cancelled", why, now)


def complete_open_appointment(session: Session, patient_id: int, refill_visit_id: int, now: datetime) -> None:
    """Recording the refill completes the open booking; it books nothing by itself."""
    appointment = open_appointment(session, patient_id)
    if appointment is not None:
        for name, value in completed_booking_values(refill_visit_id, now).items():
            setattr(appointment, name, value)


@use_case("contact attempt")
def log_contact(
    session: Session, actor: Actor, patient_id: int, method: str, outcome: str, notes: str, now: datetime
) -> ContactAttempt:
    if not allowed(actor.role, "contact.log"):
        raise PermissionDenied("Your role may not log contact attempts.")
    if session.get(Patient, patient_id) is None:
        raise DomainError("No such patient.")
    if method not in CONTACT_METHODS:
        raise DomainError("Choose how the patient was contacted.", "method")
    if outcome not in CONTACT_OUTCOMES:
        raise DomainError("Choose the outcome.", "outcome")
    attempt = ContactAttempt(
        patient_id=patient_id, at=now, method=method, outcome=outcome, notes=notes.strip(), by_id=actor.user_id
    )
    session.add(attempt)
    session.flush()
    record(
        session,
        actor,
        "create",
        "contact_attempt",
        attempt.id,
        patient_id,
        None,
        {"method": method, "outcome": outcome},
    )
    return attempt
