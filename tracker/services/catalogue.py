"""Clinic settings and the pump and drug catalogues: edit them, audit the change, and recompute the stored
refill schedule of exactly the pumps whose dates the change moves, all in one transaction. What each value may be
is in tracker.clinical.settings_spec; locations are edited in tracker.services.locations."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from tracker.clinical.errors import RefillInputError
from tracker.clinical.pump_events import MRI_RULES
from tracker.clinical.settings_spec import (
    ACCURACY_FRACTION,
    BATTERY_LIFE_MONTHS,
    CONCENTRATION_MCG_PER_ML,
    DEFAULT_ALARM_ML,
    DEFAULTS,
    ERI_TO_STOP_DAYS,
    SETTING,
    STABILITY_DAYS,
)
from tracker.formats import plural
from tracker.models import DrugConcentration, Patient, Pump, PumpModel, RefillSchedule, RefillVisit, Setting
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, use_case
from tracker.services.audit import record, snapshot
from tracker.services.refills import recompute_schedule
from tracker.services.settings import all_settings

BUFFER_SETTINGS = {"safety_buffer_days": False, "high_risk_buffer_days": True}  # name -> patients' withdrawal_risk
PUMP_MODEL_FIELDS = [
    "default_alarm_ml",
    "battery_life_months",
    "eri_to_stop_days",
    "accuracy_fraction",
    "mri_rule",
    "active",
]
DRUG_FIELDS = ["stability_days", "trial_only", "active"]
ML_PLACES = Decimal("0.001")  # the scale of the mL columns, so audit values read like the stored ones
FRACTION_PLACES = Decimal("0.0001")


@dataclass(frozen=True)
class CatalogueChange:
    """What a save did: the fields that changed and how many pumps' refill schedules were recomputed."""

    changed: list[str]
    recomputed_pumps: int


def settings_version(values: dict[str, int]) -> str:
    """A fingerprint of the settings as a form showed them; settings rows carry no version column."""
    text = ";".join(f"{name}={values[name]}" for name in sorted(values))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def require_admin(actor: Actor) -> None:
    """Only an administrator edits the settings and the catalogues."""
    if not allowed(actor.role, "settings.manage"):
        raise PermissionDenied("Only an administrator can change the clinic's settings and catalogues.")


def _flag(value, field: str) -> bool:
    if not isinstance(value, bool):
        raise DomainError("Answer yes or no.", field)
    return value


# -- which pumps a change touches (one query each) ------------------------------------------------------------


def _pumps_by_withdrawal_risk(session: Session, risk_flags: set[bool]) -> list[int]:
    """Pumps in use whose patients' buffer is one of the changed ones."""
    return list(
        session.scalars(
            select(Pump.id)
            .join(Patient, Patient.id == Pump.patient_id)
            .where(Pump.explanted_on.is_(None), Patient.withdrawal_risk.in_(risk_flags))
            .order_by(Pump.id)
        )
    )


def pumps_holding(session: Session, concentration_mcg_per_ml: int) -> list[int]:
    """Pumps in use whose latest fill used this concentration (what is in the reservoir now)."""
    latest = (
        select(
            RefillVisit.pump_id,
            RefillVisit.concentration_mcg_per_ml,
            func.row_number()
            .over(
                partition_by=RefillVisit.pump_id,
                order_by=(RefillVisit.visit_at.desc(), RefillVisit.id.desc()),
            )
            .label("n"),
        )
        .where(RefillVisit.voided_at.is_(None))
        .subquery()
    )
    return list(
        session.scalars(
            select(Pump.id)
            .join(latest, latest.c.pump_id == Pump.id)
            .where(
                latest.c.n == 1,
                latest.c.concentration_mcg_per_ml == concentration_mcg_per_ml,
                Pump.explanted_on.is_(None),
            )
            .order_by(Pump.id)
        )
    )


def _recompute(session: Session, pump_ids: list[int]) -> int:
    """Rewrite the stored schedules of these pumps with the settings as they now stand."""
    if not pump_ids:
        return 0
    session.flush()  # the new settings and catalogue values, before anything reads them
    settings = all_settings(session)
    count = 0
    for start in range(0, len(pump_ids), 500):  # stay under the bind-parameter limits of both databases
        chunk = pump_ids[start : start + 500]
        pumps = session.scalars(select(Pump).where(Pump.id.in_(chunk)).options(selectinload(Pump.patient))).all()
        # Held here so they stay in the (weak-referencing) identity map: recompute_schedule's session.get then
        # finds each pump's schedule without a query.
        schedules = session.scalars(select(RefillSchedule).where(RefillSchedule.pump_id.in_(chunk))).all()
        with session.no_autoflush:  # one batched UPDATE at the end, not one flush per pump
            for pump in pumps:
                try:
                    recompute_schedule(session, pump, settings)
                except RefillInputError as error:
                    raise DomainError(f"Pump {pump.serial}: {error.message} Nothing was saved.") from None
                count += 1
        del schedules
    session.flush()
    return count


