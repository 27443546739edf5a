"""The refill worklist and calendar data, read set-based: a fixed number of queries however many patients.

Two shapes of the same rows: `refill_facts` (plain columns, for the calendar, the digest and the worklist's
counts: thousands of rows cost milliseconds) and `refill_rows` (ORM objects, for the rows a page shows in full).
Both take the state, reasons and urgency from `_state` and tracker.clinical.worklist, so they cannot disagree."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import DateTime, and_, bindparam, func, or_, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.sql.functions import FunctionElement

from tracker.clinical import worklist as rules
from tracker.models import ContactAttempt, Location, Patient, RefillAppointment, RefillSchedule, User
from tracker.models.bookings import OPEN
from tracker.models.journey import STILL_NEEDS_REFILLS
from tracker.paging import Page, page_number
from tracker.statements import per_thread

# Plain table aliases, not ORM aliased() classes: those adapt their columns into each statement through
# memoized state that threads compiling at once could race on. Under gunicorn's threaded workers a fresh worker hit
# by 40 connections sometimes compiled "refill_appointment.status" without its alias and failed every calendar
# request until restarted (1 of 20 fresh servers: bench/first_requests.py). Their columns are filled now,
# before any thread shares them.
OPEN_BOOKING = RefillAppointment.__table__.alias("open_booking")
IN_RANGE_BOOKING = RefillAppointment.__table__.alias("in_range_booking")
for _alias in (OPEN_BOOKING, IN_RANGE_BOOKING):
    _alias.c  # noqa: B018 - the access is the point


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


@dataclass(slots=True)
class RefillFact:
    """One refill-list row as plain values: no ORM object behind it."""

    pump_id: int
    patient_id: int
    mrn: str
    first_name: str
    last_name: str
    location_id: int
    location: str
    tz: str
    nurse_id: int | None
    nurse: str
    due_date: date
    appointment_id: int | None
    starts_at: datetime | None
    state: rules.RefillState
    reasons: list[str] | None  # None: not worked out (the calendar shows urgency only, and has no horizon)
    urgency: str


def _local_date(when: datetime, tz: str) -> date:
    return when.astimezone(ZoneInfo(tz)).date()


def _state(due_date: date, starts_at: datetime | None, tz: str, now: datetime) -> rules.RefillState:
    return rules.RefillState(due_date=due_date,
                             appointment_date=_local_date(starts_at, tz) if starts_at is not None else None,
                             appointment_passed=starts_at is not None and starts_at < now)


# Statements are built once per shape (which filters, which range) with every value a bound parameter (_params):
# building and caching-keying one cost ~1 ms a request, as much as running a month's query on SQLite.
def _params(today: date, now: datetime, horizon_days: int | None, location_ids=None, nurse_id=None, due_from=None,
            due_to=None, schedule_ids=None) -> dict:
    horizon = today + timedelta(days=horizon_days) if horizon_days is not None else None
    params = {"today": today, "now": now, "horizon": horizon,
              "location_ids": list(location_ids or []), "nurse_id": nurse_id, "schedule_ids": list(schedule_ids or [])}
    if due_from is not None and due_to is not None:
        # A day's margin on bookings for time zones (see _narrow).
        params |= {"due_from": due_from, "due_to": due_to,
                   "margin_from": datetime.combine(due_from - timedelta(days=1), time(0), UTC),
                   "margin_to": datetime.combine(due_to + timedelta(days=2), time(0), UTC)}
    return params


def _on_refill_list(query, appointment, by_location: bool, by_nurse: bool, booking=None):
    """Pumps in use of patients on the refill list; `appointment` (None: not joined) is each one's open booking,
    `booking` its columns (a table alias's .c, or the mapped class when the rows are loaded as objects).

    A schedule row is a pump in use: an explant deletes it (recompute_schedule; schedule_violations checks), so
    the pump table is not read. Joined, it cost PostgreSQL a hash of every pump (3 ms at 10k patients)."""
    query = (query.join(Patient, Patient.id == RefillSchedule.patient_id)
             .where(or_(Patient.status == "active", Patient.exit_reason.in_(STILL_NEEDS_REFILLS))))
    if appointment is not None:
        query = query.outerjoin(appointment, and_(booking.patient_id == Patient.id, booking.status == OPEN))
    if by_location:  # the schedule's copy of the patient's clinic: one index range of refill_schedule
        query = query.where(_in_clinics())
    if by_nurse:
        query = query.where(Patient.nurse_id == bindparam("nurse_id"))
    return query


def _in_clinics():
    return RefillSchedule.location_id.in_(bindparam("location_ids", expanding=True))


def _of_clinics(candidates, by_location: bool):
    """A candidate subquery narrowed to the chosen clinics, so it reads their refills only."""
    return candidates.where(_in_clinics()) if by_location else candidates


@per_thread
def _overdue_statement(by_location: bool, by_nurse: bool):
    """Driven from the due-date index (the overdue are few), with NOT EXISTS for "not booked": an outer join
    plus IS NULL led both databases to read every patient of the clinic first (10k patients: SQLite 5.8 -> 1.0
    ms, PostgreSQL 9.5 -> 2.9 ms)."""
    today = bindparam("today")
    overdue = _of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.due_date < today), by_location)
    booked = select(RefillAppointment.id).where(RefillAppointment.patient_id == Patient.id,
                                                RefillAppointment.status == OPEN)
    query = _on_refill_list(select(func.count()).select_from(RefillSchedule), None, by_location, by_nurse)
    return query.where(RefillSchedule.due_date < today, RefillSchedule.pump_id.in_(overdue), ~booked.exists())


def overdue_unbooked(session: Session, today: date, location_ids: list[int] | None = None,
                     nurse_id: int | None = None) -> int:
    """How many refills are overdue and not booked, whatever dates a page shows (one COUNT query)."""
    return session.scalar(_overdue_statement(bool(location_ids), bool(nurse_id)),
                          {"today": today, "location_ids": list(location_ids or []), "nurse_id": nurse_id})


class utc_midnight(FunctionElement):
    """The first instant (UTC) of a DATE column's day, comparable with a UTCDateTime column: SQLite keeps both as
    ISO text, which compares in time order as it is; PostgreSQL needs the zone said, not the session's."""

    type = DateTime(timezone=True)
    inherit_cache = True


@compiles(utc_midnight, "sqlite")
def _utc_midnight_sqlite(element, compiler, **kw):
    return compiler.process(element.clauses, **kw)


@compiles(utc_midnight)
def _utc_midnight(element, compiler, **kw):
    return f"(CAST({compiler.process(element.clauses, **kw)} AS TIMESTAMP) AT TIME ZONE 'UTC')"


def _narrow(query, appointment, by_range: bool, needing_action: bool, by_schedule: bool, by_location: bool):
    today, now, horizon = bindparam("today"), bindparam("now"), bindparam("horizon")
    if needing_action:
        # A superset of every reason tracker.clinical.worklist.reasons can give: unbooked and due within the
        # horizon (or past); a booking whose time has passed; a booking from 00:00 UTC of a due date not yet
        # past (booked after due: the next local day starts after that in every time zone, UTC+14 included).
        # The candidates come from index ranges, so the rows read follow the refills needing action, not every
        # pump in use.
        def booked_late(booking):
            return and_(RefillSchedule.due_date >= today, booking.starts_at >= utc_midnight(RefillSchedule.due_date))

        booking = IN_RANGE_BOOKING.c
        candidates = union(
            _of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.due_date <= horizon), by_location),
            _of_clinics(select(RefillSchedule.pump_id)
                        .join(IN_RANGE_BOOKING, booking.patient_id == RefillSchedule.patient_id)
                        .where(booking.status == OPEN, or_(booking.starts_at < now, booked_late(booking))),
                        by_location))
        query = query.where(RefillSchedule.pump_id.in_(candidates),
                            or_(and_(RefillSchedule.due_date <= horizon, appointment.id.is_(None)),
                                appointment.starts_at < now, booked_late(appointment)))
    if by_range:
        # The due date or the booking falls in the range (with its margin, _params). Two index ranges
        # (due_date, open bookings' starts_at) rather than an OR after the outer join, which no index can serve.
        booked = IN_RANGE_BOOKING.c
        in_range = union(
            _of_clinics(select(RefillSchedule.pump_id)
                        .where(RefillSchedule.due_date.between(bindparam("due_from"), bindparam("due_to"))),
                        by_location),
            _of_clinics(select(RefillSchedule.pump_id)
                        .join(IN_RANGE_BOOKING, booked.patient_id == RefillSchedule.patient_id)
                        .where(booked.status == OPEN,
                               booked.starts_at.between(bindparam("margin_from"), bindparam("margin_to"))),
                        by_location))
        query = query.where(RefillSchedule.pump_id.in_(in_range))
    if by_schedule:
        query = query.where(RefillSchedule.pump_id.in_(bindparam("schedule_ids", expanding=True)))
    return query


