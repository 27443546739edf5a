"""The refill worklist and calendar data, read set-based: a fixed number of queries however many patients."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased, contains_eager, joinedload

from tracker.clinical import worklist as rules
from tracker.models import ContactAttempt, Location, Patient, Pump, RefillAppointment, RefillSchedule, User
from tracker.models.bookings import OPEN
from tracker.models.journey import STILL_NEEDS_REFILLS


@dataclass
class RefillRow:
    patient: Patient
    schedule: RefillSchedule
    appointment: RefillAppointment | None
    state: rules.RefillState
    reasons: list[str]
    urgency: str
    days_left: int
    contacts: list[ContactAttempt] = field(default_factory=list)


def _local_date(when: datetime, tz: str) -> date:
    return when.astimezone(ZoneInfo(tz)).date()


def _on_refill_list(query, appointment, location_ids, nurse_id):
    query = (query.join(Pump, and_(Pump.id == RefillSchedule.pump_id, Pump.explanted_on.is_(None)))
             .join(Patient, Patient.id == RefillSchedule.patient_id)
             .outerjoin(appointment, and_(appointment.patient_id == Patient.id, appointment.status == OPEN))
             .where(or_(Patient.status == "active", Patient.exit_reason.in_(STILL_NEEDS_REFILLS))))
    if location_ids:
        query = query.where(Patient.location_id.in_(location_ids))
    if nurse_id:
        query = query.where(Patient.nurse_id == nurse_id)
    return query


def overdue_unbooked(session: Session, today: date, location_ids: list[int] | None = None,
                     nurse_id: int | None = None) -> int:
    """How many refills are overdue and not booked, whatever dates a page shows (one COUNT query)."""
    appointment = aliased(RefillAppointment)
    query = _on_refill_list(select(func.count()).select_from(RefillSchedule), appointment, location_ids, nurse_id)
    return session.scalar(query.where(RefillSchedule.due_date < today, appointment.id.is_(None)))


def refill_rows(session: Session, today: date, now: datetime, horizon_days: int,
                location_ids: list[int] | None = None, nurse_id: int | None = None,
                due_from: date | None = None, due_to: date | None = None,
                needing_action: bool = False) -> list[RefillRow]:
    """Every patient on the refill list whose pump holds drug, with due date, open booking and urgency."""
    appointment = aliased(RefillAppointment)
    query = (
        _on_refill_list(select(RefillSchedule, appointment), appointment, location_ids, nurse_id)
        .join(Location, Location.id == Patient.location_id)
        .outerjoin(User, User.id == Patient.nurse_id)
        .options(contains_eager(RefillSchedule.patient).contains_eager(Patient.location),
                 contains_eager(RefillSchedule.patient).contains_eager(Patient.nurse))
        .order_by(RefillSchedule.due_date, Patient.id)
    )
    if needing_action:
        # Every reason the rules can give needs a due date within the horizon (or past) or an open booking.
        query = query.where(or_(RefillSchedule.due_date <= today + timedelta(days=horizon_days),
                                appointment.id.is_not(None)))
    if due_from is not None and due_to is not None:
        # The due date or the booking falls in the range; a day's margin on the booking for time zones.
        margin_from = datetime.combine(due_from - timedelta(days=1), time(0), UTC)
        margin_to = datetime.combine(due_to + timedelta(days=2), time(0), UTC)
        query = query.where(RefillSchedule.due_date.between(due_from, due_to)
                            | appointment.starts_at.between(margin_from, margin_to))
    rows = []
    for schedule, appt in session.execute(query).unique():
        tz = schedule.patient.location.time_zone
        state = rules.RefillState(
            due_date=schedule.due_date,
            appointment_date=_local_date(appt.starts_at, tz) if appt else None,
            appointment_passed=bool(appt and appt.starts_at < now),
        )
        rows.append(RefillRow(schedule.patient, schedule, appt, state, rules.reasons(state, today, horizon_days),
                              rules.urgency(state, today), (schedule.due_date - today).days))
    return rows


def worklist(session: Session, today: date, now: datetime, horizon_days: int,
             location_ids: list[int] | None = None, nurse_id: int | None = None) -> list[RefillRow]:
    """Refills needing action, most urgent first, each with its contact attempts (one extra query)."""
    rows = [r for r in refill_rows(session, today, now, horizon_days, location_ids, nurse_id, needing_action=True)
            if r.reasons]
    ids = [r.patient.id for r in rows]
    contacts: dict[int, list[ContactAttempt]] = {}
    if ids:
        for attempt in session.scalars(select(ContactAttempt).where(ContactAttempt.patient_id.in_(ids))
                                       .options(joinedload(ContactAttempt.by)).order_by(ContactAttempt.at.desc())):
            contacts.setdefault(attempt.patient_id, []).append(attempt)
    for row in rows:
        row.contacts = contacts.get(row.patient.id, [])
    return rows