def row_to_edit(session: Session, table, row_id: int, expected_version: int, what: str):
    """The catalogue row a form was opened on: refused if it is gone, StaleEdit if someone saved it since."""
    row = session.get(table, row_id)
    if row is None:
        raise DomainError(f"No such {what}.")
    if row.version != expected_version:
        raise StaleEdit(
            f"Someone else saved this {what} after you opened the form. Their values are shown "
            "below; nothing of yours was saved."
        )
    return row


def apply_changes(session: Session, actor: Actor, entity: str, row, values: dict, fields: list[str]) -> list[str]:
    """Set the values that differ and audit them; return the names of the changed fields."""
    changed = [name for name in fields if name in values and values[name] != getattr(row, name)]
    if changed:
        before = snapshot(row, changed)
        for name in changed:
            setattr(row, name, values[name])
        record(session, actor, "update", entity, row.id, None, before, snapshot(row, changed))
    return changed


# -- clinic settings ------------------------------------------------------------------------------------------


def validate_settings(values: dict) -> dict[str, int]:
    """The values as whole numbers within each setting's limits (the rules spanning settings come later)."""
    unknown = sorted(set(values) - set(DEFAULTS))
    if unknown:
        raise DomainError(f"Unknown setting {unknown[0]!r}.")
    return {name: SETTING[name].whole(value) for name, value in values.items()}


@use_case()
def update_settings(
    session: Session, actor: Actor, values: dict[str, int], expected_version: str | None = None
) -> CatalogueChange:
    """Save clinic settings (only names in the settings spec); a changed buffer recomputes the pumps it applies to."""
    require_admin(actor)
    clean = validate_settings(values)
    current = all_settings(session)
    if expected_version is not None and expected_version != settings_version(current):
        raise StaleEdit(
            "Someone else saved the settings after you opened the form. Their values are shown "
            "below; nothing of yours was saved."
        )
    merged = current | clean
    if merged["high_risk_buffer_days"] < merged["safety_buffer_days"]:
        raise DomainError(
            f"The high-risk buffer cannot be shorter than the safety buffer ({merged['safety_buffer_days']} days).",
            "high_risk_buffer_days",
        )
    if merged["usual_dose_max_mcg_per_day"] <= merged["usual_dose_min_mcg_per_day"]:
        raise DomainError(
            "The usual dose range needs its upper limit above its lower limit "
            f"({merged['usual_dose_min_mcg_per_day']} mcg/day).",
            "usual_dose_max_mcg_per_day",
        )
    if merged["trial_dose_max_mcg"] <= merged["trial_dose_min_mcg"]:
        raise DomainError(
            f"The trial dose range needs its upper limit above its lower limit ({merged['trial_dose_min_mcg']} mcg).",
            "trial_dose_max_mcg",
        )
    changed = [name for name in DEFAULTS if name in clean and clean[name] != current[name]]
    if not changed:
        return CatalogueChange([], 0)
    stored = {row.name: row for row in session.scalars(select(Setting).where(Setting.name.in_(changed)))}
    for name in changed:
        if name in stored:
            stored[name].value = str(clean[name])
        else:
            session.add(Setting(name=name, value=str(clean[name])))
    record(
        session,
        actor,
        "update",
        "settings",
        None,
        None,
        {name: current[name] for name in changed},
        {name: clean[name] for name in changed},
    )
    risk_flags = {BUFFER_SETTINGS[name] for name in changed if name in BUFFER_SETTINGS}
    pump_ids = _pumps_by_withdrawal_risk(session, risk_flags) if risk_flags else []
    return CatalogueChange(changed, _recompute(session, pump_ids))


# -- pump models ----------------------------------------------------------------------------------------------