@per_thread
def _facts_statement(by_location: bool, by_nurse: bool, by_range: bool, needing_action: bool):
    appointment = OPEN_BOOKING.c
    query = (
        _on_refill_list(
            select(RefillSchedule.pump_id, Patient.id, Patient.mrn, Patient.first_name, Patient.last_name,
                   Patient.location_id, Location.name, Location.time_zone, Patient.nurse_id, User.full_name,
                   RefillSchedule.due_date, appointment.id, appointment.starts_at).select_from(RefillSchedule),
            OPEN_BOOKING, by_location, by_nurse, appointment)
        .join(Location, Location.id == Patient.location_id)
        .outerjoin(User, User.id == Patient.nurse_id)
        .order_by(RefillSchedule.due_date, Patient.id)
    )
    return _narrow(query, appointment, by_range, needing_action, False, by_location)


@per_thread
def _reasons_statement(by_location: bool, by_nurse: bool):
    """The refills needing action (refill_facts' statement, same rows and order) with only the columns their
    reasons depend on: the worklist pages and counts every row but shows 50 (13 columns a row cost 1,078 rows'
    worth of fetching and objects)."""
    return _facts_statement(by_location, by_nurse, False, True).with_only_columns(
        RefillSchedule.pump_id, RefillSchedule.due_date, OPEN_BOOKING.c.starts_at, Location.time_zone)


