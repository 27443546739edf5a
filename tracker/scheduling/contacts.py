"""Logging a contact attempt (a call, a letter) from the worklist or the patient page."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for

from tracker.auth.permissions import actor, requires
from tracker.extensions import db
from tracker.models import Patient
from tracker.once import once
from tracker.scheduling import bp
from tracker.scheduling.forms import ContactForm
from tracker.services import DomainError, bookings, transaction
from tracker.web.forms import show_error

WORKLIST_ARGS = ("location", "nurse", "page")


@bp.post("/patients/<int:patient_id>/contacts")
@requires("contact.log")
def log_contact(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    form = ContactForm()
    if form.validate_on_submit():
        try:
            with transaction(db.session, "patient"), once(form):
                bookings.log_contact(
                    db.session,
                    actor(),
                    patient_id,
                    form.method.data,
                    form.outcome.data,
                    form.notes.data or "",
                    datetime.now(UTC),
                )
        except DomainError as error:
            show_error(form, error)
        else:
            flash("Contact attempt logged.", "success")
            if request.args.get("back") == "patient":  # logged from the patient page's contact history
                return redirect(url_for("patients.show", patient_id=patient_id) + "#contacts")
            # Back to the worklist as it was filtered: only its own filters, never an arbitrary argument (one
            # named "endpoint" used to reach url_for itself and turn a saved contact into a 500).
            back = {k: request.args[k] for k in WORKLIST_ARGS if k in request.args}
            return redirect(url_for("calendar.worklist", **back) + f"#p{patient_id}")
    # Shown again on a page of its own, with the errors beside the fields and what was typed kept.
    return render_template("calendar/contact.html", form=form, patient=patient), 422