def _pump_model_values(model: PumpModel, values: dict) -> dict:
    clean = {}
    if "default_alarm_ml" in values:
        alarm = DEFAULT_ALARM_ML.exact(values["default_alarm_ml"], ML_PLACES, "mL")
        if alarm >= model.reservoir_ml:
            raise DomainError(
                f"The alarm volume must be below the {model.reservoir_ml.normalize()} mL reservoir.", "default_alarm_ml"
            )
        clean["default_alarm_ml"] = alarm
    for spec, hint in (
        (BATTERY_LIFE_MONTHS, "months (or empty: no battery)"),
        (ERI_TO_STOP_DAYS, "days (or empty: no battery)"),
    ):
        if spec.name in values:
            value = values[spec.name]
            clean[spec.name] = None if value in (None, "") else spec.whole(value, hint)
    if "accuracy_fraction" in values:
        clean["accuracy_fraction"] = ACCURACY_FRACTION.exact(
            values["accuracy_fraction"], FRACTION_PLACES, "(0.145 is ±14.5%)"
        )
    if "mri_rule" in values:
        if values["mri_rule"] not in MRI_RULES:
            raise DomainError("Choose what an MRI means for this pump.", "mri_rule")
        clean["mri_rule"] = values["mri_rule"]
    if "active" in values:
        clean["active"] = _flag(values["active"], "active")
    return clean


@use_case("pump model")
def update_pump_model(
    session: Session, actor: Actor, model_id: int, expected_version: int, values: dict
) -> CatalogueChange:
    """Edit a pump model's defaults. Pumps already implanted keep their own alarm volume and battery date,
    so no stored refill date moves."""
    require_admin(actor)
    model = row_to_edit(session, PumpModel, model_id, expected_version, "pump model")
    changed = apply_changes(session, actor, "pump_model", model, _pump_model_values(model, values), PUMP_MODEL_FIELDS)
    # Each pump keeps its own alarm volume (domain.md: keep it per patient) and its own battery date.
    return CatalogueChange(changed, 0)


# -- drug catalogue -------------------------------------------------------------------------------------------


def _drug_values(values: dict) -> dict:
    clean = {}
    if "stability_days" in values:
        clean["stability_days"] = STABILITY_DAYS.whole(values["stability_days"], "days")
    for name in ("trial_only", "active"):
        if name in values:
            clean[name] = _flag(values[name], name)
    return clean


@use_case("concentration")
def update_drug(session: Session, actor: Actor, drug_id: int, expected_version: int, values: dict) -> CatalogueChange:
    """Edit a concentration's stability or use; a stability change recomputes the pumps holding it."""
    require_admin(actor)
    drug = row_to_edit(session, DrugConcentration, drug_id, expected_version, "concentration")
    clean = _drug_values(values)
    holding = pumps_holding(session, drug.concentration_mcg_per_ml)
    if clean.get("active") is False and drug.active and holding:
        # The stored schedules of those pumps are computed from this entry's stability.
        raise DomainError(
            f"{plural(len(holding), 'pump')} {'holds' if len(holding) == 1 else 'hold'} "
            f"{drug.concentration_mcg_per_ml} mcg/mL now; it can "
            "be withdrawn once they have been refilled with another concentration.",
            "active",
        )
    changed = apply_changes(session, actor, "drug_concentration", drug, clean, DRUG_FIELDS)
    return CatalogueChange(changed, _recompute(session, holding) if "stability_days" in changed else 0)


@use_case("concentration")
def add_drug(session: Session, actor: Actor, values: dict) -> DrugConcentration:
    """A new concentration in the catalogue. No pump holds it yet, so no refill date moves."""
    require_admin(actor)
    concentration = CONCENTRATION_MCG_PER_ML.whole(values.get("concentration_mcg_per_ml"), "mcg/mL")
    clean = {"stability_days": STABILITY_DAYS.default, "trial_only": False, "active": True} | _drug_values(values)
    taken = DomainError(
        f"{concentration} mcg/mL is in the catalogue already; edit it there.", "concentration_mcg_per_ml"
    )
    if (
        session.scalar(select(DrugConcentration.id).where(DrugConcentration.concentration_mcg_per_ml == concentration))
        is not None
    ):
        raise taken
    drug = DrugConcentration(concentration_mcg_per_ml=concentration, **clean)
    session.add(drug)
    try:
        session.flush()
    except IntegrityError:  # added by someone else a moment ago
        raise taken from None
    record(
        session,
        actor,
        "create",
        "drug_concentration",
        drug.id,
        None,
        None,
        snapshot(drug, ["concentration_mcg_per_ml", *DRUG_FIELDS]),
    )
    return drug