@per_thread
def _rows_statement(by_location: bool, by_nurse: bool, by_range: bool, needing_action: bool, by_schedule: bool):
    appointment = RefillAppointment  # the open booking, loaded as an object (the subqueries use table aliases)
    query = (
        _on_refill_list(select(RefillSchedule, appointment), appointment, by_location, by_nurse, appointment)
        .join(Location, Location.id == Patient.location_id)
        .outerjoin(User, User.id == Patient.nurse_id)
        .options(contains_eager(RefillSchedule.patient).contains_eager(Patient.location),
                 contains_eager(RefillSchedule.patient).contains_eager(Patient.nurse))
        .order_by(RefillSchedule.due_date, Patient.id)
    )
    return _narrow(query, appointment, by_range, needing_action, by_schedule, by_location)


def refill_facts(session: Session, today: date, now: datetime, horizon_days: int | None,
                 location_ids: list[int] | None = None, nurse_id: int | None = None,
                 due_from: date | None = None, due_to: date | None = None,
                 needing_action: bool = False) -> list[RefillFact]:
    """refill_rows as plain values, in due-date order, in one query. Without a horizon (`None`: the calendar,
    which shows urgency only) the reasons are not worked out, and no setting need be read for them."""
    if needing_action and horizon_days is None:
        raise ValueError("the refills needing action depend on the worklist horizon")
    by_range = due_from is not None and due_to is not None
    query = _facts_statement(bool(location_ids), bool(nurse_id), by_range, needing_action)
    params = _params(today, now, horizon_days, location_ids, nurse_id, due_from, due_to)
    facts = []
    session.flush()  # then plain rows straight from the connection: the ORM's per-row work buys nothing here
    for pump_id, patient_id, mrn, first, last, location_id, place, tz, nurse_id, nurse, due_date, appt_id, starts_at \
            in session.connection().execute(query, params).all():
        state = _state(due_date, starts_at, tz, now)
        reasons = rules.reasons(state, today, horizon_days) if horizon_days is not None else None
        facts.append(RefillFact(pump_id, patient_id, mrn, first, last, location_id, place, tz, nurse_id, nurse or "",
                                due_date, appt_id, starts_at, state, reasons, rules.urgency(state, today)))
    return facts


