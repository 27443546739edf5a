"""The facts behind the quality dashboard, read set-based: a fixed number of queries however many patients.

Each gather function returns plain facts for tracker/clinical/quality.py; the dashboard, its CSV tables and
its drill-down lists call the same functions with the same filters."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from tracker.clinic_zone import clinic_zone, clinic_zone_name
from tracker.clinical import quality as q
from tracker.clinical import refill as engine
from tracker.clinical import refill_risk as risk
from tracker.clinical.journey import TRIAL
from tracker.models import DoseChange, DrugConcentration, Location, Patient, Pump, RefillVisit, StageEvent
from tracker.models.journey import STILL_NEEDS_REFILLS
from tracker.models.pumps import ML
from tracker.models.types import UTCDateTime
from tracker.services import worklist
from tracker.services.refills import _ledger_for_engine, buffer_days, to_engine
from tracker.services.settings import risk_windows


@dataclass(frozen=True)
class QualityFilters:
    """The dashboard's filters: visit / trial-entry dates in [start, end] (clinic-local), one location or all."""

    start: date
    end: date
    location_id: int | None = None


def _utc_margin(start: date, end: date) -> tuple[datetime, datetime]:
    """A UTC window safely around clinic-local days; the exact day test happens after the local conversion."""
    return (
        datetime.combine(start - timedelta(days=1), time(0), UTC),
        datetime.combine(end + timedelta(days=2), time(0), UTC),
    )


def _at_location(query, f: QualityFilters):
    return query.where(Patient.location_id == f.location_id) if f.location_id else query


def refill_facts(session: Session, f: QualityFilters, settings: dict) -> list[q.RefillFact]:
    """Refill visits in the range (not the fill at implantation), each with the due date in force before it.

    That date is the one stored with the visit when it was recorded: one query. Refills recorded before it was
    stored (RefillVisit.due_date_in_force is NULL) have it recomputed, see `_recomputed_due_dates`; three more
    queries, only when the range holds such refills."""
    zone = clinic_zone()
    low, high = _utc_margin(f.start, f.end)
    in_range = and_(
        RefillVisit.visit_at >= low,
        RefillVisit.visit_at < high,
        RefillVisit.at_implant.is_(False),
        RefillVisit.voided_at.is_(None),
    )
    rows = session.execute(
        _at_location(
            select(
                RefillVisit.id,
                RefillVisit.visit_at,
                RefillVisit.warnings,
                RefillVisit.due_date_in_force,
                Pump.patient_id,
                Patient.location_id,
            )
            .join(Pump, Pump.id == RefillVisit.pump_id)
            .join(Patient, Patient.id == Pump.patient_id)
            .where(in_range)
            .order_by(RefillVisit.visit_at, RefillVisit.id),
            f,
        )
    ).all()
    facts = []
    legacy = False
    for r in rows:
        day = r.visit_at.astimezone(zone).date()
        if f.start <= day <= f.end:
            legacy = legacy or r.due_date_in_force is None
            facts.append((r, day))
    recomputed = _recomputed_due_dates(session, f, settings, in_range) if legacy else {}
    return [
        q.RefillFact(
            r.id,
            r.patient_id,
            r.location_id,
            day,
            r.due_date_in_force if r.due_date_in_force is not None else recomputed.get(r.id),
            frozenset(w.get("code", "") for w in r.warnings or [] if isinstance(w, dict)),
            due_recomputed=r.due_date_in_force is None,
        )
        for r, day in facts
    ]


