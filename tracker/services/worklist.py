"""The refill worklist and calendar data, read set-based: a fixed number of queries however many patients.

Two shapes of the same rows: `refill_facts` (plain columns, for the calendar, the digest and the worklist's
counts: thousands of rows cost milliseconds) and `refill_rows` (ORM objects, for the rows a page shows in full).
Both judge every pump with tracker.clinical.refill_risk.assess (through `judge`), so they cannot disagree. Open work
from device events (tracker.clinical.pump_events: a post-MRI pump check, a catheter review) is read once per call
(`open_work`) and judged with the pump: it is one more reason on the same row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import DateTime, and_, bindparam, func, or_, select, union
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, contains_eager, joinedload
from sqlalchemy.sql.functions import FunctionElement

from tracker.clinic_zone import local_date
from tracker.clinical import pump_events
from tracker.clinical import refill_risk as risk_model
from tracker.models import (
    ContactAttempt,
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


# Every reason a pump can be on the worklist, in the order the counts are shown, and their words.
REASONS = (
    risk_model.EMPTY,
    risk_model.PAST_ALARM,
    risk_model.OVERDUE,
    risk_model.MISSED,
    risk_model.AFTER_EMPTY,
    risk_model.AFTER_ALARM,
    risk_model.AFTER_DUE,
    risk_model.DUE_SOON,
    risk_model.BATTERY_ERI,
    risk_model.BATTERY_PAST_DUE,
    *pump_events.WORK_ORDER,
)
REASON_LABELS = risk_model.LABELS | pump_events.WORK_LABELS


@dataclass(frozen=True, slots=True)
class Judgement:
    """A pump's refill risk and battery verdict, its device events' open work, every reason it needs action
    (REASON_LABELS keys), and what they were judged from."""

    risk: risk_model.RefillRisk
    battery: str
    reasons: list[str]
    dates: risk_model.RefillDates
    booking: risk_model.Booking | None
    work: tuple[pump_events.OpenWork, ...] = ()
    work_urgency: str | None = None  # where the open work ranks (pump_events.work_urgency)

    @property
    def urgency(self) -> str:
        return self.risk.urgency

    @property
    def needs_action(self) -> bool:
        """The refill needs action, or a device event's work is open."""
        return self.risk.needs_action or bool(self.work)

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key, most urgent first: the refill's rank, raised to its open work's when that is more urgent."""
        urgency, booking = self.risk.rank
        if self.work_urgency is not None:
            urgency = min(urgency, risk_model.URGENCIES.index(self.work_urgency))
        return urgency, booking

    @property
    def action_urgency(self) -> str:
        """The colour of what must be done: the refill's urgency, or its open work's when that is more urgent."""
        return risk_model.URGENCIES[self.rank[0]]

    @property
    def tone(self) -> str:
        return risk_model.TONES[self.action_urgency]

    @property
    def headline(self) -> str:
        """What a row says first (REASON_LABELS key): the refill's urgency, or the open work when only it needs
        action (a pump not due yet with its post-MRI check open is on the list for the check)."""
        if self.work and not self.risk.needs_action:
            return pump_events.work_reasons(self.work)[0]
        return self.risk.urgency


def judge(
    due_date: date,
    alarm_date: date | None,
    empty_date: date | None,
    starts_at: datetime | None,
    battery_due: date | None,
    eri_on: date | None,
    today: date,
    now: datetime,
    windows: risk_model.Windows,
    *,
    work: Sequence[pump_events.OpenWork],
) -> Judgement:
    """The one place stored columns become the model's judgement: every list, page, e-mail and feed calls it.
    `work` is the pump's open device-event work (open_work), never left out: a check must not vanish from a screen."""
    booking = risk_model.Booking(local_date(starts_at), passed=starts_at < now) if starts_at is not None else None
    dates = risk_model.RefillDates(due_date, alarm_date, empty_date)
    risk = risk_model.assess(dates, booking, today, windows.soon_days)
    battery = risk_model.battery_verdict(risk_model.Battery(battery_due, eri_on), today, windows.battery_warning_months)
    reasons = (
        risk.reasons + ([battery] if battery in risk_model.BATTERY_ACTION else []) + pump_events.work_reasons(work)
    )
    return Judgement(risk, battery, reasons, dates, booking, tuple(work), pump_events.work_urgency(work, today))


def _work_open():
    """A device event's work not yet done: ix_pump_event_open_work's condition (built fresh per statement)."""
    return and_(PumpEvent.work.is_not(None), PumpEvent.done_at.is_(None))


