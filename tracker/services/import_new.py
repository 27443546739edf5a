"""Writing an import's new patients (issue #9), a batch at a time, table by table in bulk: for thousands of rows the
ORM's one object at a time costs more than everything else together. The rows are the ones the forms write
(create_patient, move_stage, implant_pump, record_refill, book_refill), built by the same row builders
(tracker.clinical.row_values), audit entries included."""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

from tracker.clinic_zone import start_of_day
from tracker.clinical.import_cells import PatientRow
from tracker.clinical.import_columns import IMPLANTED
from tracker.clinical.journey import ADJUSTMENT, EVALUATION, IMPLANTATION, TRIAL
from tracker.clinical.row_values import booking_values, dose_values, pump_values, schedule_values, warning_values
from tracker.models import (
    DoseChange,
    Implantation,
    Patient,
    Pump,
    RefillAppointment,
    RefillSchedule,
    RefillVisit,
    StageEvent,
)
from tracker.services.advisories import flag_new_pumps
from tracker.services.audit import snapshot
from tracker.services.bookings import FIELDS as BOOKING_FIELDS
from tracker.services.doses import DOSE_FIELDS
from tracker.services.import_batch import BatchWriter
from tracker.services.patients import PATIENT_FIELDS, STATE_FIELDS

if TYPE_CHECKING:
    from tracker.services.import_plan import RowPlan

PUMP_FIELDS = [
    "model_id",
    "serial",
    "reservoir_ml",
    "implanted_on",
    "catheter_tip_level",
    "alarm_volume_ml",
    "battery_replacement_due",
]
VISIT_FIELDS = [
    "visit_at",
    "expected_residual_ml",
    "actual_residual_ml",
    "concentration_mcg_per_ml",
    "volume_added_ml",
    "resulting_volume_ml",
    "notes",
    "acknowledged_by_id",
]
EVENT_FIELDS = ["from_stage", "to_stage", "effective_date", "reason"]


def create_patients(run: BatchWriter, plans: list[RowPlan]) -> None:
    """A batch of new patients: patients, stage events, implantations, pumps, fills, doses, schedules, bookings."""
    if not plans:
        return
    user, rows = run.actor.user_id, [p.row for p in plans]
    patients = [_patient(row) for row in rows]
    for row, patient, patient_id in zip(rows, patients, run.insert(Patient, patients, ("mrn_key",)), strict=True):
        patient["id"] = patient_id
        after = _json(patient, PATIENT_FIELDS + STATE_FIELDS) | {"imported_from": run.filename, "line": row.line}
        run.record("create", "patient", patient_id, patient_id, None, after)
    events = [
        (row, event) for row, patient in zip(rows, patients, strict=True) for event in _history(run, row, patient)
    ]
    event_ids = run.insert(StageEvent, [event for _, event in events], ("patient_id", "to_stage"))
    implants = []
    for (row, event), event_id in zip(events, event_ids, strict=True):
        run.record("create", "stage_event", event_id, event["patient_id"], None, _json(event, EVENT_FIELDS))
        if event["to_stage"] == IMPLANTATION:
            implants.append(
                {
                    "stage_event_id": event_id,
                    "patient_id": event["patient_id"],
                    "surgery_centre_id": row.surgery_centre_id,
                    "surgeon": row.surgeon,
                }
            )
    if implants:
        run.add_rows(Implantation, implants)
    implanted = [(row, patient["id"]) for row, patient in zip(rows, patients, strict=True) if row.stage in IMPLANTED]
    pumps = [_pump(row, patient_id) for row, patient_id in implanted]
    fills, doses, schedules, bookings, pump_ids = [], [], [], [], []
    for (row, patient_id), pump, pump_id in zip(
        implanted, pumps, run.insert(Pump, pumps, ("patient_id",)), strict=True
    ):
        run.record("create", "pump", pump_id, patient_id, None, _json(pump, PUMP_FIELDS))
        pump_ids.append(pump_id)
        at = start_of_day(row.last_refill_date)
        at_implant = row.last_refill_date == row.implanted_on
        fills.append(
            {
                "pump_id": pump_id,
                "visit_at": at,
                "clinician_id": user,
                "at_implant": at_implant,
                **fill_values(run, row),
            }
        )
        doses.append(
            {
                "pump_id": pump_id,
                "effective_at": at,
                **programme_values(row),
                "reason": f"Dose in force at the last refill. {run.note(row)}.",
                "recorded_by_id": user,
                "signed_off_by_id": None,
            }
        )
        schedules.append(
            {
                "pump_id": pump_id,
                "patient_id": patient_id,
                "location_id": row.location_id,
                **schedule_values(row.projection, at, row.last_refill_volume_ml, run.now),
            }
        )
        if row.next_refill_at is not None:
            bookings.append(new_booking_values(run, row, patient_id, pump_id) | {"booked_at": run.now})
    # One fill and one dose per pump, in the pumps' order.
    owners = [patient_id for _, patient_id in implanted]
    for patient_id, fill, fill_id in zip(owners, fills, run.insert(RefillVisit, fills, ("pump_id",)), strict=True):
        run.record("create", "refill_visit", fill_id, patient_id, None, _json(fill, VISIT_FIELDS))
    for patient_id, dose, dose_id in zip(owners, doses, run.insert(DoseChange, doses, ("pump_id",)), strict=True):
        run.record("create", "dose_change", dose_id, patient_id, None, _json(dose, DOSE_FIELDS))
    if schedules:
        run.add_rows(RefillSchedule, schedules)
    for booking, booking_id in zip(bookings, run.insert(RefillAppointment, bookings, ("pump_id",)), strict=True):
        after = _json(booking, BOOKING_FIELDS)
        run.record("create", "refill_appointment", booking_id, booking["patient_id"], None, after)
    flag_new_pumps(run.session, run.actor, pump_ids)