def _recomputed_due_dates(session: Session, f: QualityFilters, settings: dict, in_range) -> dict[int, date | None]:
    """Visit id -> due date for the refills in range that stored none, projected again by the refill engine from
    the pump's previous fill and the dose changes that took effect before the visit, with today's settings
    (buffer, drug stability, alarm volume).

    Three queries, over the pumps with such refills only: their visits with the previous fill (a window
    function), their dose ledgers, the drug catalogue."""
    low, high = _utc_margin(f.start, f.end)
    pumps = _at_location(
        select(RefillVisit.pump_id)
        .join(Pump, Pump.id == RefillVisit.pump_id)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(in_range, RefillVisit.due_date_in_force.is_(None)),
        f,
    ).scalar_subquery()
    window = {"partition_by": RefillVisit.pump_id, "order_by": (RefillVisit.visit_at, RefillVisit.id)}
    visits = (
        select(
            RefillVisit.id,
            RefillVisit.pump_id,
            RefillVisit.visit_at,
            RefillVisit.at_implant,
            RefillVisit.due_date_in_force,
            func.lag(RefillVisit.visit_at, type_=UTCDateTime).over(**window).label("prev_at"),
            func.lag(RefillVisit.resulting_volume_ml, type_=ML).over(**window).label("prev_ml"),
            func.lag(RefillVisit.concentration_mcg_per_ml).over(**window).label("prev_concentration"),
        )
        # Earlier fills are the "previous"; a voided fill was never one.
        .where(RefillVisit.pump_id.in_(pumps), RefillVisit.visit_at < high, RefillVisit.voided_at.is_(None))
        .subquery()
    )
    rows = session.execute(
        select(
            visits.c.id,
            visits.c.pump_id,
            visits.c.visit_at,
            visits.c.prev_at,
            visits.c.prev_ml,
            visits.c.prev_concentration,
            Pump.alarm_volume_ml,
            Pump.reservoir_ml,
            Patient.withdrawal_risk,
        )
        .join(Pump, Pump.id == visits.c.pump_id)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(visits.c.visit_at >= low, visits.c.at_implant.is_(False), visits.c.due_date_in_force.is_(None))
    ).all()
    by_pump: dict[int, list] = {}
    # Plain rows, not entities: the ledger is only read, and rows load several times faster.
    for change in session.execute(
        select(
            DoseChange.id,
            DoseChange.pump_id,
            DoseChange.effective_at,
            DoseChange.daily_dose_mcg,
            DoseChange.flex_schedule,
            DoseChange.bolus_dose_mcg,
            DoseChange.max_boluses_per_day,
        )
        .where(DoseChange.pump_id.in_(pumps), DoseChange.effective_at < high, DoseChange.voided_at.is_(None))
        .order_by(DoseChange.pump_id, DoseChange.effective_at, DoseChange.id)
    ):
        by_pump.setdefault(change.pump_id, []).append(change)
    ledgers = {pump_id: _Ledger(changes) for pump_id, changes in by_pump.items()}
    stability = dict(
        session.execute(select(DrugConcentration.concentration_mcg_per_ml, DrugConcentration.stability_days)).all()
    )
    return {r.id: _due_before(r, ledgers.get(r.pump_id, _NO_LEDGER), stability, settings) for r in rows}


class _Ledger:
    """One pump's dose ledger, prepared once for all its refills: distinct instants, each entry's engine programme
    and a hashable summary of what it says."""

    def __init__(self, changes: list):
        self.changes = _ledger_for_engine(changes)
        self.times = [d.effective_at for d in self.changes]
        self.says = tuple(
            (
                d.effective_at,
                d.daily_dose_mcg,
                d.bolus_dose_mcg,
                d.max_boluses_per_day,
                json.dumps(d.flex_schedule, sort_keys=True) if d.flex_schedule else None,
            )
            for d in self.changes
        )
        self._programmes: dict[int, engine.DoseProgramme] = {}

    def between(self, fill_at: datetime, visit_at: datetime) -> slice:
        """The entry in force at the fill (the engine ignores earlier ones) up to, not including, any change made
        at the visit itself or later: those did not move the date that was due."""
        return slice(max(bisect_right(self.times, fill_at) - 1, 0), bisect_left(self.times, visit_at))

    def periods(self, part: slice) -> list[engine.DosePeriod]:
        out = []
        for d in self.changes[part]:
            if d.id not in self._programmes:
                self._programmes[d.id] = to_engine(d)
            out.append(engine.DosePeriod(d.effective_at, self._programmes[d.id]))
        return out


_NO_LEDGER = _Ledger([])

# Only refills recorded before RefillVisit.due_date_in_force existed come here.
# The projection is a pure function of its inputs, and the key below holds every input, so a remembered answer
# is always the right one; refills already judged are then not projected again on the next view. Bounded: cleared
# when full (a few hundred bytes an entry).
_DUE_MEMO: dict[tuple, date | None] = {}
_DUE_MEMO_MAX = 100_000


