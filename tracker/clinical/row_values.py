"""The values of the rows a form and the import both write: a pump, a fill, a dose, a stored schedule, a booking.

Pure: each builder turns plain inputs into a dict of column values. The single-record use cases make an ORM
object from it (tracker.services.refills, refill_visits, bookings); the import inserts thousands of the same
dicts in bulk (tracker.services.import_new). One builder per row, so the two paths cannot drift apart.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from tracker.clinical import refill
from tracker.clinical.refill_risk import battery_due

OPEN = "booked"  # tracker.models.bookings.OPEN (models import nothing pure from here)
COMPLETED = "completed"


def pump_values(
    *,
    model_id: int,
    reservoir_ml: Decimal,
    battery_life_months: int | None,
    serial: str,
    implanted_on: date,
    surgery_centre_id: int | None,
    catheter_tip_level: str,
    alarm_volume_ml: Decimal,
) -> dict:
    """A pump placed on `implanted_on`: its reservoir is the model's, its battery due in calendar months."""
    return {
        "model_id": model_id,
        "serial": serial,
        "reservoir_ml": reservoir_ml,
        "implanted_on": implanted_on,
        "surgery_centre_id": surgery_centre_id,
        "catheter_tip_level": catheter_tip_level,
        "alarm_volume_ml": alarm_volume_ml,
        "battery_replacement_due": battery_due(implanted_on, battery_life_months),
    }


def dose_values(
    daily_dose_mcg: Decimal,
    flex_schedule: dict | None,
    bolus_dose_mcg: Decimal | None,
    max_boluses_per_day: int | None,
) -> dict:
    """The dose ledger's programme columns: simple or flexible, with the permitted boluses (none: 0)."""
    return {
        "mode": "flex" if flex_schedule else "simple",
        "daily_dose_mcg": daily_dose_mcg,
        "flex_schedule": flex_schedule,
        "bolus_dose_mcg": bolus_dose_mcg if bolus_dose_mcg is not None else Decimal(0),
        "max_boluses_per_day": max_boluses_per_day if max_boluses_per_day is not None else 0,
    }


def warning_values(warnings, acknowledging_user_id: int) -> dict:
    """A fill's warnings as stored (code, severity, message), and who acknowledged them when one is high."""
    stored = [{"code": w.code, "severity": w.severity, "message": w.message} for w in warnings]
    return {
        "warnings": stored or None,
        "acknowledged_by_id": acknowledging_user_id if any(w["severity"] == "high" for w in stored) else None,
    }


def schedule_values(
    projection: refill.RefillProjection, fill_at: datetime, volume_after_fill_ml: Decimal, computed_at: datetime
) -> dict:
    """A pump's stored refill schedule (refill_schedule) from the projection after its last fill."""
    return {
        "fill_at": fill_at,
        "volume_after_fill_ml": volume_after_fill_ml,
        "daily_volume_ml": projection.daily_volume_ml,
        "due_date": projection.due_date,
        "alarm_date": projection.alarm_date,
        "empty_date": projection.empty_date,
        "stability_date": projection.stability_date,
        "binding_rule": projection.binding_rule,
        "explanation": projection.explanation,
        "computed_at": computed_at,
    }


def booking_values(
    *,
    patient_id: int,
    pump_id: int,
    starts_at: datetime,
    location_id: int,
    clinician_id: int,
    late_reason: str,
    booked_by_id: int,
    override_by_id: int | None = None,
) -> dict:
    """An open refill booking."""
    return {
        "patient_id": patient_id,
        "pump_id": pump_id,
        "starts_at": starts_at,
        "location_id": location_id,
        "clinician_id": clinician_id,
        "late_reason": late_reason,
        "override_by_id": override_by_id,
        "status": OPEN,
        "booked_by_id": booked_by_id,
    }


def completed_booking_values(refill_visit_id: int, now: datetime) -> dict:
    """What recording a refill does to the open booking: completed by that visit (it books nothing itself)."""
    return {"status": COMPLETED, "closed_at": now, "refill_visit_id": refill_visit_id}


def rebooked_values(now: datetime, user_id: int, reason: str) -> dict:
    """An open booking closed because another replaces it."""
    return {"status": "rebooked", "closed_at": now, "closed_by_id": user_id, "close_reason": reason}
