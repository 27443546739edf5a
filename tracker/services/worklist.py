"""The refill worklist and calendar data, read set-based: a fixed number of queries however many patients.

Two shapes of the same rows: `refill_facts` (plain columns, for the calendar, the digest and the worklist's
counts: thousands of rows cost milliseconds) and `refill_rows` (ORM objects, for the rows a page shows in full).
Both judge every pump with tracker.clinical.refill_risk.assess (through `judge`), so they cannot disagree. Open work
from device events (tracker.clinical.pump_events: a post-MRI pump check, a catheter review) is read once per call
(`open_work`) and judged with the pump: it is one more reason on the same row."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tracker.clinic_zone import local_date
from tracker.clinical import pump_events, refill_risk
from tracker.models import (
    ContactAttempt,
    Patient,
    RefillAppointment,
    RefillSchedule,
)
from tracker.paging import Page, page_number
from tracker.services.refill_list_queries import (
    facts_statement,
    open_work,
    reasons_statement,
    rows_statement,
    statement_params,
)

# Every reason a pump can be on the worklist, in the order the counts are shown, and their words.
REASONS = (
    refill_risk.EMPTY,
    refill_risk.PAST_ALARM,
    refill_risk.OVERDUE,
    refill_risk.MISSED,
    refill_risk.AFTER_EMPTY,
    refill_risk.AFTER_ALARM,
    refill_risk.AFTER_DUE,
    refill_risk.DUE_SOON,
    refill_risk.BATTERY_ERI,
    refill_risk.BATTERY_PAST_DUE,
    *pump_events.WORK_ORDER,
)
REASON_LABELS = refill_risk.LABELS | pump_events.WORK_LABELS


@dataclass(frozen=True, slots=True)
class Judgement:
    """A pump's refill risk and battery verdict, its device events' open work, every reason it needs action
    (REASON_LABELS keys), and what they were judged from."""

    risk: refill_risk.RefillRisk
    battery: str
    reasons: list[str]
    dates: refill_risk.RefillDates
    booking: refill_risk.Booking | None
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
            urgency = min(urgency, refill_risk.URGENCIES.index(self.work_urgency))
        return urgency, booking

    @property
    def action_urgency(self) -> str:
        """The colour of what must be done: the refill's urgency, or its open work's when that is more urgent."""
        return refill_risk.URGENCIES[self.rank[0]]

    @property
    def tone(self) -> str:
        return refill_risk.TONES[self.action_urgency]

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
    windows: refill_risk.Windows,
    *,
    work: Sequence[pump_events.OpenWork],
) -> Judgement:
    """The one place stored columns become the model's judgement: every list, page, e-mail and feed calls it.
    `work` is the pump's open device-event work (open_work), never left out: a check must not vanish from a screen."""
    booking = refill_risk.Booking(local_date(starts_at), passed=starts_at < now) if starts_at is not None else None
    dates = refill_risk.RefillDates(due_date, alarm_date, empty_date)
    risk = refill_risk.assess(dates, booking, today, windows.soon_days)
    battery = refill_risk.battery_verdict(
        refill_risk.Battery(battery_due, eri_on), today, windows.battery_warning_months
    )
    reasons = (
        risk.reasons + ([battery] if battery in refill_risk.BATTERY_ACTION else []) + pump_events.work_reasons(work)
    )
    return Judgement(risk, battery, reasons, dates, booking, tuple(work), pump_events.work_urgency(work, today))


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


def _by_urgency(items):
    """Most urgent first (the model's order, open work included: Judgement.rank), then by due date as read."""
    return sorted(items, key=lambda item: item.judgement.rank)


def refill_facts(
    session: Session,
    today: date,
    now: datetime,
    windows: refill_risk.Windows,
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
    query = facts_statement(bool(location_ids), bool(nurse_id), by_range, needing_action)
    params = statement_params(today, now, windows, location_ids, nurse_id, due_from, due_to)
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
    windows: refill_risk.Windows,
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
    query = rows_statement(bool(location_ids), bool(nurse_id), by_range, needing_action, schedule_ids is not None)
    params = statement_params(today, now, windows, location_ids, nurse_id, due_from, due_to, schedule_ids)
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
    windows: refill_risk.Windows,
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
    windows: refill_risk.Windows,
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
        reasons_statement(bool(location_ids), bool(nurse_id)),
        statement_params(today, now, windows, location_ids, nurse_id),
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
