"""Recording a refill visit: a preview that shows the new dates and every warning, then the save."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select, tuple_
from sqlalchemy.orm import Session

from tracker.clinic_zone import local_date
from tracker.clinical import refill, refill_checks, refill_risk
from tracker.clinical.row_values import warning_values
from tracker.formats import fmt_date, fmt_datetime
from tracker.models import Pump, RefillSchedule, RefillVisit
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, lock_row, use_case
from tracker.services.audit import record, snapshot
from tracker.services.bookings import complete_open_appointment
from tracker.services.refills import (
    _ledger_for_engine,
    _stability_days,
    dose_ledger,
    last_fill,
    projection_inputs,
    recent_fills,
    recompute_schedule,
    residual_found,
)
from tracker.services.settings import all_settings

ENTRY_FIELDS = [
    "visit_at",
    "expected_residual_ml",
    "actual_residual_ml",
    "concentration_mcg_per_ml",
    "lot",
    "volume_added_ml",
    "resulting_volume_ml",
    "bridge_bolus_mcg",
    "bridge_bolus_reason",
    "ashworth",
    "penn_frequency",
    "complications",
    "notes",
]


@dataclass(frozen=True)
class RefillEntry:
    visit_at: datetime
    expected_residual_ml: Decimal
    actual_residual_ml: Decimal
    concentration_mcg_per_ml: int
    volume_added_ml: Decimal
    resulting_volume_ml: Decimal
    lot: str = ""
    bridge_bolus_mcg: Decimal | None = None
    bridge_bolus_given: bool | None = None  # asked at a concentration change: None until the nurse answers
    bridge_bolus_reason: str = ""  # why none was programmed
    ashworth: str | None = None
    penn_frequency: int | None = None
    complications: str = ""
    notes: str = ""


@dataclass
class RefillPreview:
    projection: refill.RefillProjection
    warnings: list[refill_checks.RefillWarning] = field(default_factory=list)

    @property
    def needs_acknowledgement(self) -> bool:
        return any(w.severity == "high" for w in self.warnings)


def fills_around(session: Session, visit: RefillVisit) -> tuple[RefillVisit | None, RefillVisit | None]:
    """The fills that stand just before and just after `visit` (not counting it)."""
    standing = select(RefillVisit).where(
        RefillVisit.pump_id == visit.pump_id, RefillVisit.voided_at.is_(None), RefillVisit.id != visit.id
    )
    key = (RefillVisit.visit_at, RefillVisit.id)
    before = session.scalars(
        standing.where(tuple_(*key) < (visit.visit_at, visit.id)).order_by(*(k.desc() for k in key)).limit(1)
    ).first()
    after = session.scalars(standing.where(tuple_(*key) > (visit.visit_at, visit.id)).order_by(*key).limit(1)).first()
    return before, after


def preview_refill(
    session: Session, pump_id: int, entry: RefillEntry, now: datetime, replacing: RefillVisit | None = None
) -> RefillPreview:
    """The new dates and the warnings this refill would produce; nothing is written. A correction (`replacing`
    an earlier entry) gets the same checks, between the fills on either side of the one it replaces."""
    pump = session.get(Pump, pump_id)
    if pump is None or pump.explanted_on is not None:
        raise DomainError("This pump is not in use.")
    previous, following = (last_fill(session, pump.id), None) if replacing is None else fills_around(session, replacing)
    if previous is None:  # only a correction can lack one: the first fill has its own form
        raise DomainError("The first fill is corrected on its own form (volume and concentration).")
    if entry.visit_at > now:
        raise DomainError("The refill time cannot be in the future.", "visit_at")
    if entry.visit_at <= previous.visit_at:
        raise DomainError(f"The refill must be after the last fill ({fmt_datetime(previous.visit_at)}).", "visit_at")
    if following is not None and entry.visit_at >= following.visit_at:
        raise DomainError(f"The refill must be before the next fill ({fmt_datetime(following.visit_at)}).", "visit_at")
    for name in ("expected_residual_ml", "actual_residual_ml", "volume_added_ml", "resulting_volume_ml"):
        value = getattr(entry, name)
        if value < 0:
            raise DomainError("Volumes cannot be negative.", name)
        if value > pump.reservoir_ml:
            label = (
                "more than the reservoir holds"
                if name != "resulting_volume_ml"
                else f"more than the {pump.reservoir_ml} mL reservoir holds; never overfill"
            )
            raise DomainError(f"{value} mL is {label}.", name)
    _stability_days(session, entry.concentration_mcg_per_ml)  # in the catalogue
    settings = all_settings(session)
    fill = RefillVisit(
        visit_at=entry.visit_at,
        concentration_mcg_per_ml=entry.concentration_mcg_per_ml,
        expected_residual_ml=entry.expected_residual_ml,
        actual_residual_ml=entry.actual_residual_ml,
        volume_added_ml=entry.volume_added_ml,
        resulting_volume_ml=entry.resulting_volume_ml,
    )
    ledger = _ledger_for_engine(dose_ledger(session, pump.id))
    try:
        projection = refill.project_refill(projection_inputs(session, pump, fill, ledger, settings, previous=previous))
        if following is not None:  # an older fill corrected: the dates still run from the latest fill
            latest, *before = recent_fills(session, pump.id, 2)
            projection = refill.project_refill(
                projection_inputs(session, pump, latest, ledger, settings, previous=next(iter(before), None))
            )
    except refill.RefillInputError as error:
        raise DomainError(error.message, "resulting_volume_ml" if "volume" in error.field else None) from None
    in_force = [d for d in ledger if d.effective_at <= entry.visit_at] if following is not None else ledger
    return RefillPreview(
        projection, refill_warnings(pump, previous, entry, (in_force or ledger)[-1].daily_dose_mcg, settings)
    )


def refill_warnings(
    pump: Pump, previous: RefillVisit, entry: RefillEntry, dose_mcg: Decimal, settings: dict
) -> list[refill_checks.RefillWarning]:
    """What the preview warns about for this refill after `previous`, with `dose_mcg` per day in force."""
    residual = residual_found(pump, entry, previous, settings)  # the same finding the projection uses
    found = [
        refill_checks.residual_discrepancy_warning(residual) if residual else None,
        # The reservoir is emptied at aspiration, so what it reports after the fill should equal what went in.
        refill_checks.pocket_fill_warning(
            pump.reservoir_ml,
            entry.volume_added_ml - entry.resulting_volume_ml,
            small_threshold_ml=settings["pocket_fill_small_pump_ml"],
            large_threshold_ml=settings["pocket_fill_large_pump_ml"],
        ),
        refill_checks.bridge_bolus_warning(previous.concentration_mcg_per_ml, entry.concentration_mcg_per_ml),
        refill_checks.dose_range_warning(
            dose_mcg, settings["usual_dose_min_mcg_per_day"], settings["usual_dose_max_mcg_per_day"]
        ),
        battery_warning(pump, local_date(entry.visit_at), settings["battery_warning_months"]),
    ]
    return [w for w in found if w is not None]


# A battery past its date or at its indicator can stop the pump (and the drug) any day: as high as a refill finding.
BATTERY_SEVERITY = {
    refill_risk.BATTERY_ERI: "high",
    refill_risk.BATTERY_PAST_DUE: "high",
    refill_risk.BATTERY_DUE_SOON: "medium",
}


def battery_warning(pump: Pump, day: date, warning_months: int) -> refill_checks.RefillWarning | None:
    """The refill visit's battery warning, in the words and verdict of the refill-risk model."""
    verdict = refill_risk.battery_verdict(
        refill_risk.Battery(pump.battery_replacement_due, pump.eri_on), day, warning_months
    )
    if verdict not in BATTERY_SEVERITY:
        return None
    due = pump.battery_replacement_due  # set whenever an ERI is (tracker.services.pumps.record_eri)
    advice = refill_risk.ADVICE.get(verdict, "Schedule the replacement.")
    return refill_checks.RefillWarning(
        "battery",
        BATTERY_SEVERITY[verdict],
        f"{refill_risk.LABELS[verdict]}: replacement due {fmt_date(due)}. {advice}",
    )


