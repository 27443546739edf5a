"""Everything the "Pump & refills" panel and the emergency summary show, read in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tracker.clinical import refill as engine
from tracker.models import DoseChange, Pump, RefillSchedule, RefillVisit
from tracker.services.refills import _ledger_for_engine, projection_inputs
from tracker.services.settings import all_settings

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

    @property
    def dose_now(self) -> DoseChange:
        return self.doses[0]

    @property
    def last_fill(self) -> RefillVisit:
        return self.fills[0]


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
    settings = all_settings(session)
    ledger = _ledger_for_engine(list(reversed(doses)))
    current = engine.project_refill(projection_inputs(session, pump, fills[0], ledger, settings))
    chart = _chart(session, pump, fills, ledger, settings, current, now)
    return PumpPanel(pump, schedule, fills, doses, current.volume_at(now), current.days_left(today), chart)


def _chart(session, pump, fills, ledger, settings, current, now) -> dict:
    """Projected volume day by day after each of the last fills, with the residuals measured at the next visit."""
    recent = list(reversed(fills[:CHART_FILLS]))
    labels, projected, measured = [], [], []
    for i, fill in enumerate(recent):
        projection = current if fill is fills[0] else engine.project_refill(
            projection_inputs(session, pump, fill, ledger, settings))
        until = recent[i + 1].visit_at if i + 1 < len(recent) else max(
            now, datetime.combine(projection.empty_date or projection.due_date, datetime.min.time(),
                                  fill.visit_at.tzinfo))
        day = fill.visit_at
        while day < until:
            labels.append(day.date().isoformat())
            projected.append(float(projection.volume_at(day)))
            measured.append(None)
            day += timedelta(days=1)
        if i + 1 < len(recent) and recent[i + 1].actual_residual_ml is not None:
            labels.append(recent[i + 1].visit_at.date().isoformat())
            projected.append(float(projection.volume_at(recent[i + 1].visit_at)))
            measured.append(float(recent[i + 1].actual_residual_ml))
    return {"labels": labels, "projected": projected, "measured": measured,
            "alarm_ml": float(pump.alarm_volume_ml), "reservoir_ml": float(pump.reservoir_ml)}
