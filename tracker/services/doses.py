"""Changing a pump's dose: the titration limit against the ledger, a physician's sign-off beyond it, and the
warnings a nurse acknowledges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from tracker.clinic_zone import local_date
from tracker.clinical import refill
from tracker.clinical.dosing import (
    TitrationLimit,
    age_in_years,
    dose_change_warnings,
    needs_physician_sign_off,
    recent_doses,
    titration_limit,
)
from tracker.clinical.row_values import dose_values
from tracker.models import (
    DoseChange,
    Pump,
)
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, lock_row, use_case
from tracker.services.audit import record, snapshot
from tracker.services.refills import (
    Programme,
    dose_ledger,
    last_fill,
    programmed_daily_dose,
    recompute_schedule,
    worst_case_daily_mcg,
)
from tracker.services.settings import all_settings, titration_rules

# A dose change as the audit trail records it (the form, a correction and the import alike).
DOSE_FIELDS = [
    "effective_at",
    "mode",
    "daily_dose_mcg",
    "flex_schedule",
    "bolus_dose_mcg",
    "max_boluses_per_day",
    "reason",
    "signed_off_by_id",
]


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


@use_case("dose change")
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
    except refill.RefillInputError as error:
        raise DomainError(error.message, error.field) from None
    record(
        session,
        actor,
        "create",
        "dose_change",
        change.id,
        pump.patient_id,
        {"daily_dose_mcg": str(current)},
        snapshot(change, DOSE_FIELDS) | ({"warnings_acknowledged": list(check.warnings)} if check.warnings else {}),
    )
    return change