@use_case("refill")
def record_refill(
    session: Session,
    actor: Actor,
    pump_id: int,
    entry: RefillEntry,
    acknowledged: bool,
    now: datetime,
    expected_last_fill_id: int | None = None,
) -> RefillVisit:
    """Save the refill after the same checks as the preview; high-severity warnings need an acknowledgement."""
    if not allowed(actor.role, "refill.record"):
        raise PermissionDenied("Your role may not record refills.")
    lock_row(session, Pump, pump_id)  # then the last fill read below is the one this refill follows
    previous = last_fill(session, pump_id)
    if expected_last_fill_id is not None and previous is not None and previous.id != expected_last_fill_id:
        raise StaleEdit(
            "Someone else recorded a refill for this pump after you opened the form; nothing was "
            "saved. Check the refills table before entering it again."
        )
    preview = preview_refill(session, pump_id, entry, now)
    missing = refill_checks.bridge_bolus_answer(
        previous.concentration_mcg_per_ml,
        entry.concentration_mcg_per_ml,
        entry.bridge_bolus_given,
        entry.bridge_bolus_mcg,
        entry.bridge_bolus_reason,
    )
    if missing:
        raise DomainError(missing[1], missing[0])
    if entry.bridge_bolus_given:
        entry = replace(entry, bridge_bolus_reason="")  # a bolus was given: there is no "why not" to keep
    if preview.needs_acknowledgement and not acknowledged:
        raise DomainError("Acknowledge the high-severity warnings to save this refill.", "acknowledge")
    pump = session.get(Pump, pump_id)
    # Read before recompute_schedule rewrites it: the date this refill is judged against (quality dashboard).
    in_force = session.scalar(select(RefillSchedule.due_date).where(RefillSchedule.pump_id == pump.id))
    visit = RefillVisit(
        pump_id=pump.id,
        clinician_id=actor.user_id,
        **warning_values(preview.warnings, actor.user_id),
        due_date_in_force=in_force,
        **{name: getattr(entry, name) for name in ENTRY_FIELDS},
    )
    session.add(visit)
    session.flush()
    complete_open_appointment(session, pump.patient_id, visit.id, now)
    recompute_schedule(session, pump)
    record(
        session,
        actor,
        "create",
        "refill_visit",
        visit.id,
        pump.patient_id,
        None,
        snapshot(visit, ENTRY_FIELDS + ["acknowledged_by_id", "due_date_in_force"]),
    )
    return visit
