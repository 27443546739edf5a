"""The refill list's SQL statements, with every value a bound parameter: the worklist, calendar and digest
(tracker.services.worklist) run them and judge the rows. Also the two small readers beside them: the late count
and the open work (device events' and device advisories' follow-ups)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    and_,
    bindparam,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    union,
    union_all,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, contains_eager
from sqlalchemy.sql.functions import FunctionElement

from tracker.clinic_zone import local_date
from tracker.clinical import advisory, pump_events, refill_risk
from tracker.models import (
    Advisory,
    AdvisoryFollowUp,
    Location,
    Patient,
    Pump,
    PumpEvent,
    RefillAppointment,
    RefillSchedule,
    User,
)
from tracker.models.bookings import OPEN
from tracker.models.journey import STILL_NEEDS_REFILLS

# Plain table aliases, not ORM aliased() classes: those adapt their columns into each statement through
# memoized state that threads compiling at once could race on. Under gunicorn's threaded workers a fresh worker hit
# by 40 connections sometimes compiled "refill_appointment.status" without its alias and failed every calendar
# request until restarted (1 of 20 fresh servers: bench/first_requests.py). Their columns are filled now,
# before any thread shares them.
OPEN_BOOKING = RefillAppointment.__table__.alias("open_booking")
IN_RANGE_BOOKING = RefillAppointment.__table__.alias("in_range_booking")
for _alias in (OPEN_BOOKING, IN_RANGE_BOOKING):
    _alias.c  # noqa: B018 - the access is the point


def work_open():
    """A device event's work not yet done: ix_pump_event_open_work's condition (built fresh per statement)."""
    return and_(PumpEvent.work.is_not(None), PumpEvent.done_at.is_(None))


def follow_up_open():
    """An advisory follow-up not yet reached, of an advisory still open: ix_advisory_follow_up_open's condition."""
    return and_(AdvisoryFollowUp.status == advisory.NOT_REACHED, Advisory.closed_at.is_(None))


def open_work_statement(by_location: bool, by_pump: bool):
    """Device events' open work and open advisory follow-ups of pumps in use, in one statement (UNION ALL). An
    advisory follow-up's due date depends on the pump's refill due date (clinical.advisory.follow_up_due), so its
    rows carry that and the advisory's follow-up kind instead of a stored due date."""
    events = select(
        PumpEvent.id,
        PumpEvent.pump_id,
        PumpEvent.work,
        PumpEvent.work_due_on,
        PumpEvent.kind,
        PumpEvent.occurred_at,
        cast(null(), String).label("about"),
        cast(null(), Integer).label("advisory_id"),
        cast(null(), String).label("follow_up"),
        cast(null(), Integer).label("call_days"),
    ).where(work_open())
    if by_location:
        events = events.join(RefillSchedule, RefillSchedule.pump_id == PumpEvent.pump_id).where(in_clinics())
    if by_pump:
        events = events.where(PumpEvent.pump_id.in_(bindparam("pump_ids", expanding=True)))
    follow_ups = (
        select(
            AdvisoryFollowUp.id,
            AdvisoryFollowUp.pump_id,
            literal(pump_events.ADVISORY_FOLLOW_UP, String),
            RefillSchedule.due_date,
            literal(pump_events.ADVISORY, String),
            Advisory.created_at,
            Advisory.title,
            Advisory.id,
            Advisory.follow_up,
            Advisory.call_days,
        )
        .join(Advisory, Advisory.id == AdvisoryFollowUp.advisory_id)
        .join(RefillSchedule, RefillSchedule.pump_id == AdvisoryFollowUp.pump_id)  # a pump in use
        .where(follow_up_open())
    )
    if by_location:
        follow_ups = follow_ups.where(in_clinics())
    if by_pump:
        follow_ups = follow_ups.where(AdvisoryFollowUp.pump_id.in_(bindparam("pump_ids", expanding=True)))
    return union_all(events, follow_ups)


# Every value a statement uses is a bound parameter (statement_params), never part of the SQL text.
def statement_params(
    today: date,
    now: datetime,
    windows: refill_risk.Windows,
    location_ids=None,
    nurse_id=None,
    due_from=None,
    due_to=None,
    schedule_ids=None,
) -> dict:
    horizon = today + timedelta(days=windows.soon_days)
    params = {
        "today": today,
        "now": now,
        "horizon": horizon,
        "location_ids": list(location_ids or []),
        "nurse_id": nurse_id,
        "schedule_ids": list(schedule_ids or []),
    }
    if due_from is not None and due_to is not None:
        # A day's margin on bookings for time zones (see narrow).
        params |= {
            "due_from": due_from,
            "due_to": due_to,
            "margin_from": datetime.combine(due_from - timedelta(days=1), time(0), UTC),
            "margin_to": datetime.combine(due_to + timedelta(days=2), time(0), UTC),
        }
    return params


