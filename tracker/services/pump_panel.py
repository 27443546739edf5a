"""Everything the "Pump & refills" panel and the emergency summary show, read in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tracker.clinic_zone import local_date
from tracker.clinical import pump_events, refill, refill_checks, refill_risk
from tracker.formats import fmt_date
from tracker.models import DoseChange, Pump, PumpCorrection, RefillAppointment, RefillSchedule, RefillVisit
from tracker.services.bookings import open_appointment
from tracker.services.pump_corrections import FIELDS as CORRECTED_FIELDS
from tracker.services.refill_list_queries import open_work
from tracker.services.refills import (
    _ledger_for_engine,
    drug_catalogue,
    projection_inputs,
    projection_start,
    residual_found,
)
from tracker.services.settings import all_settings, windows_from
from tracker.services.worklist import REASON_LABELS, Judgement, judge

CHART_FILLS = 6  # the plot covers the last few fills; the table lists more
TREND_VISITS = 8  # the residual trend: enough visits to see a pump drifting


@dataclass(frozen=True)
class ResidualPoint:
    """One refill's residual against the programme since the fill before (the trend across visits)."""

    visit: RefillVisit
    found: refill_checks.Discrepancy
    bar_pct: Decimal  # half-bar length, 0-50 % of the row: the gap on a scale of twice the pump's accuracy

    @property
    def verdict(self) -> str:
        if self.found.over_infusion:
            return "over"  # more used than programmed, beyond the rules
        return "under" if self.found.flagged else "within"


@dataclass(frozen=True)
class ConcentrationChange:
    """The refill that put today's concentration in the pump, and what was there before: the catheter held the
    old drug from then until the bridge bolus (or its absence) played out."""

    visit: RefillVisit  # its bridge_bolus_mcg, or bridge_bolus_reason for none
    previous_mcg_per_ml: int


def concentration_change(fills: list[RefillVisit]) -> ConcentrationChange | None:
    """The latest change of concentration among the fills (newest first); None when it never changed."""
    for newer, older in pairwise(fills):
        if newer.concentration_mcg_per_ml != older.concentration_mcg_per_ml:
            return ConcentrationChange(newer, older.concentration_mcg_per_ml)
    return None


def residual_point(visit: RefillVisit, found: refill_checks.Discrepancy, accuracy_pct: Decimal) -> ResidualPoint:
    share = abs(found.percent_of_programmed or 0)
    return ResidualPoint(visit, found, min(Decimal(50), share * 25 / accuracy_pct) if accuracy_pct else Decimal(0))


@dataclass
class PumpPanel:
    pump: Pump
    schedule: RefillSchedule
    fills: list[RefillVisit]  # newest first, those that stand (what the projection and the chart read)
    doses: list[DoseChange]  # newest first, those that stand
    volume_now_ml: object
    days_left: int
    chart: dict
    appointment: RefillAppointment | None
    judgement: Judgement  # the refill-risk model's, as on every other screen
    banners: list[refill_risk.Banner]
    windows: refill_risk.Windows
    residual_trend: list[ResidualPoint]  # oldest first
    accuracy_pct: Decimal  # the pump model's bound, for the trend's band
    # For the tables: every entry, newest first, voided ones included (struck through), and the corrected
    # implant details and ERI dates, newest first.
    fill_history: list[RefillVisit] = field(default_factory=list)
    dose_history: list[DoseChange] = field(default_factory=list)
    corrections: list[PumpCorrection] = field(default_factory=list)

    @property
    def correction_labels(self) -> dict[str, str]:
        return CORRECTED_FIELDS

    @property
    def corrected_ids(self) -> set[int]:
        """Entries voided by a correction (the rest of the voided ones were voided outright)."""
        return {e.corrects_id for e in [*self.fill_history, *self.dose_history] if e.corrects_id is not None}

    @property
    def risk(self) -> refill_risk.RefillRisk:
        return self.judgement.risk

    @property
    def chart_rows(self) -> list[tuple[str, float, float | None]]:
        """The chart's own series as table rows (day as the chart labels it, projected mL, measured residual mL)
        for screen readers."""
        c = self.chart
        return list(zip(c["labels"], c["projected"], c["measured"], strict=True))

    @property
    def labels(self) -> dict[str, str]:
        return REASON_LABELS

    @property
    def emptied(self) -> bool:
        """Emptied (before an MRI) since its last fill: it holds no drug until refilled."""
        return self.schedule.binding_rule == pump_events.EMPTIED

    @property
    def work(self) -> tuple[pump_events.OpenWork, ...]:
        """Open device-event work, as the worklist judges it."""
        return self.judgement.work

    @property
    def dose_now(self) -> DoseChange:
        return self.doses[0]

    @property
    def last_fill(self) -> RefillVisit:
        return self.fills[0]

    @property
    def concentration_change(self) -> ConcentrationChange | None:
        return concentration_change(self.fills)

    @property
    def daily_volume_now_ml(self) -> Decimal:
        """The programmed dose now over the concentration now: after a dose change the stored schedule's rate is
        still the fill's average, which is not what the pump is doing today."""
        return (self.dose_now.daily_dose_mcg / self.last_fill.concentration_mcg_per_ml).quantize(Decimal("0.001"))


