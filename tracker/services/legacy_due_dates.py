"""Due dates recomputed for refills recorded before RefillVisit.due_date_in_force existed (the quality dashboard's
"refilled after due" for legacy rows): the refill engine run again from each pump's previous fill and dose ledger."""

from __future__ import annotations

import json
from bisect import bisect_left, bisect_right
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone_name
from tracker.clinical import quality, refill
from tracker.models import DoseChange, DrugConcentration, Patient, Pump, RefillVisit
from tracker.models.pumps import ML
from tracker.models.types import UTCDateTime
from tracker.services.refills import _ledger_for_engine, buffer_days, to_engine


def recomputed_due_dates(
    session: Session, pumps, low: datetime, high: datetime, settings: dict
) -> dict[int, date | None]:
    """Visit id -> due date for the refills of `pumps` (a subquery) visited between `low` and `high` (UTC) that
    stored none, projected again by the refill engine from the pump's previous fill and the dose changes that took
    effect before the visit, with today's settings (buffer, drug stability, alarm volume).

    Three queries, over the pumps with such refills only: their visits with the previous fill (a window
    function), their dose ledgers, the drug catalogue."""
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
        self._programmes: dict[int, refill.DoseProgramme] = {}

    def between(self, fill_at: datetime, visit_at: datetime) -> slice:
        """The entry in force at the fill (the engine ignores earlier ones) up to, not including, any change made
        at the visit itself or later: those did not move the date that was due."""
        return slice(max(bisect_right(self.times, fill_at) - 1, 0), bisect_left(self.times, visit_at))

    def periods(self, part: slice) -> list[refill.DosePeriod]:
        out = []
        for d in self.changes[part]:
            if d.id not in self._programmes:
                self._programmes[d.id] = to_engine(d)
            out.append(refill.DosePeriod(d.effective_at, self._programmes[d.id]))
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
        due = quality.due_before_refill(
            refill.RefillInputs(
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
    except refill.RefillInputError:
        due = None  # e.g. no dose recorded before the previous fill (an import): not judged
    if len(_DUE_MEMO) >= _DUE_MEMO_MAX:
        _DUE_MEMO.clear()
    _DUE_MEMO[key] = due
    return due