def _due_before(row, ledger: _Ledger, stability: dict[int, int], settings: dict) -> date | None:
    """The due date the stored schedule held just before this visit, recomputed (a legacy row stored none);
    None when it cannot be known."""
    if row.prev_at is None or row.prev_concentration not in stability:
        return None
    part = ledger.between(row.prev_at, row.visit_at)
    buffer, days, zone = buffer_days(settings, row), stability[row.prev_concentration], clinic_zone_name()
    key = (
        row.prev_at,
        row.prev_ml,
        row.prev_concentration,
        row.alarm_volume_ml,
        row.reservoir_ml,
        buffer,
        days,
        zone,
        ledger.says[part],
    )
    if key in _DUE_MEMO:
        return _DUE_MEMO[key]
    try:
        due = q.due_before_refill(
            engine.RefillInputs(
                fill_time=row.prev_at,
                reservoir_after_fill_ml=row.prev_ml,
                concentration_mcg_per_ml=row.prev_concentration,
                doses=ledger.periods(part),
                alarm_volume_ml=row.alarm_volume_ml,
                buffer_days=buffer,
                stability_days=days,
                reservoir_capacity_ml=row.reservoir_ml,
                tz=zone,
            )
        )
    except engine.RefillInputError:
        due = None  # e.g. no dose recorded before the previous fill (an import): not judged
    if len(_DUE_MEMO) >= _DUE_MEMO_MAX:
        _DUE_MEMO.clear()
    _DUE_MEMO[key] = due
    return due


def overdue_facts(
    session: Session, f: QualityFilters, today: date, now: datetime, windows: risk.Windows
) -> list[q.OverdueFact]:
    """Pumps the refill-risk model judges late today (empty, past alarm, overdue), booked or not: the worklist's
    rows and judgement. Read by due date up to today (the due date never comes after the alarm and empty dates);
    a booking inside that range can add pumps not late, which the model's status leaves out."""
    facts = worklist.refill_facts(
        session,
        today,
        now,
        windows,
        [f.location_id] if f.location_id else None,
        due_from=date(1900, 1, 1),
        due_to=today,
    )
    return [
        q.OverdueFact(r.patient_id, r.location_id, r.due_date, r.judgement.risk.status, r.judgement.risk.booking)
        for r in facts
        if r.judgement.risk.status in risk.LATE
    ]


def stage_facts(session: Session, f: QualityFilters) -> list[q.StageFact]:
    """Every active patient's current stage (today's state: the date range does not apply)."""
    query = _at_location(
        select(Patient.id, Patient.location_id, Patient.stage, Patient.stage_since).where(Patient.status == "active"), f
    )
    return [q.StageFact(*row) for row in session.execute(query)]


def trial_facts(session: Session, f: QualityFilters) -> list[q.TrialFact]:
    """Patients whose first (non-voided) entry into trial within the range starts the cohort, with every later
    move out of trial; one query."""
    entries = (
        select(StageEvent.patient_id, func.min(StageEvent.effective_date).label("started"))
        .where(
            StageEvent.to_stage == TRIAL,
            StageEvent.voided_at.is_(None),
            StageEvent.effective_date.between(f.start, f.end),
        )
        .group_by(StageEvent.patient_id)
        .subquery()
    )
    later = (
        select(
            StageEvent.patient_id, StageEvent.effective_date, StageEvent.from_stage, StageEvent.to_stage, StageEvent.id
        )
        .where(StageEvent.from_stage == TRIAL, StageEvent.voided_at.is_(None))
        .subquery()
    )
    query = _at_location(
        select(
            entries.c.patient_id,
            Patient.location_id,
            entries.c.started,
            later.c.effective_date,
            later.c.from_stage,
            later.c.to_stage,
        )
        .join(Patient, Patient.id == entries.c.patient_id)
        .outerjoin(later, and_(later.c.patient_id == entries.c.patient_id, later.c.effective_date >= entries.c.started))
        .order_by(entries.c.patient_id, later.c.effective_date, later.c.id),
        f,
    )
    grouped: dict[int, tuple[int, date, list]] = {}
    for patient_id, location_id, started, when, from_stage, to_stage in session.execute(query):
        _, _, events = grouped.setdefault(patient_id, (location_id, started, []))
        if when is not None:
            events.append((when, from_stage, to_stage))
    facts = []
    for patient_id, (location_id, started, events) in grouped.items():
        outcome, when = q.trial_outcome(started, events)
        facts.append(q.TrialFact(patient_id, location_id, started, outcome, when))
    return facts