def pump_panel(session: Session, patient_id: int, now: datetime, today: date) -> PumpPanel | None:
    pump = session.scalars(
        select(Pump)
        .where(Pump.patient_id == patient_id, Pump.explanted_on.is_(None))
        .options(joinedload(Pump.model), joinedload(Pump.surgery_centre), joinedload(Pump.patient))
        .order_by(Pump.id.desc())
        .limit(1)
    ).first()
    if pump is None:
        return None
    schedule = session.get(RefillSchedule, pump.id)
    fill_history = list(
        session.scalars(
            select(RefillVisit)
            .where(RefillVisit.pump_id == pump.id)
            .options(joinedload(RefillVisit.clinician), joinedload(RefillVisit.voided_by))
            .order_by(RefillVisit.visit_at.desc(), RefillVisit.id.desc())
        )
    )
    dose_history = list(
        session.scalars(
            select(DoseChange)
            .where(DoseChange.pump_id == pump.id)
            .options(
                joinedload(DoseChange.recorded_by),
                joinedload(DoseChange.signed_off_by),
                joinedload(DoseChange.voided_by),
            )
            .order_by(DoseChange.effective_at.desc(), DoseChange.id.desc())
        )
    )
    fills = [f for f in fill_history if not f.voided]
    doses = [d for d in dose_history if not d.voided]
    corrections = list(
        session.scalars(
            select(PumpCorrection)
            .where(PumpCorrection.pump_id == pump.id)
            .options(joinedload(PumpCorrection.corrected_by))
            .order_by(PumpCorrection.id.desc())
        )
    )
    settings, drugs = all_settings(session), drug_catalogue(session)
    ledger = _ledger_for_engine(list(reversed(doses)))
    # From where the stored schedule starts: the last fill, or the moment it was emptied since (recompute_schedule).
    emptied_at = schedule.fill_at if schedule.binding_rule == pump_events.EMPTIED else None
    start = projection_start(fills[0], emptied_at)
    current = refill.project_refill(
        projection_inputs(
            session, pump, start, ledger, settings, drugs, previous=_before(fills, 0) if start is fills[0] else None
        )
    )
    last = (
        current
        if start is fills[0]
        else refill.project_refill(
            projection_inputs(session, pump, fills[0], ledger, settings, drugs, previous=_before(fills, 0))
        )
    )
    chart = _chart(session, pump, fills, ledger, settings, drugs, last, now, emptied_at)
    appointment = open_appointment(session, patient_id)
    windows = windows_from(settings)
    judgement = judge(
        schedule.due_date,
        schedule.alarm_date,
        schedule.empty_date,
        appointment.starts_at if appointment else None,
        pump.battery_replacement_due,
        pump.eri_on,
        today,
        now,
        windows,
        work=open_work(session, pump_ids=[pump.id]).get(pump.id, ()),
    )
    shown = refill_risk.banners(judgement.risk, judgement.dates, judgement.booking, today)
    accuracy_pct = (pump.model.accuracy_fraction * 100).normalize()
    trend = [
        residual_point(fill, found, accuracy_pct)
        for i, fill in enumerate(fills[:TREND_VISITS])
        if (found := residual_found(pump, fill, _before(fills, i), settings)) is not None
    ]
    return PumpPanel(
        pump,
        schedule,
        fills,
        doses,
        current.volume_at(now),
        current.days_left(today),
        chart,
        appointment,
        judgement,
        shown,
        windows,
        list(reversed(trend)),
        accuracy_pct,
        fill_history,
        dose_history,
        corrections,
    )


def _before(fills: list[RefillVisit], i: int) -> RefillVisit | None:
    """The fill before fills[i] (fills are newest first)."""
    return fills[i + 1] if i + 1 < len(fills) else None


def _chart(session, pump, fills, ledger, settings, drugs, current, now, emptied_at=None) -> dict:
    """Projected volume day by day after each of the last fills, with the residuals measured at the next visit;
    the last fill's line drops to 0 where the pump was emptied since."""
    recent = list(reversed(fills[:CHART_FILLS]))
    labels, projected, measured = [], [], []
    for i, fill in enumerate(recent):
        projection = (
            current
            if fill is fills[0]
            else refill.project_refill(
                projection_inputs(
                    session, pump, fill, ledger, settings, drugs, previous=_before(fills, fills.index(fill))
                )
            )
        )
        until = (
            recent[i + 1].visit_at
            if i + 1 < len(recent)
            else emptied_at
            or max(
                now,
                datetime.combine(
                    projection.empty_date or projection.due_date, datetime.min.time(), fill.visit_at.tzinfo
                ),
            )
        )
        days = int((until - fill.visit_at) / timedelta(days=1)) + 1
        times = [fill.visit_at + timedelta(days=n) for n in range(days) if fill.visit_at + timedelta(days=n) < until]
        residual = recent[i + 1].actual_residual_ml if i + 1 < len(recent) else None
        if residual is not None:
            times.append(recent[i + 1].visit_at)
        volumes = refill.volumes_at(projection, times)  # one pass, not one simulation per day
        labels += [fmt_date(local_date(t)) for t in times]
        projected += [float(v) for v in volumes]
        measured += [None] * (len(times) - (residual is not None)) + ([float(residual)] if residual is not None else [])
    if emptied_at is not None:
        labels.append(fmt_date(local_date(emptied_at)))
        projected.append(0.0)
        measured.append(None)
    return {
        "labels": labels,
        "projected": projected,
        "measured": measured,
        "alarm_ml": float(pump.alarm_volume_ml),
        "reservoir_ml": float(pump.reservoir_ml),
    }
