"""The facts behind the quality dashboard, read set-based: a fixed number of queries however many patients.

Each gather function returns plain facts for tracker/clinical/quality.py; the dashboard, its CSV tables and
its drill-down lists call the same functions with the same filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session, joinedload

from tracker.clinic_zone import clinic_zone
from tracker.clinical import quality, refill_risk
from tracker.clinical.journey import TRIAL
from tracker.models import Location, Patient, Pump, RefillVisit, StageEvent
from tracker.models.journey import STILL_NEEDS_REFILLS
from tracker.services import legacy_due_dates, worklist
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


def refill_facts(session: Session, f: QualityFilters, settings: dict) -> list[quality.RefillFact]:
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
        quality.RefillFact(
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
    """Visit id -> due date for the refills in range that stored none (tracker.services.legacy_due_dates)."""
    low, high = _utc_margin(f.start, f.end)
    pumps = _at_location(
        select(RefillVisit.pump_id)
        .join(Pump, Pump.id == RefillVisit.pump_id)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(in_range, RefillVisit.due_date_in_force.is_(None)),
        f,
    ).scalar_subquery()
    return legacy_due_dates.recomputed_due_dates(session, pumps, low, high, settings)


def overdue_facts(
    session: Session, f: QualityFilters, today: date, now: datetime, windows: refill_risk.Windows
) -> list[quality.OverdueFact]:
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
        quality.OverdueFact(r.patient_id, r.location_id, r.due_date, r.judgement.risk.status, r.judgement.risk.booking)
        for r in facts
        if r.judgement.risk.status in refill_risk.LATE
    ]


def stage_facts(session: Session, f: QualityFilters) -> list[quality.StageFact]:
    """Every active patient's current stage (today's state: the date range does not apply)."""
    query = _at_location(
        select(Patient.id, Patient.location_id, Patient.stage, Patient.stage_since).where(Patient.status == "active"), f
    )
    return [quality.StageFact(*row) for row in session.execute(query)]


def trial_facts(session: Session, f: QualityFilters) -> list[quality.TrialFact]:
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
        outcome, when = quality.trial_outcome(started, events)
        facts.append(quality.TrialFact(patient_id, location_id, started, outcome, when))
    return facts


def battery_facts(session: Session, f: QualityFilters, today: date, months: int) -> list[quality.BatteryFact]:
    """Pumps in use for patients still on the refill list whose battery the model says is at its replacement
    indicator (ERI), past due or due within `months`; the query only narrows, refill_risk.battery_verdict judges."""
    query = _at_location(
        select(Pump.patient_id, Patient.location_id, Pump.battery_replacement_due, Pump.eri_on)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(
            Pump.explanted_on.is_(None),
            or_(Pump.battery_replacement_due <= refill_risk.battery_horizon(today, months), Pump.eri_on <= today),
            or_(Patient.status == "active", Patient.exit_reason.in_(STILL_NEEDS_REFILLS)),
        ),
        f,
    )
    return quality.battery_due(
        [
            quality.BatteryFact(
                patient_id,
                location_id,
                due,
                refill_risk.battery_verdict(refill_risk.Battery(due, eri_on), today, months),
            )
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
    refills: list[quality.RefillFact]
    overdue: list[quality.OverdueFact]
    stage_facts: list[quality.StageFact]
    trials: list[quality.TrialFact]
    batteries: list[quality.BatteryFact]
    battery_months: int
    location_names: dict[int, str]

    @cached_property
    def overall(self) -> quality.Share:
        return quality.on_time_share(self.refills)

    @cached_property
    def recomputed(self) -> int:
        """Refills in the range recorded before the due date was stored with each refill."""
        return sum(f.due_recomputed for f in self.refills)

    @cached_property
    def by_month(self) -> list[quality.Share]:
        return quality.on_time_by_month(self.refills, self.filters.start, self.filters.end)

    @cached_property
    def by_location(self) -> list[quality.Share]:
        return quality.on_time_by_location(self.refills, list(self.location_names.items()))

    @cached_property
    def buckets(self) -> list[quality.Bucket]:
        return quality.late_buckets(self.refills, self.overdue, self.today)

    @cached_property
    def late(self) -> list[quality.LateRow]:
        """Pumps late today per status (most severe first), then all of them; each with how many are booked."""
        return quality.late_rows(self.overdue)

    @property
    def late_total(self) -> quality.LateRow:
        return self.late[-1]

    @cached_property
    def rates(self) -> list[quality.Rate]:
        return quality.warning_rates(self.refills)

    @cached_property
    def stages(self) -> list[quality.StageRow]:
        return quality.stage_rows(self.stage_facts, self.today)

    @cached_property
    def conversion(self) -> quality.Conversion:
        return quality.conversion(self.trials)

    @cached_property
    def batteries_by_month(self) -> list[tuple[str, str, int]]:
        """(row key, label, pumps): at ERI and past due first (when any), then each month to the horizon."""
        return quality.battery_rows(self.batteries, self.today, self.battery_months)


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
