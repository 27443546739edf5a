"""Everything the "Pump & refills" panel and the emergency summary show, read in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tracker.clinical import pump_events, refill_risk
from tracker.clinical import refill as engine
from tracker.models import DoseChange, Pump, RefillAppointment, RefillSchedule, RefillVisit
from tracker.services.bookings import open_appointment
from tracker.services.refills import _ledger_for_engine, drug_catalogue, projection_inputs, projection_start
from tracker.services.settings import all_settings, windows_from
from tracker.services.worklist import REASON_LABELS, Judgement, judge, open_work

CHART_FILLS = 6  # the plot covers the last few fills; the table lists more


@dataclass
class PumpPanel:
    pump: Pump
    schedule: RefillSchedule
    fills: list[RefillVisit]  # newest first
    doses: list[DoseChange]  # newest first
    volume_now_ml: object
    days_left: int
    chart: dict
    appointment: RefillAppointment | None
    judgement: Judgement  # the refill-risk model's, as on every other screen
    banners: list[refill_risk.Banner]
    windows: refill_risk.Windows

    @property
    def risk(self) -> refill_risk.RefillRisk:
        return self.judgement.risk

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
    def daily_volume_now_ml(self) -> Decimal:
        """The programmed dose now over the concentration now: after a dose change the stored schedule's rate is
        still the fill's average, which is not what the pump is doing today."""
        return (self.dose_now.daily_dose_mcg / self.last_fill.concentration_mcg_per_ml).quantize(Decimal("0.001"))


def pump_panel(session: Session, patient_id: int, now: datetime, today: date) -> PumpPanel | None:
    pump = session.scalars(
        select(Pump).where(Pump.patient_id == patient_id, Pump.explanted_on.is_(None))
        .options(joinedload(Pump.model), joinedload(Pump.surgery_centre), joinedload(Pump.patient))
        .order_by(Pump.id.desc()).limit(1)
    ).first()
    if pump is None:
        return None
    schedule = session.get(RefillSchedule, pump.id)
    fills = list(session.scalars(select(RefillVisit).where(RefillVisit.pump_id == pump.id)
                                 .options(joinedload(RefillVisit.clinician))
                                 .order_by(RefillVisit.visit_at.desc(), RefillVisit.id.desc())))
    doses = list(session.scalars(select(DoseChange).where(DoseChange.pump_id == pump.id)
                                 .options(joinedload(DoseChange.recorded_by), joinedload(DoseChange.signed_off_by))
                                 .order_by(DoseChange.effective_at.desc(), DoseChange.id.desc())))
    settings, drugs = all_settings(session), drug_catalogue(session)
    ledger = _ledger_for_engine(list(reversed(doses)))
    # From where the stored schedule starts: the last fill, or the moment it was emptied since (recompute_schedule).
    emptied_at = schedule.fill_at if schedule.binding_rule == pump_events.EMPTIED else None
    start = projection_start(fills[0], emptied_at)
    current = engine.project_refill(projection_inputs(session, pump, start, ledger, settings, drugs))
    last = current if start is fills[0] else engine.project_refill(
        projection_inputs(session, pump, fills[0], ledger, settings, drugs))
    chart = _chart(session, pump, fills, ledger, settings, drugs, last, now, emptied_at)
    appointment = open_appointment(session, patient_id)
    windows = windows_from(settings)
    judgement = judge(schedule.due_date, schedule.alarm_date, schedule.empty_date,
                      appointment.starts_at if appointment else None, pump.battery_replacement_due, pump.eri_on,
                      today, now, windows, work=open_work(session, pump_ids=[pump.id]).get(pump.id, ()))
    shown = refill_risk.banners(judgement.risk, judgement.dates, judgement.booking, today)
    return PumpPanel(pump, schedule, fills, doses, current.volume_at(now), current.days_left(today), chart,
                     appointment, judgement, shown, windows)


def _chart(session, pump, fills, ledger, settings, drugs, current, now, emptied_at=None) -> dict:
    """Projected volume day by day after each of the last fills, with the residuals measured at the next visit;
    the last fill's line drops to 0 where the pump was emptied since."""
    recent = list(reversed(fills[:CHART_FILLS]))
    labels, projected, measured = [], [], []
    for i, fill in enumerate(recent):
        projection = current if fill is fills[0] else engine.project_refill(
            projection_inputs(session, pump, fill, ledger, settings, drugs))
        until = recent[i + 1].visit_at if i + 1 < len(recent) else emptied_at or max(
            now, datetime.combine(projection.empty_date or projection.due_date, datetime.min.time(),
                                  fill.visit_at.tzinfo))
        days = int((until - fill.visit_at) / timedelta(days=1)) + 1
        times = [fill.visit_at + timedelta(days=n) for n in range(days) if fill.visit_at + timedelta(days=n) < until]
        residual = recent[i + 1].actual_residual_ml if i + 1 < len(recent) else None
        if residual is not None:
            times.append(recent[i + 1].visit_at)
        volumes = engine.volumes_at(projection, times)  # one pass, not one simulation per day
        labels += [t.date().isoformat() for t in times]
        projected += [float(v) for v in volumes]
        measured += [None] * (len(times) - (residual is not None)) + ([float(residual)] if residual is not None else [])
    if emptied_at is not None:
        labels.append(emptied_at.date().isoformat())
        projected.append(0.0)
        measured.append(None)
    return {"labels": labels, "projected": projected, "measured": measured,
            "alarm_ml": float(pump.alarm_volume_ml), "reservoir_ml": float(pump.reservoir_ml)}
