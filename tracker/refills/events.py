"""Device events on the patient's pump (routes on the refills blueprint): record one, record its work done."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy.orm.exc import StaleDataError

from tracker.auth.permissions import actor, requires
from tracker.clinical import pump_events as rules
from tracker.extensions import db
from tracker.formats import fmt_date
from tracker.once import once
from tracker.refills import bp
from tracker.refills.form_values import local_time, patient_and_pump
from tracker.refills.forms import PumpEventForm, WorkDoneForm
from tracker.services import DomainError, PermissionDenied, StaleEdit
from tracker.services import pump_events as service
from tracker.services.settings import all_settings, event_rules
from tracker.web.forms import form_version, show_error


def _patient_page(patient_id: int) -> str:
    return url_for("patients.show", patient_id=patient_id) + "#device-events"


def _recorded(event) -> str:
    """What saving the event did, in the words a nurse acts on."""
    what = rules.KINDS[event.kind]
    if event.empties_pump:
        return f"{what} recorded: the pump is emptied, so it shows as empty everywhere until its refill is recorded."
    if event.work:
        return (
            f"{what} recorded: {rules.WORK_LABELS[event.work].lower()} due {fmt_date(event.work_due_on)}, on the "
            "worklist until recorded done."
        )
    return f"{what} recorded on the timeline."


@bp.route("/patients/<int:patient_id>/pump-events/new", methods=["GET", "POST"])
@requires("pump_event.record")
def pump_event(patient_id: int):
    """Record an MRI or a catheter event on the pump in use."""
    patient, pump = patient_and_pump(patient_id)
    if pump is None:
        return redirect(url_for("patients.show", patient_id=patient_id))
    form, stale = PumpEventForm(), False
    if request.method == "GET":
        form.pump_id.data = pump.id
    if form.validate_on_submit():
        entry = service.EventEntry(
            form.kind.data, local_time(form.occurred_at.data), form.notes.data or "", form.volume_removed_ml.data
        )
        try:
            with once(form):
                event = service.record_event(
                    db.session, actor(), patient.id, form_version(form.pump_id), entry, datetime.now(UTC)
                )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
            stale = isinstance(error, StaleEdit)
            if stale:  # the page now shows the pump in use; a second save is deliberate
                form.pump_id.data = pump.id
        else:
            flash(_recorded(event), "success")
            return redirect(_patient_page(patient_id))
    status = 200 if request.method == "GET" else 409 if stale else 422
    return render_template(
        "refills/pump_event.html",
        form=form,
        patient=patient,
        pump=pump,
        rules=event_rules(all_settings(db.session)),
        mri_rules=rules.MRI_RULES,
    ), status


def _done(patient_id: int, event_id: int, work: str):
    patient, _ = patient_and_pump(patient_id)
    event = service.event_for_done(db.session, patient.id, event_id, work)
    if event is None:
        abort(404)
    form, refused = WorkDoneForm(), 422
    if request.method == "GET":
        form.version.data = event.version
    if form.validate_on_submit():
        try:
            service.record_done(
                db.session,
                actor(),
                patient.id,
                event.id,
                work,
                form.note.data or "",
                form_version(form.version),
                datetime.now(UTC),
            )
        except (DomainError, StaleDataError) as error:
            db.session.rollback()
            if isinstance(error, StaleDataError):
                error = StaleEdit("Someone else recorded this done meanwhile; nothing was saved.")
            show_error(form, error)
            refused = 409 if isinstance(error, StaleEdit) else 403 if isinstance(error, PermissionDenied) else 422
            event = service.event_for_done(db.session, patient.id, event_id, work)
        else:
            flash(f"{rules.WORK_LABELS[work]} recorded done.", "success")
            return redirect(_patient_page(patient_id))
    status = 200 if request.method == "GET" else refused
    return render_template(
        "refills/work_done.html",
        form=form,
        patient=patient,
        event=event,
        kinds=rules.KINDS,
        label=rules.WORK_LABELS[work],
        advice=rules.WORK_ADVICE[work],
    ), status


@bp.route("/patients/<int:patient_id>/pump-events/<int:pump_event_id>/check", methods=["GET", "POST"])
@requires("pump_event.record")
def event_check(patient_id: int, pump_event_id: int):
    """Record the post-MRI pump check done (nurses and physicians)."""
    return _done(patient_id, pump_event_id, rules.PUMP_CHECK)


@bp.route("/patients/<int:patient_id>/pump-events/<int:pump_event_id>/review", methods=["GET", "POST"])
@requires("pump_event.review")
def event_review(patient_id: int, pump_event_id: int):
    """Record a catheter event's physician review done (physicians only)."""
    return _done(patient_id, pump_event_id, rules.PHYSICIAN_REVIEW)
