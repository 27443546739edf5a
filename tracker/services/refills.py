"""Each pump's stored refill schedule, kept true: the dose programme as the engine takes it, the engine's inputs
from a pump's last fill and dose ledger, and `recompute_schedule`, which every write that can move a date calls
in the same transaction (a fill, a dose change, an implant, a setting, a pump emptied before an MRI). Implanting
a pump is in tracker.services.pumps, dose changes in tracker.services.doses, refill visits in
tracker.services.refill_visits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone_name, local_date
from tracker.clinical import pump_events, refill, refill_checks
from tracker.clinical.row_values import schedule_values
from tracker.models import (
    DoseChange,
    DrugConcentration,
    Patient,
    Pump,
    PumpEvent,
    RefillSchedule,
    RefillVisit,
)
from tracker.services import DomainError
from tracker.services.settings import all_settings


@dataclass(frozen=True)
class Programme:
    """A dose programme as the forms give it."""

    daily_dose_mcg: Decimal
    bolus_dose_mcg: Decimal = Decimal(0)
    max_boluses_per_day: int = 0
    flex_schedule: dict | None = None  # {"default": [["00:00", "12.5"], ...], "by_weekday": {"5": [...]}}


def _steps(rows) -> list[refill.FlexStep]:
    return [refill.FlexStep(time.fromisoformat(start), Decimal(rate)) for start, rate in rows]


def to_engine(p: Programme | DoseChange) -> refill.DoseProgramme:
    boluses = {"bolus_dose_mcg": p.bolus_dose_mcg or Decimal(0), "max_boluses_per_day": p.max_boluses_per_day or 0}
    if p.flex_schedule:
        by_day = {int(day): _steps(rows) for day, rows in (p.flex_schedule.get("by_weekday") or {}).items()}
        return refill.DoseProgramme(
            flex_steps=_steps(p.flex_schedule.get("default") or []), flex_by_weekday=by_day, **boluses
        )
    return refill.DoseProgramme(daily_dose_mcg=p.daily_dose_mcg, **boluses)


MIN_DAILY_DOSE_MCG = Decimal(1)


def programmed_daily_dose(p: Programme) -> Decimal:
    """The resulting programmed dose per day (flex: mean over the week, without boluses), to 0.01 mcg."""
    prog = to_engine(Programme(p.daily_dose_mcg, flex_schedule=p.flex_schedule))
    mean = prog.average_daily_dose_mcg()
    dose = (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(Decimal("0.01"))
    if dose < MIN_DAILY_DOSE_MCG:
        raise DomainError("The programme must deliver at least 1 mcg a day.", "flex_schedule")
    return dose


def worst_case_daily_mcg(change: DoseChange | Programme, programmed: Decimal) -> Decimal:
    """Programmed dose plus every permitted bolus: what the titration limit is about."""
    return programmed + (change.bolus_dose_mcg or Decimal(0)) * (change.max_boluses_per_day or 0)


def drug_catalogue(session: Session) -> dict[int, DrugConcentration]:
    """Every concentration, by mcg/mL: for pages projecting several fills (one query, not one a fill)."""
    return {d.concentration_mcg_per_ml: d for d in session.scalars(select(DrugConcentration))}


def _stability_days(session: Session, concentration: int, drugs: dict[int, DrugConcentration] | None = None) -> int:
    drug = (
        drugs.get(concentration)
        if drugs is not None
        else session.scalar(
            select(DrugConcentration).where(DrugConcentration.concentration_mcg_per_ml == concentration)
        )
    )
    if drug is None or not drug.active:
        raise DomainError(f"{concentration} mcg/mL is not in the drug catalogue.", "concentration_mcg_per_ml")
    return drug.stability_days


def buffer_days(settings: dict, patient: Patient) -> int:
    return settings["high_risk_buffer_days" if patient.withdrawal_risk else "safety_buffer_days"]


def residual_found(
    pump: Pump, fill: RefillVisit, previous: RefillVisit | None, settings: dict
) -> refill_checks.Discrepancy | None:
    """The residual this fill's visit (a RefillVisit, or a refill form's entry: same fields) found against the
    previous fill's programme; None at implant or when no residual was recorded."""
    if previous is None or fill.expected_residual_ml is None or fill.actual_residual_ml is None:
        return None
    return refill_checks.discrepancy(
        previous.resulting_volume_ml,
        fill.expected_residual_ml,
        fill.actual_residual_ml,
        settings["residual_discrepancy_ml"],
        pump.model.accuracy_fraction,
    )


def projection_inputs(
    session: Session,
    pump: Pump,
    fill: RefillVisit,
    ledger: list[DoseChange],
    settings: dict,
    drugs: dict[int, DrugConcentration] | None = None,
    *,
    previous: RefillVisit | None,
) -> refill.RefillInputs:
    """The engine's inputs for the interval after `fill`; `previous` is the fill before it (None for the first),
    whose residual decides whether the interval runs at the measured rate."""
    volume, volume_note = refill_checks.fill_volume(fill.volume_added_ml, fill.resulting_volume_ml)
    factor, rate_note = refill_checks.measured_rate(residual_found(pump, fill, previous, settings))
    return refill.RefillInputs(
        fill_time=fill.visit_at,
        reservoir_after_fill_ml=volume,
        concentration_mcg_per_ml=fill.concentration_mcg_per_ml,
        doses=[refill.DosePeriod(d.effective_at, to_engine(d)) for d in ledger],
        alarm_volume_ml=pump.alarm_volume_ml,
        buffer_days=buffer_days(settings, pump.patient),
        stability_days=_stability_days(session, fill.concentration_mcg_per_ml, drugs),
        reservoir_capacity_ml=pump.reservoir_ml,
        tz=clinic_zone_name(),
        rate_factor=factor,
        notes=tuple(note for note in (rate_note, volume_note) if note),
    )


