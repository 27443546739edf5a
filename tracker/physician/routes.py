"""Needs a physician: the queue (requests and pumps past their alarm date or empty), answers, asking, withdrawing."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today
from tracker.extensions import db
from tracker.models import Patient
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.physician import bp
from tracker.physician.forms import AnswerForm, AskForm, WithdrawForm
from tracker.policy import allowed
from tracker.services import DomainError, escalation, physician_queue, transaction
from tracker.services.settings import risk_windows
from tracker.services.worklist import REASON_LABELS
from tracker.web.forms import form_version, show_error
from tracker.web.urls import patient_url_prefix


def _own_ids(form, row_id: int):
    """One of these forms per row: each gets field ids of its own (the names, which the post reads, stay)."""
    for field in form:
        field.id = f"{field.name}-{row_id}"
    return form


def _queue_page(posted: AnswerForm | WithdrawForm | None = None, posted_id: int | None = None):
    """The queue; a refused answer or withdrawal is shown again in its own row, with what was typed."""
    items = physician_queue.physician_queue(db.session, clinic_today(), datetime.now(UTC), risk_windows(db.session))
    answer_forms = {}
    if allowed(current_user.role, "request.answer"):
        answer_forms = {
            i.request.id: _own_ids(AnswerForm(formdata=None, version=i.request.version), i.request.id)
            for i in items
            if i.request
        }
    mine = physician_queue.my_requests(db.session, current_user.id) if allowed(current_user.role, "request.ask") else []
    withdraw_forms = {
        r.id: _own_ids(WithdrawForm(formdata=None, version=r.version), r.id) for r in mine if r.status == "open"
    }
    if isinstance(posted, AnswerForm) and posted_id in answer_forms:
        answer_forms[posted_id] = _own_ids(posted, posted_id)
    if isinstance(posted, WithdrawForm) and posted_id in withdraw_forms:
        withdraw_forms[posted_id] = _own_ids(posted, posted_id)
    return render_template(
        "physician/queue.html",
        items=items,
        answer_forms=answer_forms,
        mine=mine,
        withdraw_forms=withdraw_forms,
        labels=REASON_LABELS,
        patient_url=patient_url_prefix(),
    ), 200 if posted is None else 422


@bp.get("/queue")
@requires("patient.view")
def queue():
    return _queue_page()


def _change(form, request_id: int, change):
    """Run an answer or a withdrawal: (its result, None), or (None, the queue page again) when it was refused,
    the reason beside the form's field (someone else's newer version among them; nothing saved)."""
    try:
        with transaction(db.session, "request"):
            return change(), None
    except DomainError as error:
        show_error(form, error)
        return None, _queue_page(form, request_id)


@bp.post("/requests/<int:request_id>/answer")
@requires("request.answer")
def answer(request_id: int):
    form = AnswerForm()
    if not form.validate() or not (form.approve.data or form.decline.data):
        flash("This answer form is incomplete. Reload the page and try again.", "error")
        return redirect(url_for(".queue"))
    answered, refused = _change(
        form,
        request_id,
        lambda: escalation.answer(
            db.session,
            actor(),
            request_id,
            form_version(form.version),
            bool(form.approve.data),
            form.note.data or "",
            datetime.now(UTC),
        ),
    )
    if refused:
        return refused
    if answered.kind == BOOKING_AFTER_ALARM and answered.status == "approved":
        flash("Approved. Book the refill now, giving your reason for the override.", "success")
        return redirect(url_for("calendar.book", patient_id=answered.patient_id, **(answered.payload or {})))
    flash(f"{answered.kind_label} for {answered.patient.mrn}: {answered.outcome}", "success")
    return redirect(url_for(".queue"))


@bp.post("/requests/<int:request_id>/withdraw")
@requires("request.ask")
def withdraw(request_id: int):
    form = WithdrawForm()
    if not form.validate():
        flash("This form is incomplete. Reload the page and try again.", "error")
        return redirect(url_for(".queue"))
    _, refused = _change(
        form,
        request_id,
        lambda: escalation.withdraw(
            db.session, actor(), request_id, form_version(form.version), form.note.data or "", datetime.now(UTC)
        ),
    )
    if refused:
        return refused
    flash("Request withdrawn.", "success")
    return redirect(url_for(".queue"))


@bp.post("/patients/<int:patient_id>/ask-physician")
@requires("request.ask")
def ask(patient_id: int):
    """From the booking form's refusal (a slot after the alarm date): one click and a note."""
    if db.session.get(Patient, patient_id) is None:
        abort(404)
    form = AskForm(prefix="ask")
    if not form.validate():
        flash("This form is incomplete. Reload the page and try again.", "error")
        return redirect(url_for("patients.show", patient_id=patient_id))
    slot = {
        "starts_at": form.starts_at.data,
        "location_id": form.location_id.data,
        "clinician_id": form.clinician_id.data,
    }
    try:
        escalation.ask_physician(
            db.session, actor(), patient_id, form.kind.data, form.note.data or "", slot, datetime.now(UTC)
        )
    except DomainError as error:
        flash(error.message, "error")
    else:
        flash(
            "Sent to the physicians (Needs a physician). Their answer shows on this page and under My requests.",
            "success",
        )
    return redirect(url_for("patients.show", patient_id=patient_id))