@per_thread
def _open_work_statement(by_location: bool, by_pump: bool):
    query = (
        select(
            PumpEvent.id,
            PumpEvent.pump_id,
            PumpEvent.work,
            PumpEvent.work_due_on,
            PumpEvent.kind,
            PumpEvent.occurred_at,
        )
        .where(_work_open())
        .order_by(PumpEvent.work_due_on, PumpEvent.id)
    )
    if by_location:
        query = query.join(RefillSchedule, RefillSchedule.pump_id == PumpEvent.pump_id).where(_in_clinics())
    if by_pump:
        query = query.where(PumpEvent.pump_id.in_(bindparam("pump_ids", expanding=True)))
    return query


def open_work(
    session: Session, location_ids: list[int] | None = None, pump_ids: list[int] | None = None
) -> dict[int, tuple[pump_events.OpenWork, ...]]:
    """Every pump's open device-event work (of these clinics, or these pumps), in one query: open work is a handful
    of rows, so every screen reads all of it rather than a query per pump."""
    rows = session.connection().execute(
        _open_work_statement(bool(location_ids), pump_ids is not None),
        {"location_ids": list(location_ids or []), "pump_ids": list(pump_ids or [])},
    )
    found: dict[int, list[pump_events.OpenWork]] = {}
    for event_id, pump_id, work, due_on, kind, occurred_at in rows:
        found.setdefault(pump_id, []).append(pump_events.OpenWork(event_id, pump_id, work, due_on, kind, occurred_at))
    return {pump_id: tuple(items) for pump_id, items in found.items()}


class _Judged:
    """A refill-list row's reasons and urgency, both the judgement's."""

    __slots__ = ()

    @property
    def reasons(self) -> list[str]:
        return self.judgement.reasons

    @property
    def urgency(self) -> str:
        return self.judgement.urgency


@dataclass
class RefillRow(_Judged):
    patient: Patient
    schedule: RefillSchedule
    appointment: RefillAppointment | None
    judgement: Judgement
    days_left: int
    contacts: list[ContactAttempt] = field(default_factory=list)


@dataclass(slots=True)
class RefillFact(_Judged):
    """One refill-list row as plain values: no ORM object behind it."""

    pump_id: int
    patient_id: int
    mrn: str
    first_name: str
    last_name: str
    location_id: int
    location: str
    nurse_id: int | None
    nurse: str
    due_date: date
    alarm_date: date | None
    empty_date: date | None
    appointment_id: int | None
    starts_at: datetime | None
    judgement: Judgement

    @property
    def short_name(self) -> str:
        """The name on a calendar chip, "Castillo, L." (the full name and MRN are in its tooltip, one click away)."""
        return f"{self.last_name}, {self.first_name[:1]}." if self.first_name else self.last_name


# Statements are built once per shape (which filters, which range) with every value a bound parameter (_params):
# building and caching-keying one cost ~1 ms a request, as much as running a month's query on SQLite.
def _params(
    today: date,
    now: datetime,
    windows: risk_model.Windows,
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
        # A day's margin on bookings for time zones (see _narrow).
        params |= {
            "due_from": due_from,
            "due_to": due_to,
            "margin_from": datetime.combine(due_from - timedelta(days=1), time(0), UTC),
            "margin_to": datetime.combine(due_to + timedelta(days=2), time(0), UTC),
        }
    return params


def _on_refill_list(query, appointment, by_location: bool, by_nurse: bool, booking=None):
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
def _late_statement(by_location: bool, by_nurse: bool):
    """Pumps past their due date, booked or not (a booking does not make a late pump safe): driven from the
    due-date index, as the late are few."""
    today = bindparam("today")
    # Past the due date, or at the alarm date (with no safety buffer the two are the same day): the due date is
    # never after the alarm date, so the index range due_date <= today holds them all.
    late = _of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.due_date <= today), by_location)
    query = _on_refill_list(select(func.count()).select_from(RefillSchedule), None, by_location, by_nurse)
    return query.where(
        or_(RefillSchedule.due_date < today, RefillSchedule.alarm_date <= today), RefillSchedule.pump_id.in_(late)
    )


