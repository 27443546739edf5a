"""Correcting or voiding a refill visit or a trial bolus (issue 17, item 8); dose changes are corrected in
tracker.services.dose_corrections.

Append-only: the original keeps its values and is voided (who, when, why); a correction is a new entry naming the
one it replaces (corrects_id), checked as the original entry was (the refill preview and its warnings, the
titration limit and sign-off, the bolus warnings). The pump's refill dates are recomputed in the same
transaction, and each change is audited. A second tab's form for an entry already corrected or voided is refused.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical import refill
from tracker.clinical.corrections import fill_void_refusal, projection_gap
from tracker.formats import fmt_datetime
from tracker.models import DoseChange, DrugConcentration, Pump, RefillSchedule, RefillVisit, TrialBolus
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, use_case
from tracker.services.audit import record, snapshot
from tracker.services.refill_visits import ENTRY_FIELDS, RefillEntry, RefillPreview, fills_around, preview_refill
from tracker.services.refills import (
    recompute_schedule,
)
from tracker.services.trial_boluses import bolus_warnings, check_bolus, trial_window

BOLUS_FIELDS = [
    "given_on",
    "dose_mcg",
    "concentration_mcg_per_ml",
    "ashworth_before",
    "ashworth_after",
    "penn_frequency_before",
    "penn_severity_before",
    "penn_frequency_after",
    "penn_severity_after",
    "hours_of_effect",
    "outcome",
    "notes",
]
WHAT = {RefillVisit: "refill", DoseChange: "dose change", TrialBolus: "trial bolus"}


def require_corrector(actor: Actor) -> None:
    if not allowed(actor.role, "entry.correct"):
        raise PermissionDenied("Your role may not correct clinical entries.")


def reason_given(reason: str) -> str:
    if not (reason or "").strip():
        raise DomainError("Say why this entry is being corrected or voided.", "why")
    return reason.strip()


def standing(session: Session, model, entry_id: int):
    """The entry, if it still stands; one voided meanwhile (another tab, another user) is a stale form."""
    entry = session.get(model, entry_id)
    if entry is None:
        raise DomainError(f"No such {WHAT[model]}.")
    if entry.voided:
        replaced = session.scalar(select(model.id).where(model.corrects_id == entry.id))
        raise StaleEdit(
            f"This {WHAT[model]} was already {'corrected' if replaced else 'voided'} by "
            f"{entry.voided_by.full_name} on {fmt_datetime(entry.voided_at)}; nothing of yours was "
            "saved. Check the entry that stands now."
        )
    return entry


def pump_in_use(session: Session, pump_id: int) -> Pump:
    pump = session.get(Pump, pump_id)
    if pump is None or pump.explanted_on is not None:
        raise DomainError("This pump is no longer in use; its entries are kept as they were.")
    return pump


def mark_voided(entry, actor: Actor, reason: str, now: datetime) -> None:
    entry.voided_at, entry.voided_by_id, entry.void_reason = now, actor.user_id, reason


def due_dates(session: Session, pump: Pump) -> dict:
    """The stored dates, for the audit row: what the correction moved."""
    row = session.get(RefillSchedule, pump.id)
    return (
        {}
        if row is None
        else {
            "due_date": row.due_date.isoformat(),
            "alarm_date": row.alarm_date.isoformat() if row.alarm_date else None,
        }
    )


def reproject(session: Session, pump: Pump) -> None:
    """Recompute the pump's refill dates from the entries that now stand; refuse if they could not be."""
    session.flush()
    fills = session.scalars(
        select(RefillVisit.visit_at).where(RefillVisit.pump_id == pump.id, RefillVisit.voided_at.is_(None))
    ).all()
    doses = session.scalars(
        select(DoseChange.effective_at).where(DoseChange.pump_id == pump.id, DoseChange.voided_at.is_(None))
    ).all()
    gap = projection_gap(fills, doses)
    if gap:
        raise DomainError(gap)
    try:
        recompute_schedule(session, pump)
    except refill.RefillInputError as error:
        raise DomainError(error.message) from None


