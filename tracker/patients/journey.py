"""A patient's journey on their record: moving them to another stage (an implantation among the moves, or
asking a physician to sign it off), voiding the last stage entry, and recording a trial bolus."""

from datetime import UTC, date, datetime

from flask import flash, redirect, request, url_for
from flask_login import current_user

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today
from tracker.clinical.journey import EXITED, allowed_moves
from tracker.clinical.trial import dose_hint
from tracker.extensions import db
from tracker.models import Patient, RefillSchedule
from tracker.models.requests import IMPLANT_SIGN_OFF
from tracker.once import once
from tracker.patients import bp
from tracker.patients.forms import BolusForm, MoveForm, VoidForm
from tracker.physician.forms import SignOffForm
from tracker.policy import allowed
from tracker.services import (
    DomainError,
    NeedsPhysician,
    StaleEdit,
    patient_queries,
    patients,
    transaction,
    trial_boluses,
)
from tracker.services.escalation import ImplantProposal, ask_implant_sign_off
from tracker.services.physician_queue import open_request
from tracker.services.pumps import ImplantDetails, check_implant_start
from tracker.services.refills import Programme, current_pump
from tracker.services.settings import trial_rules
from tracker.web.forms import form_version, render_form, show_error


def _current_moves(patient: Patient) -> list:
    return allowed_moves(patient.stage if patient.status == "active" else EXITED)


def _move_form(patient: Patient, moves: list) -> MoveForm:
    form = MoveForm()
    form.move.choices = [(m.key, m.label) for m in moves]
    form.surgery_centre_id.choices = [(None, "—")] + patient_queries.location_choices(db.session, "surgery_centre")
    form.model_id.choices = [(None, "—")] + patient_queries.pump_model_choices(db.session)
    form.concentration_mcg_per_ml.choices = [(None, "—")] + patient_queries.concentration_choices(db.session)
    if request.method == "GET":
        form.effective_date.data = clinic_today()
        form.version.data = patient.version
        if request.args.get("to") in {m.key for m in moves}:
            form.move.data = request.args["to"]
    return form


def _ask_implant_sign_off(form: MoveForm, sign_off: SignOffForm, patient: Patient) -> None:
    note, now = sign_off.note.data or "", datetime.now(UTC)
    # Its own use case: it tries the move in a dry run first, which must not sit inside a transaction.
    ask_implant_sign_off(db.session, actor(), patient.id, _proposal(form), note, clinic_today(), now)


def _move_stage(form: MoveForm, patient: Patient) -> None:
    with transaction(db.session, "patient"), once(form):
        patients.move_stage(
            db.session,
            actor(),
            patient.id,
            form_version(form.version),
            form.move.data,
            form.effective_date.data,
            form.reason.data or "",
            clinic_today(),
            override_reason=form.override_reason.data or "",
            surgery_centre_id=form.surgery_centre_id.data,
            surgeon=form.surgeon.data or "",
            implant=_implant_details(form),
        )


def _after_stale_move(form: MoveForm, patient_id: int) -> tuple[Patient, list]:
    """Someone else moved the patient first: the page shows the current stage and its moves."""
    patient = db.get_or_404(Patient, patient_id)
    form.version.data = patient.version
    moves = _current_moves(patient)
    form.move.choices = [(m.key, m.label) for m in moves]
    flash(
        "Someone else changed this patient after you opened the form; nothing was saved. The page "
        "now shows the patient's current stage: check it, then record the change again.",
        "error",
    )
    return patient, moves


def _move_page(form: MoveForm, patient: Patient, moves: list, sign_off: SignOffForm, offer_sign_off: bool):
    pump = current_pump(db.session, patient.id)
    implanting = patient.status == "active" and patient.stage in ("trial", "adjustment")
    # The guide before anything is typed, on the date on the form (today when opened).
    on = form.effective_date.data if isinstance(form.effective_date.data, date) else clinic_today()
    return render_form(
        "patients/move.html",
        form=form,
        patient=patient,
        moves=moves,
        schedule=db.session.get(RefillSchedule, pump.id) if pump else None,
        guide=check_implant_start(db.session, patient, on).guide if implanting else None,
        sign_off=sign_off,
        offer_sign_off=offer_sign_off,
        waiting=open_request(db.session, patient.id, IMPLANT_SIGN_OFF),
    )


SENT_FOR_SIGN_OFF = (
    "Sent to the physicians for sign-off (Needs a physician). The implantation is recorded when one approves."
)


