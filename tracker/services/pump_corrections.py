"""Correcting an implant detail (serial, catheter tip, alarm volume, surgeon, surgery centre) or the battery ERI
date (issue 17, item 8).

These are single values, not ledgers: the pump (or its implantation) takes the right value and a PumpCorrection
row keeps the one it replaced, with who, when and why. A corrected alarm volume moves the refill dates and a
corrected ERI the battery date, in the same transaction; each change is audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.clinical import refill
from tracker.clinical.corrections import battery_due_with_eri, battery_due_without_eri
from tracker.clinical.refill_risk import battery_due
from tracker.models import Implantation, Location, Pump, PumpCorrection, StageEvent
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, use_case
from tracker.services.audit import record, snapshot
from tracker.services.pumps import check_eri_date
from tracker.services.refills import recompute_schedule

# What the patient page calls each corrected field.
FIELDS = {
    "serial": "Serial",
    "catheter_tip_level": "Catheter tip",
    "alarm_volume_ml": "Alarm volume (mL)",
    "surgeon": "Surgeon",
    "surgery_centre": "Surgery centre",
    "eri_on": "Battery ERI",
}
STALE = (
    "Someone else changed this pump after you opened the form; nothing of yours was saved. The page shows the "
    "pump as saved now: check it, then correct it again if it is still needed."
)


@dataclass(frozen=True)
class ImplantValues:
    """The implant details as the correction form gives them."""

    serial: str
    catheter_tip_level: str
    alarm_volume_ml: Decimal
    surgeon: str
    surgery_centre_id: int | None


def _require(actor: Actor) -> None:
    if not allowed(actor.role, "entry.correct"):
        raise PermissionDenied("Your role may not correct clinical entries.")


def _pump(session: Session, pump_id: int, expected_version: int, expected_last_correction: int) -> Pump:
    """The pump in use, unchanged since the form was opened (its version, and no correction added since)."""
    pump = session.get(Pump, pump_id)
    if pump is None or pump.explanted_on is not None:
        raise DomainError("This pump is no longer in use.")
    if pump.version != expected_version or last_correction_id(session, pump.id) != expected_last_correction:
        raise StaleEdit(STALE)
    return pump


def last_correction_id(session: Session, pump_id: int) -> int:
    """The newest correction of the pump (0: none): a form carries it, so a second tab's correction is seen."""
    return session.scalar(select(func.max(PumpCorrection.id)).where(PumpCorrection.pump_id == pump_id)) or 0


def implantation_of(session: Session, pump: Pump) -> Implantation | None:
    """The implantation that placed this pump: the patient's standing implantation on the implant day."""
    return session.scalars(
        select(Implantation)
        .join(StageEvent, StageEvent.id == Implantation.stage_event_id)
        .where(
            Implantation.patient_id == pump.patient_id,
            StageEvent.effective_date == pump.implanted_on,
            StageEvent.voided_at.is_(None),
        )
        .order_by(Implantation.id.desc())
        .limit(1)
    ).first()


def _why(why: str) -> str:
    if not (why or "").strip():
        raise DomainError("Say why this detail is being corrected.", "why")
    return why.strip()


def _text(value) -> str | None:
    return None if value is None else value.isoformat() if hasattr(value, "isoformat") else str(value)


