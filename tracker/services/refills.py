"""Pumps and refills: implant a pump, change the dose, record a refill, and keep each pump's stored refill
schedule true. Every write that can move a date calls `recompute_schedule` in the same transaction: a fill, a dose
change, a setting, and a pump emptied before an MRI (tracker.services.pump_events)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone_name, local_date, start_of_day
from tracker.clinical import pump_events
from tracker.clinical import refill as engine
from tracker.clinical.corrections import battery_due_with_eri
from tracker.clinical.dosing import (
    TitrationLimit,
    age_in_years,
    dose_change_warnings,
    needs_physician_sign_off,
    recent_doses,
    titration_limit,
)
from tracker.clinical.implant import NONE, StartGuide, TrialBolusResult, needs_sign_off, start_guide
from tracker.clinical.pump_events import CHECK_AFTER, EMPTY_BEFORE
from tracker.clinical.row_values import dose_values, pump_values, schedule_values
from tracker.formats import fmt_date
from tracker.models import (
    DoseChange,
    DrugConcentration,
    Patient,
    Pump,
    PumpEvent,
    PumpModel,
    RefillSchedule,
    RefillVisit,
    TrialBolus,
)
from tracker.policy import allowed
from tracker.services import Actor, DomainError, NeedsPhysician, PermissionDenied, StaleEdit, lock_row
from tracker.services.audit import record, snapshot
from tracker.services.settings import all_settings, implant_rules, titration_rules

# Catalogue defaults from domain.md; clinics edit them on the settings pages.
PUMP_MODELS = [
    # name, reservoir mL, default alarm mL, battery months and days from ERI to stop (None: no battery-driven
    # pump), accuracy, what an MRI means (domain.md 7)
    ("SynchroMed II 20 mL", "20", "2", 84, 90, "0.145", CHECK_AFTER),
    ("SynchroMed II 40 mL", "40", "2", 84, 90, "0.145", CHECK_AFTER),
    ("Prometra 20 mL", "20", "3", None, None, "0.145", EMPTY_BEFORE),
    ("Prometra II 20 mL", "20", "3", None, None, "0.145", EMPTY_BEFORE),
    ("Prometra II 40 mL", "40", "3", None, None, "0.145", EMPTY_BEFORE),
]
DRUGS = [(50, 180, True), (500, 180, False), (1000, 180, False), (2000, 180, False)]


def ensure_catalogues(session: Session) -> None:
    """Add the default pump models and concentrations when the catalogues are empty."""
    if session.scalar(select(PumpModel.id).limit(1)) is None:
        for name, reservoir, alarm, battery, eri_to_stop, accuracy, mri_rule in PUMP_MODELS:
            session.add(
                PumpModel(
                    name=name,
                    reservoir_ml=Decimal(reservoir),
                    default_alarm_ml=Decimal(alarm),
                    battery_life_months=battery,
                    eri_to_stop_days=eri_to_stop,
                    accuracy_fraction=Decimal(accuracy),
                    mri_rule=mri_rule,
                )
            )
    if session.scalar(select(DrugConcentration.id).limit(1)) is None:
        for concentration, stability, trial_only in DRUGS:
            session.add(
                DrugConcentration(
                    concentration_mcg_per_ml=concentration, stability_days=stability, trial_only=trial_only
                )
            )
    session.flush()


@dataclass(frozen=True)
class Programme:
    """A dose programme as the forms give it."""

    daily_dose_mcg: Decimal
    bolus_dose_mcg: Decimal = Decimal(0)
    max_boluses_per_day: int = 0
    flex_schedule: dict | None = None  # {"default": [["00:00", "12.5"], ...], "by_weekday": {"5": [...]}}


def _steps(rows) -> list[engine.FlexStep]:
    return [engine.FlexStep(time.fromisoformat(start), Decimal(rate)) for start, rate in rows]


def to_engine(p: Programme | DoseChange) -> engine.DoseProgramme:
    boluses = {"bolus_dose_mcg": p.bolus_dose_mcg or Decimal(0), "max_boluses_per_day": p.max_boluses_per_day or 0}
    if p.flex_schedule:
        by_day = {int(day): _steps(rows) for day, rows in (p.flex_schedule.get("by_weekday") or {}).items()}
        return engine.DoseProgramme(
            flex_steps=_steps(p.flex_schedule.get("default") or []), flex_by_weekday=by_day, **boluses
        )
    return engine.DoseProgramme(daily_dose_mcg=p.daily_dose_mcg, **boluses)


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
) -> engine.Discrepancy | None:
    """The residual this fill's visit (a RefillVisit, or a refill form's entry: same fields) found against the
    previous fill's programme; None at implant or when no residual was recorded."""
    if previous is None or fill.expected_residual_ml is None or fill.actual_residual_ml is None:
        return None
    return engine.discrepancy(
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
) -> engine.RefillInputs:
    """The engine's inputs for the interval after `fill`; `previous` is the fill before it (None for the first),
    whose residual decides whether the interval runs at the measured rate."""
    volume, volume_note = engine.fill_volume(fill.volume_added_ml, fill.resulting_volume_ml)
    factor, rate_note = engine.measured_rate(residual_found(pump, fill, previous, settings))
    return engine.RefillInputs(
        fill_time=fill.visit_at,
        reservoir_after_fill_ml=volume,
        concentration_mcg_per_ml=fill.concentration_mcg_per_ml,
        doses=[engine.DosePeriod(d.effective_at, to_engine(d)) for d in ledger],
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
    projection = engine.project_refill(inputs)
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


@dataclass(frozen=True)
class ImplantDetails:
    model_id: int
    serial: str
    catheter_tip_level: str
    alarm_volume_ml: Decimal | None
    fill_volume_ml: Decimal
    concentration_mcg_per_ml: int
    programme: Programme


@dataclass(frozen=True)
class ImplantCheck:
    """A starting dose judged against its guide (the trial's, or the old pump's for a replacement)."""

    guide: StartGuide
    start_worst_mcg: Decimal | None = None
    sign_off: bool = False


def check_implant_start(
    session: Session, patient: Patient, implanted_on: date, programme: Programme | None = None
) -> ImplantCheck:
    """The starting dose guide on `implanted_on` (for the form before anything is typed) and, given a programme,
    whether it needs a physician's sign-off. Call it before the old pump is explanted."""
    settings = all_settings(session)
    old = current_pump(session, patient.id)
    replacing = None
    if old is not None:
        # As at a dose change (check_dose): the lowest worst-case dose the old pump gave in the 24 h before the
        # implant day, or its last dose if lower (a change on the day itself).
        ledger = [(d.effective_at, worst_case_daily_mcg(d, d.daily_dose_mcg)) for d in dose_ledger(session, old.id)]
        baseline = min(
            recent_doses(ledger, start_of_day(implanted_on)) + [dose for _, dose in ledger[-1:]], default=None
        )
        rules = titration_rules(settings)
        child = age_in_years(patient.date_of_birth, implanted_on) < rules.paediatric_age_years
        replacing = titration_limit(baseline, patient.spasticity_origin, child, rules)
    boluses = [
        TrialBolusResult(b.given_on, b.dose_mcg, b.hours_of_effect, b.outcome)
        for b in session.scalars(
            select(TrialBolus).where(
                TrialBolus.patient_id == patient.id,
                TrialBolus.outcome == "positive",
                TrialBolus.given_on >= patient.journey_started,
            )
        )
    ]
    guide = start_guide(boluses, replacing, implant_rules(settings))
    if programme is None:
        return ImplantCheck(guide)
    worst = worst_case_daily_mcg(programme, programmed_daily_dose(programme))
    return ImplantCheck(guide, worst, needs_sign_off(guide, worst))


def implant_pump(
    session: Session,
    actor: Actor,
    patient: Patient,
    implanted_on: date,
    surgery_centre_id: int,
    details: ImplantDetails,
) -> Pump:
    """The pump placed at implantation, its first fill and starting dose; a replacement explants the old one.
    A start above its guide needs a physician (one recording it signs off); that refusal comes after every other
    check, so a nurse refused for it can send the same entry for sign-off (tracker.services.escalation)."""
    model = session.get(PumpModel, details.model_id)
    if model is None or not model.active:
        raise DomainError("Choose the pump model.", "model_id")
    if not details.serial.strip():
        raise DomainError("Enter the pump's serial number.", "serial")
    if not details.catheter_tip_level.strip():
        raise DomainError("Enter the catheter tip level (for example T10).", "catheter_tip_level")
    drug = session.scalar(
        select(DrugConcentration).where(DrugConcentration.concentration_mcg_per_ml == details.concentration_mcg_per_ml)
    )
    if drug is None or drug.trial_only or not drug.active:
        raise DomainError(
            "Choose a pump concentration from the drug catalogue (50 mcg/mL is for trials only).",
            "concentration_mcg_per_ml",
        )
    if details.fill_volume_ml > model.reservoir_ml:
        raise DomainError(
            f"{details.fill_volume_ml} mL is more than the {model.reservoir_ml} mL reservoir holds; never overfill.",
            "fill_volume_ml",
        )
    alarm_ml = details.alarm_volume_ml or model.default_alarm_ml
    if details.fill_volume_ml <= alarm_ml:
        raise DomainError(
            f"The first fill must be above the {alarm_ml} mL alarm volume, or the pump alarms at once.",
            "fill_volume_ml",
        )
    start = check_implant_start(session, patient, implanted_on, details.programme)
    old = current_pump(session, patient.id)
    if old is not None:
        old.explanted_on = implanted_on
        recompute_schedule(session, old)
        record(
            session,
            actor,
            "update",
            "pump",
            old.id,
            patient.id,
            {"explanted_on": None},
            {"explanted_on": implanted_on.isoformat()},
        )
    pump = Pump(
        patient=patient,
        model=model,
        **pump_values(
            model_id=model.id,
            reservoir_ml=model.reservoir_ml,
            battery_life_months=model.battery_life_months,
            serial=details.serial.strip(),
            implanted_on=implanted_on,
            surgery_centre_id=surgery_centre_id,
            catheter_tip_level=details.catheter_tip_level.strip(),
            alarm_volume_ml=details.alarm_volume_ml or model.default_alarm_ml,
        ),
    )
    session.add(pump)
    session.flush()
    # A date-only event: count from local midnight, so projected dates can only come early.
    filled_at = start_of_day(implanted_on)
    p = details.programme
    start_dose = programmed_daily_dose(p)
    # The usual dose range applies to the starting dose too; kept with the implant fill like a refill's warnings.
    warnings = [
        {"code": "dose_range", "severity": "low", "message": w}
        for w in dose_change_warnings(
            None, worst_case_daily_mcg(p, start_dose), start_dose, titration_rules(all_settings(session))
        )
    ]
    if start.guide.basis == NONE:  # nothing to check the start against: said, not blocked
        warnings.append(
            {"code": "no_start_guide", "severity": "low", "message": f"Starting dose: {start.guide.describe()}"}
        )
    session.add(
        RefillVisit(
            pump_id=pump.id,
            visit_at=filled_at,
            clinician_id=actor.user_id,
            at_implant=True,
            concentration_mcg_per_ml=details.concentration_mcg_per_ml,
            volume_added_ml=details.fill_volume_ml,
            resulting_volume_ml=details.fill_volume_ml,
            warnings=warnings or None,
        )
    )
    session.add(
        DoseChange(
            pump_id=pump.id,
            effective_at=filled_at,
            **dose_values(start_dose, p.flex_schedule, p.bolus_dose_mcg, p.max_boluses_per_day),
            reason="Starting dose at implantation",
            recorded_by_id=actor.user_id,
            signed_off_by_id=actor.user_id if start.sign_off else None,
        )
    )
    session.flush()
    try:
        recompute_schedule(session, pump)
    except engine.RefillInputError as error:
        raise DomainError(error.message, _implant_field(error.field)) from None
    if start.sign_off and not allowed(actor.role, "dose.sign_off"):
        raise NeedsPhysician(
            f"{start.start_worst_mcg.normalize():f} mcg/day is above the guide for the starting "
            f"dose, {start.guide.describe()} A physician must sign off: send it for sign-off, or "
            "have a physician enter the implantation.",
            "daily_dose_mcg",
        )
    record(
        session,
        actor,
        "create",
        "pump",
        pump.id,
        patient.id,
        None,
        snapshot(
            pump,
            [
                "model_id",
                "serial",
                "reservoir_ml",
                "implanted_on",
                "catheter_tip_level",
                "alarm_volume_ml",
                "battery_replacement_due",
            ],
        )
        | {
            "fill_volume_ml": str(details.fill_volume_ml),
            "concentration": details.concentration_mcg_per_ml,
            "daily_dose_mcg": str(start_dose),
            "start_guide": start.guide.describe(),
            "signed_off_by_id": actor.user_id if start.sign_off else None,
        },
    )
    return pump


def record_eri(
    session: Session, actor: Actor, pump_id: int, eri_on: date, expected_version: int, now: datetime
) -> Pump:
    """The day the pump showed its elective replacement indicator (ERI). The pump stops within its model's
    ERI-to-stop window (domain.md 5), so the replacement falls due by then, or stays earlier if it already was."""
    if not allowed(actor.role, "refill.record"):
        raise PermissionDenied("Your role may not record pump findings.")
    pump = session.get(Pump, pump_id)
    if pump is None or pump.explanted_on is not None:
        raise DomainError("This pump is not in use.")
    if pump.version != expected_version:
        raise StaleEdit(
            "Someone else changed this pump after you opened the form; nothing was saved. Check the "
            "pump's battery dates, then enter the ERI again if it is still needed."
        )
    check_eri_date(pump, eri_on, now)
    fields = ["eri_on", "battery_replacement_due"]
    before = snapshot(pump, fields)
    pump.eri_on = eri_on
    pump.battery_replacement_due = battery_due_with_eri(
        pump.battery_replacement_due, eri_on, pump.model.eri_to_stop_days
    )
    session.flush()
    record(session, actor, "update", "pump", pump.id, pump.patient_id, before, snapshot(pump, fields))
    session.commit()
    return pump


def check_eri_date(pump: Pump, eri_on: date, now: datetime) -> None:
    """An ERI is recorded for a battery-driven pump, on a day between its implant and today."""
    if pump.model.eri_to_stop_days is None:
        raise DomainError(
            f"A {pump.model.name} has no battery, so it has no replacement indicator to record.", "eri_on"
        )
    if eri_on > local_date(now):
        raise DomainError("The ERI date cannot be in the future; record it once the pump shows it.", "eri_on")
    if eri_on < pump.implanted_on:
        raise DomainError(f"The ERI date cannot be before the implant ({fmt_date(pump.implanted_on)}).", "eri_on")


def _implant_field(field: str) -> str:
    return {"reservoir_after_fill_ml": "fill_volume_ml", "daily_dose_mcg": "daily_dose_mcg"}.get(field, field)


@dataclass(frozen=True)
class DoseCheck:
    """A dose change judged against the ledger: the limit, whether it needs a physician, and its warnings."""

    limit: TitrationLimit
    new_worst_mcg: Decimal | None = None
    sign_off: bool = False
    warnings: tuple[str, ...] = ()


def check_dose(
    session: Session,
    pump: Pump,
    effective_at: datetime,
    programme: Programme | None = None,
    ledger: list[DoseChange] | None = None,
) -> DoseCheck:
    """The titration limit at `effective_at` (for the form before anything is typed) and, given a programme,
    whether it needs a physician's sign-off and what it warns of. An increase is measured from the lowest
    worst-case daily dose in force during the previous 24 h (a cut then a raise, or two steps in a day, cannot
    pass it), a cut from the highest; a child (age on the change's date) has the paediatric limit."""
    ledger = dose_ledger(session, pump.id) if ledger is None else ledger
    recent = recent_doses([(d.effective_at, worst_case_daily_mcg(d, d.daily_dose_mcg)) for d in ledger], effective_at)
    baseline, highest = min(recent, default=None), max(recent, default=None)
    rules = titration_rules(all_settings(session))
    patient = pump.patient
    child = age_in_years(patient.date_of_birth, local_date(effective_at)) < rules.paediatric_age_years
    limit = titration_limit(baseline, patient.spasticity_origin, child, rules)
    if programme is None:
        return DoseCheck(limit)
    new_dose = programmed_daily_dose(programme)
    new_worst = worst_case_daily_mcg(programme, new_dose)
    sign_off = needs_physician_sign_off(
        baseline,
        new_worst,
        patient.spasticity_origin,
        rules.cerebral_pct,
        rules.spinal_pct,
        child,
        rules.paediatric_pct,
    )
    return DoseCheck(limit, new_worst, sign_off, tuple(dose_change_warnings(highest, new_worst, new_dose, rules)))


def change_dose(
    session: Session,
    actor: Actor,
    pump_id: int,
    effective_at: datetime,
    programme: Programme,
    reason: str,
    now: datetime,
    expected_last_dose_id: int | None = None,
    acknowledged: bool = False,
) -> DoseChange:
    """Add to the dose ledger; increases beyond the titration limit need a physician, and warnings (a large
    cut, a dose outside the usual range) an acknowledgement."""
    pump = session.get(Pump, pump_id)
    if pump is None or pump.explanted_on is not None:
        raise DomainError("This pump is not in use.")
    if effective_at > now:
        raise DomainError("A dose change cannot take effect in the future; record it when programmed.", "effective_at")
    lock_row(session, Pump, pump.id)  # then the ledger read below is the one this change follows
    fill = last_fill(session, pump.id)
    if effective_at < fill.visit_at:
        raise DomainError(
            "A dose change before the last fill does not change the projection; record changes from the last fill on.",
            "effective_at",
        )
    ledger = dose_ledger(session, pump.id)
    if expected_last_dose_id is not None and ledger and ledger[-1].id != expected_last_dose_id:
        raise StaleEdit(
            "Someone else recorded a dose change after you opened this form; nothing was saved. "
            "Check the dose history, then enter yours again if it is still needed."
        )
    current = ledger[-1].daily_dose_mcg if ledger else None
    check = check_dose(session, pump, effective_at, programme, ledger)
    if check.sign_off and not allowed(actor.role, "dose.sign_off"):
        group = "a child" if check.limit.group == "child" else f"{check.limit.group} spasticity"
        raise PermissionDenied(
            f"From {check.limit.baseline_mcg} (the lowest in force within 24 h) to {check.new_worst_mcg} mcg/day "
            f"(with boluses) is beyond the +{check.limit.pct}% titration limit for {group}; a physician must "
            "sign off.",
            "daily_dose_mcg",
        )
    if not reason.strip():
        raise DomainError("Say why the dose is changing.", "reason")
    if check.warnings and not acknowledged:
        raise DomainError("Acknowledge the warnings to save this dose change.", "acknowledge")
    change = DoseChange(
        pump_id=pump.id,
        effective_at=effective_at,
        **dose_values(
            programmed_daily_dose(programme),
            programme.flex_schedule,
            programme.bolus_dose_mcg,
            programme.max_boluses_per_day,
        ),
        reason=reason.strip(),
        recorded_by_id=actor.user_id,
        signed_off_by_id=actor.user_id if check.sign_off else None,
    )
    session.add(change)
    session.flush()
    try:
        recompute_schedule(session, pump)
    except engine.RefillInputError as error:
        raise DomainError(error.message, error.field) from None
    record(
        session,
        actor,
        "create",
        "dose_change",
        change.id,
        pump.patient_id,
        {"daily_dose_mcg": str(current)},
        snapshot(
            change,
            [
                "effective_at",
                "mode",
                "daily_dose_mcg",
                "flex_schedule",
                "bolus_dose_mcg",
                "max_boluses_per_day",
                "reason",
                "signed_off_by_id",
            ],
        )
        | ({"warnings_acknowledged": list(check.warnings)} if check.warnings else {}),
    )
    session.commit()
    return change


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