@bp.route("/patients/<int:patient_id>/move", methods=["GET", "POST"])
@requires("stage.move")
def move(patient_id: int):
    patient = db.get_or_404(Patient, patient_id)
    moves = _current_moves(patient)
    form = _move_form(patient, moves)
    sign_off = SignOffForm(prefix="sign_off")  # a note, when the implantation goes to a physician instead
    offer_sign_off = False
    if form.validate_on_submit():
        signing_off = request.form.get("action") == "sign_off" and form.move.data == "implantation"
        try:
            if signing_off:
                _ask_implant_sign_off(form, sign_off, patient)
            else:
                _move_stage(form, patient)
        except StaleEdit:
            patient, moves = _after_stale_move(form, patient_id)
        except DomainError as error:
            # The override box is only shown to physicians; others see the message at the top.
            show_error(form, error, None if allowed(current_user.role, "stage.override") else {"override_reason": ""})
            # A starting dose above its guide: send the implantation for sign-off rather than stop here.
            offer_sign_off = isinstance(error, NeedsPhysician) and allowed(current_user.role, "request.ask")
        else:
            flash(SENT_FOR_SIGN_OFF if signing_off else "Stage change recorded.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    return _move_page(form, patient, moves, sign_off, offer_sign_off)


def _proposal(form: MoveForm) -> ImplantProposal:
    return ImplantProposal(
        form_version(form.version),
        form.effective_date.data,
        form.reason.data or "",
        form.surgery_centre_id.data,
        form.surgeon.data or "",
        _implant_details(form),
    )


def _implant_details(form: MoveForm) -> ImplantDetails | None:
    if form.move.data != "implantation":
        return None
    return ImplantDetails(
        model_id=form.model_id.data,
        serial=form.serial.data or "",
        catheter_tip_level=form.catheter_tip_level.data or "",
        alarm_volume_ml=form.alarm_volume_ml.data,
        fill_volume_ml=form.fill_volume_ml.data,
        concentration_mcg_per_ml=form.concentration_mcg_per_ml.data,
        programme=Programme(daily_dose_mcg=form.daily_dose_mcg.data),
    )


@bp.post("/patients/<int:patient_id>/events/<int:event_id>/void")
@requires("stage.void")
def void(patient_id: int, event_id: int):
    patient = db.get_or_404(Patient, patient_id)
    form = VoidForm()
    if form.validate_on_submit():
        try:
            with transaction(db.session, "patient"):
                patients.void_last_event(
                    db.session,
                    actor(),
                    patient.id,
                    form_version(form.version),
                    event_id,
                    form.why.data,
                    datetime.now(UTC),
                )
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash("Entry voided; the patient is back in the stage before it.", "success")
    else:
        flash("Say why the entry is being voided (up to 2,000 characters).", "error")
    return redirect(url_for("patients.show", patient_id=patient_id))


@bp.route("/patients/<int:patient_id>/bolus", methods=["GET", "POST"])
@requires("bolus.record")
def bolus(patient_id: int):
    patient = db.get_or_404(Patient, patient_id)
    form = BolusForm()
    warnings, rules = [], trial_rules(db.session)
    if request.method == "GET":
        form.given_on.data = clinic_today()
        form.concentration_mcg_per_ml.data = rules.concentration_mcg_per_ml
    if form.validate_on_submit():
        try:
            with transaction(db.session, "patient"), once(form):
                trial_boluses.record_bolus(
                    db.session, actor(), patient.id, form.values(), clinic_today(), form.acknowledged()
                )
        except DomainError as error:
            show_error(form, error)
        else:
            flash("Trial bolus recorded.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    if request.method == "POST":
        warnings = _bolus_warnings(form, patient.id)
        codes = ",".join(w.code for w in warnings)
        if codes != form.shown_warnings.data:  # different warnings: the tick was not for these
            form.acknowledge.data = False
        form.shown_warnings.data = codes
    return render_form("patients/bolus.html", form=form, patient=patient, warnings=warnings, dose_hint=dose_hint(rules))


def _bolus_warnings(form: BolusForm, patient_id: int) -> list:
    """The warnings for what was typed, once its date, dose and concentration are valid."""
    if any(f.errors or f.data is None for f in (form.given_on, form.dose_mcg, form.concentration_mcg_per_ml)):
        return []
    return trial_boluses.bolus_warnings(db.session, patient_id, form.values())
