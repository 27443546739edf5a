"""Booking, rebooking and cancelling a patient's refill appointment."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today, clinic_zone
from tracker.extensions import db
from tracker.formats import fmt_datetime
from tracker.models import Patient, RefillAppointment, RefillSchedule, User
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.once import once
from tracker.physician.forms import AskForm
from tracker.scheduling import bp
from tracker.scheduling.forms import BookingForm, CancelForm
from tracker.services import DomainError, NeedsPhysician, StaleEdit
from tracker.services import bookings as service
from tracker.services.escalation import open_request
from tracker.services.patient_queries import location_choices
from tracker.services.refills import current_pump
from tracker.web.args import int_arg
from tracker.web.forms import form_version, show_error


def _booking_choices(form: BookingForm) -> None:
    form.location_id.choices = [(None, "—")] + location_choices(db.session, "clinic")
    clinicians = db.session.execute(
        select(User.id, User.full_name, User.role)
        .where(User.active.is_(True), User.role.in_(("nurse", "physician")))
        .order_by(User.full_name)
    ).all()
    form.clinician_id.choices = [(None, "—")] + [(i, f"{n} ({r})") for i, n, r in clinicians]


@bp.route("/patients/<int:patient_id>/book", methods=["GET", "POST"])
@requires("refill.book")
def book(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    pump = current_pump(db.session, patient_id)
    schedule = db.session.get(RefillSchedule, pump.id) if pump else None
    if schedule is None or not patient.on_refill_list:
        flash("Only patients whose pump holds drug have refills to book.", "error")
        return redirect(url_for("patients.show", patient_id=patient_id))
    current = service.open_appointment(db.session, patient_id)
    form = BookingForm()
    _booking_choices(form)
    zone = clinic_zone()
    if request.method == "GET":  # a physician's approved request brings the slot the requester tried
        form.location_id.data = int_arg("location_id") or patient.location_id
        form.clinician_id.data = int_arg("clinician_id") or patient.nurse_id
        form.version.data = current.version if current else ""
        form.appointment_id.data = current.id if current else ""
        try:
            form.starts_at.data = datetime.strptime(request.args.get("starts_at", ""), "%Y-%m-%dT%H:%M")
        except ValueError:
            form.starts_at.data = service.suggested_start(schedule.due_date, clinic_today())
    ask_form = None
    if form.validate_on_submit():
        starts_at = form.starts_at.data.replace(tzinfo=zone)
        now = datetime.now(UTC)
        try:
            if str(current.id if current else "") != (form.appointment_id.data or ""):
                raise StaleEdit("The booking changed after this form was opened.")
            with once(form):
                if current is None:
                    service.book_refill(
                        db.session,
                        actor(),
                        patient_id,
                        starts_at,
                        form.location_id.data,
                        form.clinician_id.data,
                        form.late_reason.data or "",
                        form.override_reason.data or "",
                        now,
                    )
                else:
                    service.rebook(
                        db.session,
                        actor(),
                        current.id,
                        form_version(form.version),
                        starts_at,
                        form.location_id.data,
                        form.clinician_id.data,
                        form.late_reason.data or "",
                        form.override_reason.data or "",
                        form.why.data or "",
                        now,
                    )
        except (StaleEdit, StaleDataError):
            db.session.rollback()
            flash("Someone else changed this booking meanwhile; nothing was saved. Check it and try again.", "error")
            return redirect(url_for("calendar.book", patient_id=patient_id))
        except DomainError as error:
            db.session.rollback()
            show_error(form, error, {"reason": "why"})
            if isinstance(error, NeedsPhysician):  # after the alarm date: hand it to a physician, slot and all
                ask_form = AskForm(
                    prefix="ask",
                    formdata=None,
                    kind=BOOKING_AFTER_ALARM,
                    starts_at=form.starts_at.data.strftime("%Y-%m-%dT%H:%M"),
                    location_id=form.location_id.data or "",
                    clinician_id=form.clinician_id.data or "",
                )
        else:
            flash(f"Refill booked for {fmt_datetime(starts_at)}.", "success")
            return redirect(
                request.args.get("next")
                if request.args.get("next", "").startswith("/") and not request.args.get("next", "").startswith("//")
                else url_for("patients.show", patient_id=patient_id)
            )
    history = db.session.scalars(
        select(RefillAppointment)
        .where(RefillAppointment.patient_id == patient_id)
        .order_by(RefillAppointment.booked_at.desc())
        .limit(10)
    ).all()
    status = 200 if request.method == "GET" else 422
    return render_template(
        "calendar/book.html",
        form=form,
        patient=patient,
        schedule=schedule,
        current=current,
        history=history,
        cancel_form=CancelForm(version=current.version if current else ""),
        ask_form=ask_form,
        asked=open_request(db.session, patient_id, BOOKING_AFTER_ALARM),
    ), status


@bp.post("/appointments/<int:appointment_id>/cancel")
@requires("refill.book")
def cancel(appointment_id: int):
    appointment = db.session.get(RefillAppointment, appointment_id)
    if appointment is None:
        abort(404)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            service.cancel(
                db.session, actor(), appointment_id, form_version(form.version), form.why.data, datetime.now(UTC)
            )
        except (DomainError, StaleDataError) as error:
            db.session.rollback()
            flash(getattr(error, "message", "Someone else changed this booking meanwhile."), "error")
        else:
            flash("Appointment cancelled. The patient is back on the worklist if the refill is due.", "success")
    else:
        flash("Say why the appointment is cancelled.", "error")
    return redirect(url_for("calendar.book", patient_id=appointment.patient_id))