def late_count(
    session: Session, today: date, location_ids: list[int] | None = None, nurse_id: int | None = None
) -> int:
    """How many pumps are overdue, past their alarm or empty (refill_risk.LATE; booked or not), whatever dates a
    page shows, in one COUNT query."""
    return session.scalar(
        _late_statement(bool(location_ids), bool(nurse_id)),
        {"today": today, "location_ids": list(location_ids or []), "nurse_id": nurse_id},
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


def _battery_needs_action():
    """A battery past its replacement date, or at its replacement indicator (risk_model.BATTERY_ACTION)."""
    today = bindparam("today")
    return or_(Pump.battery_replacement_due < today, Pump.eri_on <= today)


def _narrow(query, appointment, by_range: bool, needing_action: bool, by_schedule: bool, by_location: bool):
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
        with_work = select(PumpEvent.pump_id).where(_work_open())  # a device event's work is open
        candidates = union(
            _of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.due_date <= horizon), by_location),
            _of_clinics(
                select(RefillSchedule.pump_id)
                .join(IN_RANGE_BOOKING, booking.patient_id == RefillSchedule.patient_id)
                .where(booking.status == OPEN, or_(booking.starts_at < now, booked_late(booking))),
                by_location,
            ),
            _of_clinics(
                select(RefillSchedule.pump_id)
                .join(Pump, Pump.id == RefillSchedule.pump_id)
                .where(_battery_needs_action()),
                by_location,
            ),
            _of_clinics(select(RefillSchedule.pump_id).where(RefillSchedule.pump_id.in_(with_work)), by_location),
        )
        query = query.where(
            RefillSchedule.pump_id.in_(candidates),
            or_(
                RefillSchedule.due_date <= horizon,
                appointment.starts_at < now,
                booked_late(appointment),
                _battery_needs_action(),
                RefillSchedule.pump_id.in_(with_work),
            ),
        )
    if by_range:
        # The due date or the booking falls in the range (with its margin, _params). Two index ranges
        # (due_date, open bookings' starts_at) rather than an OR after the outer join, which no index can serve.
        booked = IN_RANGE_BOOKING.c
        in_range = union(
            _of_clinics(
                select(RefillSchedule.pump_id).where(
                    RefillSchedule.due_date.between(bindparam("due_from"), bindparam("due_to"))
                ),
                by_location,
            ),
            _of_clinics(
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


@per_thread
def _facts_statement(by_location: bool, by_nurse: bool, by_range: bool, needing_action: bool):
    appointment = OPEN_BOOKING.c
    query = (
        _on_refill_list(
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
    return _narrow(query, appointment, by_range, needing_action, False, by_location)


@per_thread
def _reasons_statement(by_location: bool, by_nurse: bool):
    """The pumps needing action (refill_facts' statement, same rows and order) with only the columns their
    judgement depends on: the worklist pages and counts every row but shows 50 (16 columns a row cost 1,078 rows'
    worth of fetching and objects)."""
    return _facts_statement(by_location, by_nurse, False, True).with_only_columns(
        RefillSchedule.pump_id,
        RefillSchedule.due_date,
        RefillSchedule.alarm_date,
        RefillSchedule.empty_date,
        OPEN_BOOKING.c.starts_at,
        Pump.battery_replacement_due,
        Pump.eri_on,
    )


@per_thread
def _rows_statement(by_location: bool, by_nurse: bool, by_range: bool, needing_action: bool, by_schedule: bool):
    appointment = RefillAppointment  # the open booking, loaded as an object (the subqueries use table aliases)
    query = (
        _on_refill_list(select(RefillSchedule, appointment), appointment, by_location, by_nurse, appointment)
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
    return _narrow(query, appointment, by_range, needing_action, by_schedule, by_location)


def _by_urgency(items):
    """Most urgent first (the model's order, open work included: Judgement.rank), then by due date as read."""
    return sorted(items, key=lambda item: item.judgement.rank)


def refill_facts(
    session: Session,
    today: date,
    now: datetime,
    windows: risk_model.Windows,
    location_ids: list[int] | None = None,
    nurse_id: int | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    needing_action: bool = False,
    work: dict[int, tuple[pump_events.OpenWork, ...]] | None = None,
) -> list[RefillFact]:
    """refill_rows as plain values, in due-date order (most urgent first when `needing_action`), in one query (and
    one for the open work, unless `work` already holds it)."""
    by_range = due_from is not None and due_to is not None
    query = _facts_statement(bool(location_ids), bool(nurse_id), by_range, needing_action)
    params = _params(today, now, windows, location_ids, nurse_id, due_from, due_to)
    facts = []
    session.flush()  # then plain rows straight from the connection: the ORM's per-row work buys nothing here
    work = open_work(session, location_ids) if work is None else work
    for (
        pump_id,
        patient_id,
        mrn,
        first,
        last,
        location_id,
        place,
        nurse_id,
        nurse,
        due_date,
        alarm_date,
        empty_date,
        appt_id,
        starts_at,
        battery_due,
        eri_on,
    ) in session.connection().execute(query, params).all():
        judgement = judge(
            due_date,
            alarm_date,
            empty_date,
            starts_at,
            battery_due,
            eri_on,
            today,
            now,
            windows,
            work=work.get(pump_id, ()),
        )
        if needing_action and not judgement.reasons:
            continue
        facts.append(
            RefillFact(
                pump_id,
                patient_id,
                mrn,
                first,
                last,
                location_id,
                place,
                nurse_id,
                nurse or "",
                due_date,
                alarm_date,
                empty_date,
                appt_id,
                starts_at,
                judgement,
            )
        )
    return _by_urgency(facts) if needing_action else facts


def refill_rows(
    session: Session,
    today: date,
    now: datetime,
    windows: risk_model.Windows,
    location_ids: list[int] | None = None,
    nurse_id: int | None = None,
    due_from: date | None = None,
    due_to: date | None = None,
    needing_action: bool = False,
    schedule_ids: list[int] | None = None,
    work: dict[int, tuple[pump_events.OpenWork, ...]] | None = None,
) -> list[RefillRow]:
    """Every patient on the refill list whose pump holds drug, with due date, open booking and judgement. `work`:
    the open work already read (open_work), else it is read here."""
    by_range = due_from is not None and due_to is not None
    query = _rows_statement(bool(location_ids), bool(nurse_id), by_range, needing_action, schedule_ids is not None)
    params = _params(today, now, windows, location_ids, nurse_id, due_from, due_to, schedule_ids)
    rows = []
    work = open_work(session, location_ids) if work is None else work
    for schedule, appt in session.execute(query, params).unique():
        judgement = judge(
            schedule.due_date,
            schedule.alarm_date,
            schedule.empty_date,
            appt.starts_at if appt else None,
            schedule.pump.battery_replacement_due,
            schedule.pump.eri_on,
            today,
            now,
            windows,
            work=work.get(schedule.pump_id, ()),
        )
        rows.append(RefillRow(schedule.patient, schedule, appt, judgement, (schedule.due_date - today).days))
    return rows


def _with_contacts(session: Session, rows: list[RefillRow]) -> list[RefillRow]:
    ids = [r.patient.id for r in rows]
    contacts: dict[int, list[ContactAttempt]] = {}
    if ids:
        for attempt in session.scalars(
            select(ContactAttempt)
            .where(ContactAttempt.patient_id.in_(ids))
            .options(joinedload(ContactAttempt.by))
            .order_by(ContactAttempt.at.desc())
        ):
            contacts.setdefault(attempt.patient_id, []).append(attempt)
    for row in rows:
        row.contacts = contacts.get(row.patient.id, [])
    return rows


def worklist(
    session: Session,
    today: date,
    now: datetime,
    windows: risk_model.Windows,
    location_ids: list[int] | None = None,
    nurse_id: int | None = None,
) -> list[RefillRow]:
    """Pumps needing action, most urgent first, each with its contact attempts (one extra query)."""
    rows = [
        r for r in refill_rows(session, today, now, windows, location_ids, nurse_id, needing_action=True) if r.reasons
    ]
    return _with_contacts(session, _by_urgency(rows))


@dataclass
class WorklistPage(Page):
    """One page of the worklist, with the counts of every page: a row on page 9 is still counted on page 1."""

    counts: dict[str, int] = field(default_factory=dict)  # reason -> rows with that reason, across every page


def worklist_page(
    session: Session,
    today: date,
    now: datetime,
    windows: risk_model.Windows,
    page: int,
    per_page: int,
    location_ids: list[int] | None = None,
    nurse_id: int | None = None,
) -> WorklistPage:
    """The worklist in pages of `per_page` (same order as `worklist`), with counts per reason over all pages:
    every row is judged from seven plain columns, and only the page's rows are loaded in full."""
    session.flush()
    work = open_work(session, location_ids)
    candidates = session.connection().execute(
        _reasons_statement(bool(location_ids), bool(nurse_id)), _params(today, now, windows, location_ids, nurse_id)
    )
    counts = dict.fromkeys(REASONS, 0)
    needing = []
    for pump_id, due_date, alarm_date, empty_date, starts_at, battery_due, eri_on in candidates:
        judgement = judge(
            due_date,
            alarm_date,
            empty_date,
            starts_at,
            battery_due,
            eri_on,
            today,
            now,
            windows,
            work=work.get(pump_id, ()),
        )
        if judgement.reasons:
            needing.append((judgement.rank, len(needing), pump_id))
            for reason in judgement.reasons:
                counts[reason] += 1
    needing.sort()
    page = page_number(page, len(needing), per_page)
    shown = [pump_id for _, _, pump_id in needing[(page - 1) * per_page : page * per_page]]
    rows = (
        [
            r
            for r in refill_rows(session, today, now, windows, location_ids, nurse_id, schedule_ids=shown, work=work)
            if r.reasons
        ]
        if shown
        else []
    )
    return WorklistPage(_with_contacts(session, _by_urgency(rows)), len(needing), page, per_page, counts)