def fill_values(run: BatchWriter, row: PatientRow) -> dict:
    """The last refill's figures as the refill form records them, with the warnings the dry run showed (the
    importing user acknowledged the high ones before the import could start)."""
    residuals = row.actual_residual_ml is not None
    return {
        "expected_residual_ml": row.expected_residual_ml,
        "actual_residual_ml": row.actual_residual_ml,
        "concentration_mcg_per_ml": row.concentration_mcg_per_ml,
        "volume_added_ml": _first(row.volume_added_ml, row.last_refill_volume_ml),
        "resulting_volume_ml": row.last_refill_volume_ml,
        **warning_values(row.warnings, run.actor.user_id),
        "notes": f"{run.note(row)}" + ("." if residuals else " (residuals not recorded)."),
    }


def programme_values(row: PatientRow) -> dict:
    """The dose ledger's columns for the row's programme, as the dose form writes them."""
    return dose_values(row.daily_dose_mcg, row.flex_schedule, row.bolus_dose_mcg, row.max_boluses_per_day)


def new_booking_values(run: BatchWriter, row: PatientRow, patient_id: int, pump_id: int) -> dict:
    """The file's next refill, booked at the patient's home location with their nurse (else the importing user)."""
    return booking_values(
        patient_id=patient_id,
        pump_id=pump_id,
        starts_at=row.next_refill_at,
        location_id=row.location_id,
        clinician_id=row.nurse_id or run.actor.user_id,
        late_reason=row.next_refill_late_reason,
        booked_by_id=run.actor.user_id,
    )


def _patient(row: PatientRow) -> dict:
    return {
        "mrn": row.mrn,
        "mrn_key": row.mrn_key,
        "first_name": row.first_name,
        "last_name": row.last_name,
        "date_of_birth": row.date_of_birth,
        "sex": row.sex,
        "diagnosis": row.diagnosis,
        "spasticity_origin": row.spasticity_origin,
        "location_id": row.location_id,
        "nurse_id": row.nurse_id,
        "withdrawal_risk": row.withdrawal_risk,
        "withdrawal_risk_reason": row.withdrawal_risk_reason,
        "phone": row.phone,
        "stage": row.stage,
        "stage_since": row.stage_since,
        "status": "active",
        "exit_reason": None,
        "journey_started": row.referral_date,
        "version": 1,
    }


def _history(run: BatchWriter, row: PatientRow, patient: dict) -> list[dict]:
    """The stage events an import can vouch for: the referral, then the implantation and the current stage on
    their dates. Stages the file does not date (a trial before an implant) are left out, and the reasons say so."""

    def event(from_stage, to_stage, on, reason):
        return {
            "patient_id": patient["id"],
            "from_stage": from_stage,
            "to_stage": to_stage,
            "effective_date": on,
            "reason": reason,
            "recorded_by_id": run.actor.user_id,
            "exit_reason": None,
            "override": False,
        }

    note = run.note(row)
    events = [event(None, EVALUATION, row.referral_date, f"Referral. {note}.")]
    if row.stage == TRIAL:
        events.append(event(EVALUATION, TRIAL, row.stage_since, f"{note}."))
    if row.stage in IMPLANTED:
        events.append(
            event(EVALUATION, IMPLANTATION, row.implanted_on, f"{note}; the screening trial was not imported.")
        )
    if row.stage == ADJUSTMENT:
        events.append(event(IMPLANTATION, ADJUSTMENT, row.stage_since, f"{note}."))
    return events


def _pump(row: PatientRow, patient_id: int) -> dict:
    model = row.pump_model
    values = pump_values(
        model_id=model.id,
        reservoir_ml=model.reservoir_ml,
        battery_life_months=model.battery_life_months,
        serial=row.pump_serial,
        implanted_on=row.implanted_on,
        surgery_centre_id=row.surgery_centre_id,
        catheter_tip_level=row.catheter_tip_level,
        alarm_volume_ml=row.alarm_volume_ml,
    )
    return {"patient_id": patient_id, **values, "explanted_on": None, "version": 1}


def _first(*values):
    return next((v for v in values if v is not None), None)


def _json(values: dict, fields: list[str]) -> dict:
    """snapshot() for a row written from a dict: the same JSON-safe before/after values."""
    return snapshot(SimpleNamespace(**values), fields)
