"""Correcting or voiding a dose change: the same titration limit, sign-off and warnings as the dose form, judged
against the ledger without the original (append-only, as every correction: tracker.services.corrections)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.formats import fmt_datetime
from tracker.models import DoseChange, RefillVisit
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, use_case
from tracker.services.audit import record
from tracker.services.corrections import (
    audit_correction,
    due_dates,
    mark_voided,
    pump_in_use,
    reason_given,
    reproject,
    require_corrector,
    standing,
)
from tracker.services.doses import DOSE_FIELDS, DoseCheck, check_dose
from tracker.services.refills import Programme, dose_ledger, programmed_daily_dose


def dose_correction_check(session: Session, dose_id: int, effective_at: datetime, programme: Programme) -> DoseCheck:
    """The titration limit, sign-off and warnings for the corrected dose, judged against the ledger without the
    original."""
    original = standing(session, DoseChange, dose_id)
    pump = pump_in_use(session, original.pump_id)
    ledger = [d for d in dose_ledger(session, pump.id) if d.id != original.id]
    return check_dose(session, pump, effective_at, programme, ledger)


@use_case("dose")
def correct_dose(
    session: Session,
    actor: Actor,
    dose_id: int,
    effective_at: datetime,
    programme: Programme,
    dose_reason: str,
    why: str,
    now: datetime,
    acknowledged: bool = False,
) -> DoseChange:
    """Replace a dose change by its corrected values: the same titration limit (a physician signs off an increase
    beyond it) and warnings as the dose form."""
    require_corrector(actor)
    original = standing(session, DoseChange, dose_id)
    pump = pump_in_use(session, original.pump_id)
    why = reason_given(why)
    if effective_at > now:
        raise DomainError("A dose change cannot take effect in the future.", "effective_at")
    first = session.scalar(
        select(RefillVisit.visit_at)
        .where(RefillVisit.pump_id == pump.id, RefillVisit.voided_at.is_(None))
        .order_by(RefillVisit.visit_at)
        .limit(1)
    )
    if first is not None and effective_at < first:
        raise DomainError(
            f"A dose change cannot take effect before the pump's first fill ({fmt_datetime(first)}).", "effective_at"
        )
    if not (dose_reason or "").strip():
        raise DomainError("Say why the dose changed.", "reason")
    check = dose_correction_check(session, dose_id, effective_at, programme)
    if check.sign_off and not allowed(actor.role, "dose.sign_off"):
        raise PermissionDenied(
            f"From {check.limit.baseline_mcg} (the lowest in force within 24 h) to {check.new_worst_mcg} mcg/day "
            f"(with boluses) is beyond the +{check.limit.pct}% titration limit; a physician must make this "
            "correction.",
            "daily_dose_mcg",
        )
    if check.warnings and not acknowledged:
        raise DomainError("Acknowledge the warnings to save this correction.", "acknowledge")
    dates = due_dates(session, pump)
    new = DoseChange(
        pump_id=pump.id,
        effective_at=effective_at,
        mode="flex" if programme.flex_schedule else "simple",
        daily_dose_mcg=programmed_daily_dose(programme),
        flex_schedule=programme.flex_schedule,
        bolus_dose_mcg=programme.bolus_dose_mcg,
        max_boluses_per_day=programme.max_boluses_per_day,
        reason=dose_reason.strip(),
        recorded_by_id=original.recorded_by_id,
        signed_off_by_id=actor.user_id if check.sign_off else None,
        corrects_id=original.id,
    )
    mark_voided(original, actor, why, now)
    session.add(new)
    reproject(session, pump)
    audit_correction(
        session,
        actor,
        "dose_change",
        original,
        new,
        DOSE_FIELDS,
        why,
        pump.patient_id,
        dates,
        due_dates(session, pump) | ({"warnings_acknowledged": list(check.warnings)} if check.warnings else {}),
    )
    return new


@use_case("dose")
def void_dose(session: Session, actor: Actor, dose_id: int, why: str, now: datetime) -> None:
    """Void a dose change recorded by mistake; the one before it is in force again. The dose in force at the
    pump's first fill is corrected, never voided."""
    require_corrector(actor)
    original = standing(session, DoseChange, dose_id)
    pump = pump_in_use(session, original.pump_id)
    why = reason_given(why)
    dates = due_dates(session, pump)
    mark_voided(original, actor, why, now)
    reproject(session, pump)
    record(
        session,
        actor,
        "void",
        "dose_change",
        original.id,
        pump.patient_id,
        dates,
        {"void_reason": why} | due_dates(session, pump),
    )