def refill_rows(session: Session, today: date, now: datetime, horizon_days: int,
                location_ids: list[int] | None = None, nurse_id: int | None = None,
                due_from: date | None = None, due_to: date | None = None,
                needing_action: bool = False, schedule_ids: list[int] | None = None) -> list[RefillRow]:
    """Every patient on the refill list whose pump holds drug, with due date, open booking and urgency."""
    by_range = due_from is not None and due_to is not None
    query = _rows_statement(bool(location_ids), bool(nurse_id), by_range, needing_action, schedule_ids is not None)
    params = _params(today, now, horizon_days, location_ids, nurse_id, due_from, due_to, schedule_ids)
    rows = []
    for schedule, appt in session.execute(query, params).unique():
        state = _state(schedule.due_date, appt.starts_at if appt else None, schedule.patient.location.time_zone, now)
        rows.append(RefillRow(schedule.patient, schedule, appt, state, rules.reasons(state, today, horizon_days),
                              rules.urgency(state, today), (schedule.due_date - today).days))
    return rows


def _with_contacts(session: Session, rows: list[RefillRow]) -> list[RefillRow]:
    ids = [r.patient.id for r in rows]
    contacts: dict[int, list[ContactAttempt]] = {}
    if ids:
        for attempt in session.scalars(select(ContactAttempt).where(ContactAttempt.patient_id.in_(ids))
                                       .options(joinedload(ContactAttempt.by)).order_by(ContactAttempt.at.desc())):
            contacts.setdefault(attempt.patient_id, []).append(attempt)
    for row in rows:
        row.contacts = contacts.get(row.patient.id, [])
    return rows


def worklist(session: Session, today: date, now: datetime, horizon_days: int,
             location_ids: list[int] | None = None, nurse_id: int | None = None) -> list[RefillRow]:
    """Refills needing action, most urgent first, each with its contact attempts (one extra query)."""
    rows = [r for r in refill_rows(session, today, now, horizon_days, location_ids, nurse_id, needing_action=True)
            if r.reasons]
    return _with_contacts(session, rows)


@dataclass
class WorklistPage(Page):
    """One page of the worklist, with the counts of every page: a row on page 9 is still counted on page 1."""

    counts: dict[str, int] = field(default_factory=dict)  # reason -> rows with that reason, across every page


def worklist_page(session: Session, today: date, now: datetime, horizon_days: int, page: int, per_page: int,
                  location_ids: list[int] | None = None, nurse_id: int | None = None) -> WorklistPage:
    """The worklist in pages of `per_page` (same order as `worklist`), with counts per reason over all pages:
    the reasons are worked out for every row from four plain columns, and only the page's rows are loaded in full."""
    session.flush()
    candidates = session.connection().execute(_reasons_statement(bool(location_ids), bool(nurse_id)),
                                              _params(today, now, horizon_days, location_ids, nurse_id))
    counts = dict.fromkeys(rules.REASON_LABELS, 0)
    needing = []
    for pump_id, due_date, starts_at, tz in candidates:
        reasons = rules.reasons(_state(due_date, starts_at, tz, now), today, horizon_days)
        if reasons:
            needing.append(pump_id)
            for reason in reasons:
                counts[reason] += 1
    page = page_number(page, len(needing), per_page)
    shown = needing[(page - 1) * per_page:page * per_page]
    rows = [r for r in refill_rows(session, today, now, horizon_days, location_ids, nurse_id,
                                   schedule_ids=shown) if r.reasons] if shown else []
    return WorklistPage(_with_contacts(session, rows), len(needing), page, per_page, counts)