def battery_facts(session: Session, f: QualityFilters, today: date, months: int) -> list[q.BatteryFact]:
    """Pumps in use for patients still on the refill list whose battery the model says is at its replacement
    indicator (ERI), past due or due within `months`; the query only narrows, refill_risk.battery_verdict judges."""
    query = _at_location(
        select(Pump.patient_id, Patient.location_id, Pump.battery_replacement_due, Pump.eri_on)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(
            Pump.explanted_on.is_(None),
            or_(Pump.battery_replacement_due <= risk.battery_horizon(today, months), Pump.eri_on <= today),
            or_(Patient.status == "active", Patient.exit_reason.in_(STILL_NEEDS_REFILLS)),
        ),
        f,
    )
    return q.battery_due(
        [
            q.BatteryFact(patient_id, location_id, due, risk.battery_verdict(risk.Battery(due, eri_on), today, months))
            for patient_id, location_id, due, eri_on in session.execute(query)
        ]
    )


def locations(session: Session) -> list[tuple[int, str]]:
    """Every location, by name (inactive ones too: past refills still belong to them)."""
    return [(i, n) for i, n in session.execute(select(Location.id, Location.name).order_by(Location.name))]


def location_name(session: Session, location_id: int | None) -> str | None:
    location = session.get(Location, location_id) if location_id else None
    return location.name if location else None


def patients_query(ids: set[int]) -> Select:
    """The patients behind a figure, by name, with location and nurse."""
    return (
        select(Patient)
        .where(Patient.id.in_(sorted(ids)))
        .options(joinedload(Patient.location), joinedload(Patient.nurse))
        .order_by(Patient.last_name, Patient.first_name, Patient.id)
    )


@dataclass
class Dashboard:
    """Every figure on the quality page, with the facts behind them (for drill-down and CSV)."""

    filters: QualityFilters
    today: date
    refills: list[q.RefillFact]
    overdue: list[q.OverdueFact]
    stage_facts: list[q.StageFact]
    trials: list[q.TrialFact]
    batteries: list[q.BatteryFact]
    battery_months: int
    location_names: dict[int, str]

    @cached_property
    def overall(self) -> q.Share:
        return q.on_time_share(self.refills)

    @cached_property
    def recomputed(self) -> int:
        """Refills in the range recorded before the due date was stored with each refill."""
        return sum(f.due_recomputed for f in self.refills)

    @cached_property
    def by_month(self) -> list[q.Share]:
        return q.on_time_by_month(self.refills, self.filters.start, self.filters.end)

    @cached_property
    def by_location(self) -> list[q.Share]:
        return q.on_time_by_location(self.refills, list(self.location_names.items()))

    @cached_property
    def buckets(self) -> list[q.Bucket]:
        return q.late_buckets(self.refills, self.overdue, self.today)

    @cached_property
    def late(self) -> list[q.LateRow]:
        """Pumps late today per status (most severe first), then all of them; each with how many are booked."""
        return q.late_rows(self.overdue)

    @property
    def late_total(self) -> q.LateRow:
        return self.late[-1]

    @cached_property
    def rates(self) -> list[q.Rate]:
        return q.warning_rates(self.refills)

    @cached_property
    def stages(self) -> list[q.StageRow]:
        return q.stage_rows(self.stage_facts, self.today)

    @cached_property
    def conversion(self) -> q.Conversion:
        return q.conversion(self.trials)

    @cached_property
    def batteries_by_month(self) -> list[tuple[str, str, int]]:
        """(row key, label, pumps): at ERI and past due first (when any), then each month to the horizon."""
        return q.battery_rows(self.batteries, self.today, self.battery_months)


def dashboard(session: Session, f: QualityFilters, today: date, now: datetime, settings: dict) -> Dashboard:
    """The quality page's figures for the filters; about ten queries whatever the clinic's size."""
    windows = risk_windows(session)
    months = windows.battery_warning_months
    return Dashboard(
        filters=f,
        today=today,
        refills=refill_facts(session, f, settings),
        overdue=overdue_facts(session, f, today, now, windows),
        stage_facts=stage_facts(session, f),
        trials=trial_facts(session, f),
        batteries=battery_facts(session, f, today, months),
        battery_months=months,
        location_names=dict(locations(session)),
    )