def audit_correction(
    session: Session,
    actor: Actor,
    entity: str,
    original,
    new,
    fields: list[str],
    reason: str,
    patient_id: int,
    before_dates: dict,
    after_dates: dict,
) -> None:
    """A correction in the audit trail: the original voided (why, and the dates it moved), the new entry created
    with the values it replaced."""
    record(
        session,
        actor,
        "void",
        entity,
        original.id,
        patient_id,
        before_dates or None,
        {"void_reason": reason, "corrected_by": new.id} | after_dates,
    )
    record(
        session,
        actor,
        "create",
        entity,
        new.id,
        patient_id,
        snapshot(original, fields),
        snapshot(new, fields) | {"corrects_id": original.id},
    )


# Refill visits ---------------------------------------------------------------------------------------------


def is_first_fill(session: Session, visit: RefillVisit) -> bool:
    """The pump's first fill that stands (at implantation, or an import's): corrected on its own form."""
    return fills_around(session, visit)[0] is None


def preview_refill_correction(session: Session, visit_id: int, entry: RefillEntry, now: datetime) -> RefillPreview:
    """The dates and warnings the corrected refill would give; nothing is written."""
    visit = standing(session, RefillVisit, visit_id)
    return preview_refill(session, visit.pump_id, entry, now, replacing=visit)


@use_case("refill")
def correct_refill(
    session: Session, actor: Actor, visit_id: int, entry: RefillEntry, why: str, acknowledged: bool, now: datetime
) -> RefillVisit:
    """Replace a refill visit by its corrected values, after the refill form's own checks and warnings."""
    require_corrector(actor)
    visit = standing(session, RefillVisit, visit_id)
    pump = pump_in_use(session, visit.pump_id)
    why = reason_given(why)
    preview = preview_refill(session, pump.id, entry, now, replacing=visit)
    if preview.needs_acknowledgement and not acknowledged:
        raise DomainError("Acknowledge the high-severity warnings to save this correction.", "acknowledge")
    dates = due_dates(session, pump)
    # The clinician who did the refill stays; the corrector is on the original (voided_by) and in the audit.
    new = RefillVisit(
        pump_id=pump.id,
        clinician_id=visit.clinician_id,
        corrects_id=visit.id,
        warnings=[{"code": w.code, "severity": w.severity, "message": w.message} for w in preview.warnings],
        acknowledged_by_id=actor.user_id if preview.needs_acknowledgement else None,
        due_date_in_force=visit.due_date_in_force,
        **{name: getattr(entry, name) for name in ENTRY_FIELDS},
    )
    mark_voided(visit, actor, why, now)
    session.add(new)
    reproject(session, pump)
    audit_correction(
        session, actor, "refill_visit", visit, new, ENTRY_FIELDS, why, pump.patient_id, dates, due_dates(session, pump)
    )
    return new


@use_case("refill")
def correct_first_fill(
    session: Session,
    actor: Actor,
    visit_id: int,
    fill_volume_ml: Decimal,
    concentration_mcg_per_ml: int,
    lot: str,
    why: str,
    now: datetime,
) -> RefillVisit:
    """Replace the pump's first fill (its volume, concentration, lot), with the implant form's checks."""
    require_corrector(actor)
    visit = standing(session, RefillVisit, visit_id)
    pump = pump_in_use(session, visit.pump_id)
    if not is_first_fill(session, visit):
        raise DomainError("This is not the pump's first fill; correct it on the refill correction form.")
    why = reason_given(why)
    drug = session.scalar(
        select(DrugConcentration).where(DrugConcentration.concentration_mcg_per_ml == concentration_mcg_per_ml)
    )
    if drug is None or drug.trial_only or not drug.active:
        raise DomainError(
            "Choose a pump concentration from the drug catalogue (50 mcg/mL is for trials only).",
            "concentration_mcg_per_ml",
        )
    if fill_volume_ml > pump.reservoir_ml:
        raise DomainError(
            f"{fill_volume_ml} mL is more than the {pump.reservoir_ml} mL reservoir holds; never overfill.",
            "fill_volume_ml",
        )
    if fill_volume_ml <= pump.alarm_volume_ml:
        raise DomainError(
            f"The fill must be above the {pump.alarm_volume_ml} mL alarm volume, or the pump alarms at once.",
            "fill_volume_ml",
        )
    dates = due_dates(session, pump)
    new = RefillVisit(
        pump_id=pump.id,
        visit_at=visit.visit_at,
        clinician_id=visit.clinician_id,
        at_implant=visit.at_implant,
        concentration_mcg_per_ml=concentration_mcg_per_ml,
        lot=(lot or "").strip(),
        volume_added_ml=fill_volume_ml,
        resulting_volume_ml=fill_volume_ml,
        notes=visit.notes,
        warnings=visit.warnings,
        due_date_in_force=visit.due_date_in_force,
        corrects_id=visit.id,
    )
    mark_voided(visit, actor, why, now)
    session.add(new)
    reproject(session, pump)
    audit_correction(
        session,
        actor,
        "refill_visit",
        visit,
        new,
        ["concentration_mcg_per_ml", "lot", "volume_added_ml", "resulting_volume_ml"],
        why,
        pump.patient_id,
        dates,
        due_dates(session, pump),
    )
    return new