def on_refill_list(query, appointment, by_location: bool, by_nurse: bool, booking=None):
    """Pumps in use of patients on the refill list; `appointment` (None: not joined) is each one's open booking,
    `booking` its columns (a table alias's .c, or the mapped class when the rows are loaded as objects).

    A schedule row is a pump in use: an explant deletes it (recompute_schedule; schedule_violations checks), so
    the pump table is not read. Joined, it cost PostgreSQL a hash of every pump (3 ms at 10k patients)."""
    query = query.join(Patient, Patient.id == RefillSchedule.patient_id).where(
        or_(Patient.status == "active", Patient.exit_reason.in_(STILL_NEEDS_REFILLS))
    )
    if appointment is not None:
        query = query.outerjoin(appointment, and_(booking.patient_id == Patient.id, booking.status == OPEN))
    if by_location:  # the schedule's copy of the patient's clinic: one index range of refill_schedule
        query = query.where(in_clinics())
    if by_nurse:
        query = query.where(Patient.nurse_id == bindparam("nurse_id"))
    return query


def in_clinics():
    return RefillSchedule.location_id.in_(bindparam("location_ids", expanding=True))


def of_clinics(candidates, by_location: bool):
    """A candidate subquery narrowed to the chosen clinics, so it reads their refills only."""
    return candidates.where(in_clinics()) if by_location else candidates


def late_statement(by_location: bool, by_nurse: bool):
    """Pumps past their due date, booked or not (a booking does not make a late pump safe): driven from the
    due-date index, as the late are few."""
    today = bindparam("today")
    # Past the due date, or at the alarm date (with no safety buffer the two are the same day): the due date is
    # never after the alarm date, so the index range due_date <= today holds them all.
    late = of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.due_date <= today), by_location)
    query = on_refill_list(select(func.count()).select_from(RefillSchedule), None, by_location, by_nurse)
    return query.where(
        or_(RefillSchedule.due_date < today, RefillSchedule.alarm_date <= today), RefillSchedule.pump_id.in_(late)
    )


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


def battery_needs_action():
    """A battery past its replacement date, or at its replacement indicator (refill_risk.BATTERY_ACTION)."""
    today = bindparam("today")
    return or_(Pump.battery_replacement_due < today, Pump.eri_on <= today)


def narrow(query, appointment, by_range: bool, needing_action: bool, by_schedule: bool, by_location: bool):
    today, now, horizon = bindparam("today"), bindparam("now"), bindparam("horizon")
    if needing_action:
        # A superset of every reason refill_risk.assess can give: due within the "soon" window or past it (booked
        # or not: a booking after the due date never clears a late pump); a booking whose time has passed; a
        # booking from 00:00 UTC of a due date not yet past (booked after due: the next local day starts after
        # that in every time zone, UTC+14 included); a battery needing action. The candidates come from index
        # ranges, so the rows read follow the pumps needing action, not every pump in use.
        def booked_late(booking):
            return and_(RefillSchedule.due_date >= today, booking.starts_at >= utc_midnight(RefillSchedule.due_date))

        booking = IN_RANGE_BOOKING.c
        with_work = union(  # a device event's work or an advisory follow-up is open
            select(PumpEvent.pump_id).where(work_open()),
            select(AdvisoryFollowUp.pump_id)
            .join(Advisory, Advisory.id == AdvisoryFollowUp.advisory_id)
            .where(follow_up_open()),
        )
        candidates = union(
            of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.due_date <= horizon), by_location),
            of_clinics(
                select(RefillSchedule.pump_id)
                .join(IN_RANGE_BOOKING, booking.patient_id == RefillSchedule.patient_id)
                .where(booking.status == OPEN, or_(booking.starts_at < now, booked_late(booking))),
                by_location,
            ),
            of_clinics(
                select(RefillSchedule.pump_id)
                .join(Pump, Pump.id == RefillSchedule.pump_id)
                .where(battery_needs_action()),
                by_location,
            ),
            of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.pump_id.in_(with_work)), by_location),
        )
        query = query.where(
            RefillSchedule.pump_id.in_(candidates),
            or_(
                RefillSchedule.due_date <= horizon,
                appointment.starts_at < now,
                booked_late(appointment),
                battery_needs_action(),
                RefillSchedule.pump_id.in_(with_work),
            ),
        )
    if by_range:
        # The due date or the booking falls in the range (with its margin, statement_params). Two index ranges
        # (due_date, open bookings' starts_at) rather than an OR after the outer join, which no index can serve.
        booked = IN_RANGE_BOOKING.c
        in_range = union(
            of_clinics(
                select(RefillSchedule.pump_id).where(
                    RefillSchedule.due_date.between(bindparam("due_from"), bindparam("due_to"))
                ),
                by_location,
            ),
            of_clinics(
                select(RefillSchedule.pump_id)
                .join(IN_RANGE_BOOKING, booked.patient_id == RefillSchedule.patient_id)
                .where(
                    booked.status == OPEN, booked.starts_at.between(bindparam("margin_from"), bindparam("margin_to"))
                ),
                by_location,
            ),
        )
        query = query.where(RefillSchedule.pump_id.in_(in_range))
    if by_schedule:
        query = query.where(RefillSchedule.pump_id.in_(bindparam("schedule_ids", expanding=True)))
    return query