def recent_fills(session: Session, pump_id: int, count: int) -> list[RefillVisit]:
    """The pump's last `count` fills that stand (voided ones are mistakes), newest first."""
    return list(
        session.scalars(
            select(RefillVisit)
            .where(RefillVisit.pump_id == pump_id, RefillVisit.voided_at.is_(None))
            .order_by(RefillVisit.visit_at.desc(), RefillVisit.id.desc())
            .limit(count)
        )
    )


def last_fill(session: Session, pump_id: int) -> RefillVisit | None:
    """The latest fill that stands (a voided one is a mistake: the projection never starts from it)."""
    return next(iter(recent_fills(session, pump_id, 1)), None)


def latest_emptying(session: Session, pump_id: int) -> datetime | None:
    """When the pump was last emptied (before an MRI), whenever it was; projection_start decides if it counts."""
    return session.scalar(
        select(func.max(PumpEvent.occurred_at)).where(PumpEvent.pump_id == pump_id, PumpEvent.empties_pump.is_(True))
    )


def projection_start(fill: RefillVisit, latest_emptying: datetime | None) -> RefillVisit:
    """What the projection starts from: the last fill, or, when the pump was emptied after it, an empty reservoir
    from that moment (pump_events.emptied_since), so every screen judges it empty until the next fill."""
    emptied_at = pump_events.emptied_since(fill.visit_at, [latest_emptying] if latest_emptying else [])
    if emptied_at is None:
        return fill
    return RefillVisit(
        visit_at=emptied_at,
        volume_added_ml=Decimal(0),
        resulting_volume_ml=Decimal(0),
        concentration_mcg_per_ml=fill.concentration_mcg_per_ml,
    )


def dose_ledger(session: Session, pump_id: int) -> list[DoseChange]:
    """The dose changes that stand, oldest first (voided ones never reach the engine or the titration limit)."""
    return list(
        session.scalars(
            select(DoseChange)
            .where(DoseChange.pump_id == pump_id, DoseChange.voided_at.is_(None))
            .order_by(DoseChange.effective_at, DoseChange.id)
        )
    )


def _ledger_for_engine(ledger: list[DoseChange]) -> list[DoseChange]:
    """Two entries at one instant: the later-recorded one stands (the engine wants distinct times)."""
    latest = {}
    for change in ledger:
        latest[change.effective_at] = change
    return list(latest.values())


def recompute_schedule(session: Session, pump: Pump, settings: dict | None = None) -> RefillSchedule | None:
    """Rewrite the pump's stored schedule from its last fill, dose ledger and the settings."""
    if pump.explanted_on is not None:
        session.execute(delete(RefillSchedule).where(RefillSchedule.pump_id == pump.id))
        return None
    settings = settings or all_settings(session)
    fill, *before = recent_fills(session, pump.id, 2)
    start = projection_start(fill, latest_emptying(session, pump.id))
    ledger = _ledger_for_engine(dose_ledger(session, pump.id))
    # An emptied pump projects from 0 mL: alarm, empty and due dates all fall on the day it was emptied; the
    # measured rate belongs to a fill's interval, not to an empty reservoir.
    inputs = projection_inputs(
        session, pump, start, ledger, settings, previous=next(iter(before), None) if start is fill else None
    )
    projection = refill.project_refill(inputs)
    # A new row takes the patient's clinic; afterwards the database keeps it equal (tracker.models.pumps).
    row = session.get(RefillSchedule, pump.id) or RefillSchedule(
        pump_id=pump.id, patient_id=pump.patient_id, location_id=pump.patient.location_id
    )
    values = schedule_values(projection, start.visit_at, inputs.reservoir_after_fill_ml, datetime.now(UTC))
    for name, value in values.items():
        setattr(row, name, value)
    if start is not fill:
        row.binding_rule = pump_events.EMPTIED
        row.explanation = pump_events.emptied_explanation(local_date(start.visit_at))
    session.add(row)
    return row


def current_pump(session: Session, patient_id: int) -> Pump | None:
    return session.scalars(
        select(Pump).where(Pump.patient_id == patient_id, Pump.explanted_on.is_(None)).order_by(Pump.id.desc()).limit(1)
    ).first()


def schedule_violations(session: Session) -> list[int]:
    """Pumps breaking the safety invariant: every pump in use for an active patient has exactly one stored
    schedule (the primary key makes "more than one" impossible), and no explanted pump keeps one."""
    missing = (
        select(Pump.id)
        .join(Patient, Patient.id == Pump.patient_id)
        .outerjoin(RefillSchedule, RefillSchedule.pump_id == Pump.id)
        .where(Pump.explanted_on.is_(None), Patient.status == "active", RefillSchedule.pump_id.is_(None))
    )
    # (Exited patients keep their schedule row; whether they stay on the lists is Patient.on_refill_list.)
    stale = (
        select(Pump.id).join(RefillSchedule, RefillSchedule.pump_id == Pump.id).where(Pump.explanted_on.is_not(None))
    )
    return sorted(set(session.scalars(missing)) | set(session.scalars(stale)))