@use_case("refill")
def void_refill(session: Session, actor: Actor, visit_id: int, why: str, now: datetime) -> None:
    """Void a refill recorded by mistake; the dates run again from the fill before it. The fill at implantation
    and a pump's only fill (reproject refuses it) are corrected, never voided."""
    require_corrector(actor)
    visit = standing(session, RefillVisit, visit_id)
    pump = pump_in_use(session, visit.pump_id)
    why = reason_given(why)
    refusal = fill_void_refusal(visit.at_implant)
    if refusal:
        raise DomainError(refusal)
    dates = due_dates(session, pump)
    mark_voided(visit, actor, why, now)
    reproject(session, pump)
    record(
        session,
        actor,
        "void",
        "refill_visit",
        visit.id,
        pump.patient_id,
        dates,
        {"void_reason": why} | due_dates(session, pump),
    )


# Trial boluses ---------------------------------------------------------------------------------------------


def bolus_correction_warnings(session: Session, bolus_id: int, data: dict) -> list:
    """The bolus form's warnings for the corrected values, against the other boluses of the same trial."""
    original = standing(session, TrialBolus, bolus_id)
    return bolus_warnings(session, original.patient_id, data, replacing=original)


@use_case("trial bolus")
def correct_bolus(
    session: Session,
    actor: Actor,
    bolus_id: int,
    data: dict,
    why: str,
    today: date,
    now: datetime,
    acknowledged: Collection[str] = (),
) -> TrialBolus:
    """Replace a trial bolus by its corrected values and scores, with the bolus form's checks and warnings."""
    require_corrector(actor)
    original = standing(session, TrialBolus, bolus_id)
    why = reason_given(why)
    check_bolus(data, today, *trial_window(session, original.patient_id, original.given_on))
    warnings = bolus_warnings(session, original.patient_id, data, replacing=original)
    if any(w.code not in acknowledged for w in warnings):
        raise DomainError("Read the warnings above; tick the box to save this correction anyway.", "acknowledge")
    new = TrialBolus(
        patient_id=original.patient_id,
        recorded_by_id=original.recorded_by_id,
        corrects_id=original.id,
        warnings=[asdict(w) for w in warnings],
        **data,
    )
    mark_voided(original, actor, why, now)
    session.add(new)
    session.flush()
    audit_correction(
        session, actor, "trial_bolus", original, new, BOLUS_FIELDS + ["warnings"], why, original.patient_id, {}, {}
    )
    return new


@use_case("trial bolus")
def void_bolus(session: Session, actor: Actor, bolus_id: int, why: str, now: datetime) -> None:
    """Void a trial bolus recorded by mistake (it no longer counts as this trial's, positive or not)."""
    require_corrector(actor)
    original = standing(session, TrialBolus, bolus_id)
    why = reason_given(why)
    mark_voided(original, actor, why, now)
    session.flush()
    record(session, actor, "void", "trial_bolus", original.id, original.patient_id, None, {"void_reason": why})
