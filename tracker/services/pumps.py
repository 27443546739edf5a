"""Pumps: the catalogue's defaults, implanting a pump (its first fill and starting dose, a replacement explanting
the old one), and the day its battery showed its replacement indicator."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinic_zone import local_date, start_of_day
from tracker.clinical import refill
from tracker.clinical.corrections import battery_due_with_eri
from tracker.clinical.dosing import (
    age_in_years,
    dose_change_warnings,
    recent_doses,
    titration_limit,
)
from tracker.clinical.implant import NONE, StartGuide, TrialBolusResult, needs_sign_off, start_guide
from tracker.clinical.pump_events import CHECK_AFTER, EMPTY_BEFORE
from tracker.clinical.row_values import dose_values, pump_values
from tracker.formats import fmt_date
from tracker.models import (
    DoseChange,
    DrugConcentration,
    Patient,
    Pump,
    PumpModel,
    RefillVisit,
    TrialBolus,
)
from tracker.policy import allowed
from tracker.services import Actor, DomainError, NeedsPhysician, PermissionDenied, StaleEdit, use_case
from tracker.services.advisories import flag_new_pumps
from tracker.services.audit import record, snapshot
from tracker.services.refills import (
    Programme,
    current_pump,
    dose_ledger,
    programmed_daily_dose,
    recompute_schedule,
    worst_case_daily_mcg,
)
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
    except refill.RefillInputError as error:
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
    flag_new_pumps(session, actor, [pump.id])
    return pump


@use_case("pump")
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
