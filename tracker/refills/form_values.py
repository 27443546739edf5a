"""What the refill, dose and device-event forms (and their corrections) turn into: the patient and pump a route
names, the clinic's wall clock, and the service's inputs built from a form."""

from datetime import datetime
from decimal import Decimal

from flask import abort, flash

from tracker.clinic_zone import clinic_zone
from tracker.extensions import db
from tracker.models import Patient
from tracker.refills.forms import DoseForm, RefillForm
from tracker.services.refill_visits import RefillEntry
from tracker.services.refills import Programme, current_pump


def local_time(naive: datetime) -> datetime:
    """A datetime-local form value is the clinic's wall clock."""
    return naive.replace(tzinfo=clinic_zone())


def patient_and_pump(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    pump = current_pump(db.session, patient_id)
    if pump is None:
        flash("This patient has no pump in use.", "error")
    return patient, pump


# Engine input names that differ from the form's field names.
FORM_FIELD = {
    "flex_steps": "flex_schedule",
    "flex_by_weekday": "flex_schedule",
    "rate_mcg_per_hour": "flex_schedule",
    "reservoir_after_fill_ml": "resulting_volume_ml",
}


def refill_entry(form: RefillForm) -> RefillEntry:
    return RefillEntry(
        visit_at=local_time(form.visit_at.data),
        expected_residual_ml=form.expected_residual_ml.data,
        actual_residual_ml=form.actual_residual_ml.data,
        concentration_mcg_per_ml=form.concentration_mcg_per_ml.data,
        volume_added_ml=form.volume_added_ml.data,
        resulting_volume_ml=form.resulting_volume_ml.data,
        lot=(form.lot.data or "").strip(),
        bridge_bolus_mcg=form.bridge_bolus_mcg.data,
        bridge_bolus_given={"yes": True, "no": False}.get(form.bridge_bolus_given.data),
        bridge_bolus_reason=(form.bridge_bolus_reason.data or "").strip(),
        ashworth=form.ashworth.data or None,
        penn_frequency=form.penn_frequency.data,
        complications=(form.complications.data or "").strip(),
        notes=(form.notes.data or "").strip(),
    )


def dose_programme(form: DoseForm) -> Programme:
    bolus = form.bolus_dose_mcg.data or Decimal(0)
    boluses = form.max_boluses_per_day.data or 0
    if form.mode.data == "flex":
        return Programme(Decimal(0), bolus, boluses, {"default": form.parsed_flex})
    return Programme(form.daily_dose_mcg.data, bolus, boluses)
