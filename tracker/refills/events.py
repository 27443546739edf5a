"""Device events on the patient's pump (routes on the refills blueprint): record one, record its work done."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, request, url_for

from tracker.auth.permissions import actor, requires
from tracker.clinical.pump_events import KINDS, MRI_RULES, PHYSICIAN_REVIEW, PUMP_CHECK, WORK_ADVICE, WORK_LABELS
from tracker.extensions import db
from tracker.formats import fmt_date
from tracker.once import once
from tracker.refills import bp
from tracker.refills.form_values import local_time, patient_and_pump
from tracker.refills.forms import PumpEventForm, WorkDoneForm
from tracker.services import DomainError, PermissionDenied, StaleEdit, pump_events, transaction
from tracker.services.settings import all_settings, event_rules
from tracker.web.forms import form_version, render_form, show_error


def _patient_page(patient_id: int) -> str:
    return url_for("patients.show", patient_id=patient_id) + "#device-events"


def _recorded(event) -> str:
    """What saving the event did, in the words a nurse acts on."""
    what = KINDS[event.kind]
    if event.empties_pump:
        return f"{what} recorded: the pump is emptied, so it shows as empty everywhere until its refill is recorded."
    if event.work:
        return (
            f"{what} recorded: {WORK_LABELS[event.work].lower()} due {fmt_date(event.work_due_on)}, on the "
            "worklist until recorded done."
        )
    return f"{what} recorded on the timeline."


def _record_event(form: PumpEventForm, patient_id: int):
    entry = pump_events.EventEntry(
        form.kind.data, local_time(form.occurred_at.data), form.notes.data or "", form.volume_removed_ml.data
    )
    with transaction(db.session, "pump"), once(form):
        return pump_events.record_event(
            db.session, actor(), patient_id, form_version(form.pump_id), entry, datetime.now(UTC)
        )


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
        try:
            event = _record_event(form, patient.id)
        except DomainError as error:
            show_error(form, error)
            stale = isinstance(error, StaleEdit)
            if stale:  # the page now shows the pump in use; a second save is deliberate
                form.pump_id.data = pump.id
        else:
            flash(_recorded(event), "success")
            return redirect(_patient_page(patient_id))
    return render_form(
        "refills/pump_event.html",
        form=form,
        patient=patient,
        pump=pump,
        rules=event_rules(all_settings(db.session)),
        mri_rules=MRI_RULES,
        stale=stale,
    )


def _done(patient_id: int, event_id: int, work: str):
    patient, _ = patient_and_pump(patient_id)
    event = pump_events.event_for_done(db.session, patient.id, event_id, work)
    if event is None:
        abort(404)
    form, refused = WorkDoneForm(), 422
    if request.method == "GET":
        form.version.data = event.version
    if form.validate_on_submit():
        try:
            with transaction(db.session, "pump event"):
                pump_events.record_done(
                    db.session,
                    actor(),
                    patient.id,
                    event.id,
                    work,
                    form.note.data or "",
                    form_version(form.version),
                    datetime.now(UTC),
                )
        except DomainError as error:
            show_error(form, error)
            refused = 409 if isinstance(error, StaleEdit) else 403 if isinstance(error, PermissionDenied) else 422
            event = pump_events.event_for_done(db.session, patient.id, event_id, work)
        else:
            flash(f"{WORK_LABELS[work]} recorded done.", "success")
            return redirect(_patient_page(patient_id))
    return render_form(
        "refills/work_done.html",
        form=form,
        patient=patient,
        event=event,
        kinds=KINDS,
        label=WORK_LABELS[work],
        advice=WORK_ADVICE[work],
        refused_status=refused,
    )


@bp.route("/patients/<int:patient_id>/pump-events/<int:pump_event_id>/check", methods=["GET", "POST"])
@requires("pump_event.record")
def event_check(patient_id: int, pump_event_id: int):
    """Record the post-MRI pump check done (nurses and physicians)."""
    return _done(patient_id, pump_event_id, PUMP_CHECK)


@bp.route("/patients/<int:patient_id>/pump-events/<int:pump_event_id>/review", methods=["GET", "POST"])
@requires("pump_event.review")
def event_review(patient_id: int, pump_event_id: int):
    """Record a catheter event's physician review done (physicians only)."""
    return _done(patient_id, pump_event_id, PHYSICIAN_REVIEW)