@use_case("pump")
def correct_implant(
    session: Session,
    actor: Actor,
    pump_id: int,
    expected_version: int,
    expected_last_correction: int,
    values: ImplantValues,
    why: str,
    now: datetime,
) -> list[str]:
    """Correct the implant details that differ from the pump's; returns the names of the fields corrected."""
    _require(actor)
    pump = _pump(session, pump_id, expected_version, expected_last_correction)
    why = _why(why)
    implantation = implantation_of(session, pump)
    serial, tip, surgeon = values.serial.strip(), values.catheter_tip_level.strip(), values.surgeon.strip()
    if not serial:
        raise DomainError("Enter the pump's serial number.", "serial")
    if not tip:
        raise DomainError("Enter the catheter tip level (for example T10).", "catheter_tip_level")
    if not Decimal("0.5") <= values.alarm_volume_ml < pump.reservoir_ml:
        raise DomainError(
            f"The alarm volume must be from 0.5 mL to below the {pump.reservoir_ml} mL reservoir.", "alarm_volume_ml"
        )
    centre = session.get(Location, values.surgery_centre_id) if values.surgery_centre_id else None
    if centre is None or centre.kind != "surgery_centre":
        raise DomainError("Choose the surgery centre where the pump was placed.", "surgery_centre_id")
    if implantation is None and (surgeon or centre.id != pump.surgery_centre_id):
        raise DomainError(
            "No implantation is recorded for this pump, so its surgeon cannot be corrected here.", "surgeon"
        )
    if implantation is not None and not surgeon:
        raise DomainError("Name the surgeon.", "surgeon")
    changes = []  # (field, old, new)
    for name, new in (("serial", serial), ("catheter_tip_level", tip), ("alarm_volume_ml", values.alarm_volume_ml)):
        if getattr(pump, name) != new:
            changes.append((name, getattr(pump, name), new))
    if implantation is not None and implantation.surgeon != surgeon:
        changes.append(("surgeon", implantation.surgeon, surgeon))
    if centre.id != pump.surgery_centre_id:
        changes.append(("surgery_centre", pump.surgery_centre.name, centre.name))
    if not changes:
        raise DomainError("Nothing differs from what is recorded; change a value or cancel.")
    pump_fields = ["serial", "catheter_tip_level", "alarm_volume_ml", "surgery_centre_id"]
    before_pump = snapshot(pump, pump_fields)
    before_implant = snapshot(implantation, ["surgeon", "surgery_centre_id"]) if implantation else None
    for name, old, new in changes:
        session.add(
            PumpCorrection(
                pump_id=pump.id,
                field=name,
                old_value=_text(old),
                new_value=_text(new),
                reason=why,
                corrected_at=now,
                corrected_by_id=actor.user_id,
            )
        )
        if name == "surgeon":
            implantation.surgeon = new
        elif name == "surgery_centre":
            pump.surgery_centre_id = centre.id
            if implantation is not None:
                implantation.surgery_centre_id = centre.id
        else:
            setattr(pump, name, new)
    session.flush()
    if any(name == "alarm_volume_ml" for name, _, _ in changes):  # the alarm (and due) date moves with it
        try:
            recompute_schedule(session, pump)
        except refill.RefillInputError as error:
            raise DomainError(error.message, "alarm_volume_ml") from None
    after_pump = snapshot(pump, pump_fields)
    if after_pump != before_pump:
        changed = [k for k in pump_fields if after_pump[k] != before_pump[k]]
        record(
            session,
            actor,
            "update",
            "pump",
            pump.id,
            pump.patient_id,
            {k: before_pump[k] for k in changed},
            {k: after_pump[k] for k in changed} | {"correction_reason": why},
        )
    if implantation is not None and snapshot(implantation, ["surgeon", "surgery_centre_id"]) != before_implant:
        after = snapshot(implantation, ["surgeon", "surgery_centre_id"])
        changed = [k for k in after if after[k] != before_implant[k]]
        record(
            session,
            actor,
            "update",
            "implantation",
            implantation.id,
            pump.patient_id,
            {k: before_implant[k] for k in changed},
            {k: after[k] for k in changed} | {"correction_reason": why},
        )
    return [name for name, _, _ in changes]


@use_case("pump")
def correct_eri(
    session: Session,
    actor: Actor,
    pump_id: int,
    expected_version: int,
    expected_last_correction: int,
    eri_on,
    why: str,
    now: datetime,
) -> Pump:
    """Correct the recorded ERI date (or void it: `eri_on` None); the battery date is set afresh from the
    corrected ERI as record_eri sets it."""
    _require(actor)
    pump = _pump(session, pump_id, expected_version, expected_last_correction)
    why = _why(why)
    if pump.eri_on is None:
        raise DomainError("No ERI is recorded for this pump; record one on the ERI form.")
    if eri_on is not None:
        check_eri_date(pump, eri_on, now)
        if eri_on == pump.eri_on:
            raise DomainError("That is the ERI date already recorded; enter the right one, or void it.", "eri_on")
    stop_days = pump.model.eri_to_stop_days
    if stop_days is None:
        raise DomainError(f"A {pump.model.name} has no battery, so it has no replacement indicator.", "eri_on")
    without = battery_due_without_eri(
        pump.battery_replacement_due,
        pump.eri_on,
        stop_days,
        battery_due(pump.implanted_on, pump.model.battery_life_months),
    )
    fields = ["eri_on", "battery_replacement_due"]
    before = snapshot(pump, fields)
    session.add(
        PumpCorrection(
            pump_id=pump.id,
            field="eri_on",
            old_value=_text(pump.eri_on),
            new_value=_text(eri_on),
            reason=why,
            corrected_at=now,
            corrected_by_id=actor.user_id,
        )
    )
    pump.eri_on = eri_on
    pump.battery_replacement_due = battery_due_with_eri(without, eri_on, stop_days)
    session.flush()
    record(
        session,
        actor,
        "update",
        "pump",
        pump.id,
        pump.patient_id,
        before,
        snapshot(pump, fields) | {"correction_reason": why},
    )
    return pump
