"""Booking, rebooking and cancelling a patient's refill appointment."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, request, url_for

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today, clinic_zone
from tracker.extensions import db
from tracker.formats import fmt_datetime
from tracker.models import Patient, RefillAppointment, RefillSchedule
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.once import once
from tracker.physician.forms import AskForm
from tracker.scheduling import bp
from tracker.scheduling.forms import BookingForm, CancelForm
from tracker.services import DomainError, NeedsPhysician, StaleEdit, bookings, transaction
from tracker.services.booking_page import bookable_schedule, booking_history, clinician_choices
from tracker.services.patient_queries import location_choices
from tracker.services.physician_queue import open_request
from tracker.web.args import int_arg
from tracker.web.forms import form_version, render_form, show_error


def _booking_choices(form: BookingForm) -> None:
    form.location_id.choices = [(None, "—")] + location_choices(db.session, "clinic")
    form.clinician_id.choices = [(None, "—")] + clinician_choices(db.session)


def _prefill(form: BookingForm, patient: Patient, current, schedule: RefillSchedule) -> None:
    """A new form: the patient's clinic and nurse, or the slot a physician's approved request brings."""
    form.location_id.data = int_arg("location_id") or patient.location_id
    form.clinician_id.data = int_arg("clinician_id") or patient.nurse_id
    form.version.data = current.version if current else ""
    form.appointment_id.data = current.id if current else ""
    try:
        form.starts_at.data = datetime.strptime(request.args.get("starts_at", ""), "%Y-%m-%dT%H:%M")
    except ValueError:
        form.starts_at.data = bookings.suggested_start(schedule.due_date, clinic_today())


def _save(form: BookingForm, patient_id: int, current, starts_at: datetime) -> None:
    """Book the refill, or move the open booking the form was opened on."""
    if str(current.id if current else "") != (form.appointment_id.data or ""):
        raise StaleEdit("The booking changed after this form was opened.")
    slot = (starts_at, form.location_id.data, form.clinician_id.data)
    reasons = (form.late_reason.data or "", form.override_reason.data or "")
    with transaction(db.session, "booking"), once(form):
        if current is None:
            bookings.book_refill(db.session, actor(), patient_id, *slot, *reasons, datetime.now(UTC))
        else:
            version = form_version(form.version)
            why = form.why.data or ""
            bookings.rebook(db.session, actor(), current.id, version, *slot, *reasons, why, datetime.now(UTC))


def _ask_form(form: BookingForm) -> AskForm:
    """After the alarm date a booking is a physician's: the request carries the slot the user tried."""
    return AskForm(
        prefix="ask",
        formdata=None,
        kind=BOOKING_AFTER_ALARM,
        starts_at=form.starts_at.data.strftime("%Y-%m-%dT%H:%M"),
        location_id=form.location_id.data or "",
        clinician_id=form.clinician_id.data or "",
    )


def _after_booking(patient_id: int) -> str:
    """Where the page that sent the user here asked to go back (a path on this site only), else the patient."""
    target = request.args.get("next", "")
    return (
        target
        if target.startswith("/") and not target.startswith("//")
        else url_for("patients.show", patient_id=patient_id)
    )


def _booking_page(form: BookingForm, patient: Patient, schedule: RefillSchedule, current, ask_form) -> tuple:
    return render_form(
        "calendar/book.html",
        form=form,
        patient=patient,
        schedule=schedule,
        current=current,
        history=booking_history(db.session, patient.id),
        cancel_form=CancelForm(version=current.version if current else ""),
        ask_form=ask_form,
        asked=open_request(db.session, patient.id, BOOKING_AFTER_ALARM),
    )


@bp.route("/patients/<int:patient_id>/book", methods=["GET", "POST"])
@requires("refill.book")
def book(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    schedule = bookable_schedule(db.session, patient)
    if schedule is None:
        flash("Only patients whose pump holds drug have refills to book.", "error")
        return redirect(url_for("patients.show", patient_id=patient_id))
    current = bookings.open_appointment(db.session, patient_id)
    form, ask_form = BookingForm(), None
    _booking_choices(form)
    if request.method == "GET":
        _prefill(form, patient, current, schedule)
    if form.validate_on_submit():
        starts_at = form.starts_at.data.replace(tzinfo=clinic_zone())
        try:
            _save(form, patient_id, current, starts_at)
        except StaleEdit:
            flash("Someone else changed this booking meanwhile; nothing was saved. Check it and try again.", "error")
            return redirect(url_for("calendar.book", patient_id=patient_id))
        except DomainError as error:
            show_error(form, error, {"reason": "why"})
            ask_form = _ask_form(form) if isinstance(error, NeedsPhysician) else None
        else:
            flash(f"Refill booked for {fmt_datetime(starts_at)}.", "success")
            return redirect(_after_booking(patient_id))
    return _booking_page(form, patient, schedule, current, ask_form)


@bp.post("/appointments/<int:appointment_id>/cancel")
@requires("refill.book")
def cancel(appointment_id: int):
    appointment = db.session.get(RefillAppointment, appointment_id)
    if appointment is None:
        abort(404)
    form = CancelForm()
    if not form.validate_on_submit():
        flash("Say why the appointment is cancelled.", "error")
        return redirect(url_for("calendar.book", patient_id=appointment.patient_id))
    try:
        with transaction(db.session, "booking"):
            bookings.cancel(
                db.session, actor(), appointment_id, form_version(form.version), form.why.data, datetime.now(UTC)
            )
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash("Appointment cancelled. The patient is back on the worklist if the refill is due.", "success")
    return redirect(url_for("calendar.book", patient_id=appointment.patient_id))
