"""Writing an import's changes to patients already here (issue #9), one patient at a time through the ORM, as the
forms make them: details, a stage move, the pump's alarm and catheter tip, a newer refill (completing the open
booking, as recording a refill does), a dose change, and the next booking (rebooking the open one)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from tracker.clinic_zone import start_of_day
from tracker.clinical.import_cells import PatientRow
from tracker.clinical.row_values import rebooked_values
from tracker.models import DoseChange, Pump, RefillAppointment, RefillSchedule, RefillVisit, StageEvent
from tracker.services.audit import snapshot
from tracker.services.bookings import FIELDS as BOOKING_FIELDS
from tracker.services.bookings import complete_open_appointment
from tracker.services.doses import DOSE_FIELDS
from tracker.services.import_batch import BatchWriter
from tracker.services.import_new import (
    EVENT_FIELDS,
    VISIT_FIELDS,
    fill_values,
    new_booking_values,
    programme_values,
)
from tracker.services.patients import STATE_FIELDS
from tracker.services.refills import recompute_schedule

if TYPE_CHECKING:
    from tracker.services.import_plan import RowPlan, Update


def apply_update(run: BatchWriter, plan: RowPlan) -> None:
    """One patient's update, as the forms would make it, audit rows included."""
    row, ex, update, session = plan.row, plan.existing, plan.update, run.session
    patient, pump = ex.patient, ex.pump
    if update.details:
        before = snapshot(patient, list(update.details))
        for attribute, (_old, new) in update.details.items():
            setattr(patient, attribute, new)
        run.record("update", "patient", patient.id, patient.id, before, snapshot(patient, list(update.details)))
    if update.move_to:
        before = snapshot(patient, STATE_FIELDS)
        event = StageEvent(
            patient_id=patient.id,
            from_stage=patient.stage,
            to_stage=update.move_to,
            effective_date=row.stage_since,
            reason=f"{run.note(row)}.",
            recorded_by_id=run.actor.user_id,
        )
        session.add(event)
        patient.stage, patient.stage_since = update.move_to, row.stage_since
        session.flush()
        run.record(
            "create",
            "stage_event",
            event.id,
            patient.id,
            None,
            snapshot(event, EVENT_FIELDS),
        )
        run.record("update", "patient", patient.id, patient.id, before, snapshot(patient, STATE_FIELDS))
    if pump is None:
        return
    if update.pump:
        before = snapshot(pump, list(update.pump))
        for attribute, (_old, new) in update.pump.items():
            setattr(pump, attribute, new)
        run.record("update", "pump", pump.id, patient.id, before, snapshot(pump, list(update.pump)))
    visit = None
    if update.new_refill:
        visit, dose = _refill(run, row, pump, update)
        complete_open_appointment(session, patient.id, visit.id, run.now)  # as recording a refill does
    if update.new_refill or "alarm_volume_ml" in update.pump or "withdrawal_risk" in update.details:
        session.flush()
        recompute_schedule(session, pump, run.settings)
    if update.book:
        _book(run, plan, pump, visit)


def _refill(run: BatchWriter, row: PatientRow, pump: Pump, update: Update) -> tuple[RefillVisit, DoseChange | None]:
    at = start_of_day(row.last_refill_date)
    user = run.actor.user_id
    # The due date the worklist showed before this refill, as record_refill keeps it (for the dashboard).
    due_before = run.session.scalar(select(RefillSchedule.due_date).where(RefillSchedule.pump_id == pump.id))
    visit = RefillVisit(
        pump_id=pump.id, visit_at=at, clinician_id=user, due_date_in_force=due_before, **fill_values(run, row)
    )
    run.session.add(visit)
    dose = None
    if update.dose_change:
        dose = DoseChange(
            pump_id=pump.id,
            effective_at=at,
            **programme_values(row),
            reason=f"Dose in force at the refill. {run.note(row)}.",
            recorded_by_id=user,
            signed_off_by_id=user if update.sign_off else None,
        )
        run.session.add(dose)
    run.session.flush()
    run.record("create", "refill_visit", visit.id, pump.patient_id, None, snapshot(visit, VISIT_FIELDS))
    if dose is not None:
        run.record("create", "dose_change", dose.id, pump.patient_id, None, snapshot(dose, DOSE_FIELDS))
    return visit, dose


def _book(run: BatchWriter, plan: RowPlan, pump: Pump, visit: RefillVisit | None) -> None:
    row, old = plan.row, plan.existing.appointment
    if old is not None and visit is None:  # still open: rebook it, keeping its history
        before = snapshot(old, BOOKING_FIELDS)
        for name, value in rebooked_values(
            run.now, run.actor.user_id, f"Rebooked by import ({run.note(row)})."
        ).items():
            setattr(old, name, value)
    new = RefillAppointment(**new_booking_values(run, row, pump.patient_id, pump.id))
    run.session.add(new)
    run.session.flush()
    if old is not None and visit is None:
        old.replaced_by_id = new.id
        run.record(
            "update",
            "refill_appointment",
            old.id,
            pump.patient_id,
            before,
            snapshot(old, BOOKING_FIELDS) | {"close_reason": old.close_reason},
        )
    run.record("create", "refill_appointment", new.id, pump.patient_id, None, snapshot(new, BOOKING_FIELDS))