def facts_statement(by_location: bool, by_nurse: bool, by_range: bool, needing_action: bool):
    appointment = OPEN_BOOKING.c
    query = (
        on_refill_list(
            select(
                RefillSchedule.pump_id,
                Patient.id,
                Patient.mrn,
                Patient.first_name,
                Patient.last_name,
                Patient.location_id,
                Location.name,
                Patient.nurse_id,
                User.full_name,
                RefillSchedule.due_date,
                RefillSchedule.alarm_date,
                RefillSchedule.empty_date,
                appointment.id,
                appointment.starts_at,
                Pump.battery_replacement_due,
                Pump.eri_on,
            ).select_from(RefillSchedule),
            OPEN_BOOKING,
            by_location,
            by_nurse,
            appointment,
        )
        .join(Pump, Pump.id == RefillSchedule.pump_id)
        .join(Location, Location.id == Patient.location_id)
        .outerjoin(User, User.id == Patient.nurse_id)
        .order_by(RefillSchedule.due_date, Patient.id)
    )
    return narrow(query, appointment, by_range, needing_action, False, by_location)


def reasons_statement(by_location: bool, by_nurse: bool):
    """The pumps needing action (refill_facts' statement, same rows and order) with only the columns their
    judgement depends on: the worklist pages and counts every row but shows 50 (16 columns a row cost 1,078 rows'
    worth of fetching and objects)."""
    return facts_statement(by_location, by_nurse, False, True).with_only_columns(
        RefillSchedule.pump_id,
        RefillSchedule.due_date,
        RefillSchedule.alarm_date,
        RefillSchedule.empty_date,
        OPEN_BOOKING.c.starts_at,
        Pump.battery_replacement_due,
        Pump.eri_on,
    )


def rows_statement(by_location: bool, by_nurse: bool, by_range: bool, needing_action: bool, by_schedule: bool):
    appointment = RefillAppointment  # the open booking, loaded as an object (the subqueries use table aliases)
    query = (
        on_refill_list(select(RefillSchedule, appointment), appointment, by_location, by_nurse, appointment)
        .join(Pump, Pump.id == RefillSchedule.pump_id)
        .join(Location, Location.id == Patient.location_id)
        .outerjoin(User, User.id == Patient.nurse_id)
        .options(
            contains_eager(RefillSchedule.patient).contains_eager(Patient.location),
            contains_eager(RefillSchedule.patient).contains_eager(Patient.nurse),
            contains_eager(RefillSchedule.pump),
        )
        .order_by(RefillSchedule.due_date, Patient.id)
    )
    return narrow(query, appointment, by_range, needing_action, by_schedule, by_location)


def open_work(
    session: Session, location_ids: list[int] | None = None, pump_ids: list[int] | None = None
) -> dict[int, tuple[pump_events.OpenWork, ...]]:
    """Every pump's open work (of these clinics, or these pumps): device events' and advisory follow-ups, in one
    query: open work is a handful of rows, so every screen reads all of it rather than a query per pump."""
    rows = session.connection().execute(
        open_work_statement(bool(location_ids), pump_ids is not None),
        {"location_ids": list(location_ids or []), "pump_ids": list(pump_ids or [])},
    )
    found: dict[int, list[pump_events.OpenWork]] = {}
    for event_id, pump_id, work, due_on, kind, occurred_at, about, advisory_id, follow_up, call_days in rows:
        if kind == pump_events.ADVISORY:
            due_on = advisory.follow_up_due(follow_up, call_days, local_date(occurred_at), due_on)
        found.setdefault(pump_id, []).append(
            pump_events.OpenWork(event_id, pump_id, work, due_on, kind, occurred_at, about or "", advisory_id)
        )
    return {pump_id: tuple(sorted(items, key=lambda w: (w.due_on, w.event_id))) for pump_id, items in found.items()}


def late_count(
    session: Session, today: date, location_ids: list[int] | None = None, nurse_id: int | None = None
) -> int:
    """How many pumps are overdue, past their alarm or empty (refill_risk.LATE; booked or not), whatever dates a
    page shows, in one COUNT query."""
    return session.scalar(
        late_statement(bool(location_ids), bool(nurse_id)),
        {"today": today, "location_ids": list(location_ids or []), "nurse_id": nurse_id},
    )
