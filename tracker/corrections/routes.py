"""Correct or void a refill visit, a dose change or a trial bolus; correct the implant details or the ERI date.

Each form opens prefilled with the original's values (a correction, not a clinical pre-selection) and asks why."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, request, url_for
from flask_login import current_user

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today, clinic_zone
from tracker.clinical.trial import dose_hint
from tracker.corrections import bp
from tracker.corrections.forms import (
    BolusCorrectionForm,
    DoseCorrectionForm,
    FirstFillCorrectionForm,
    RefillCorrectionForm,
    VoidEntryForm,
)
from tracker.extensions import db
from tracker.models import DoseChange, Patient, RefillVisit, TrialBolus
from tracker.refills.form_values import FORM_FIELD, dose_programme, local_time, refill_entry
from tracker.services import DomainError, StaleEdit, corrections, dose_corrections, transaction
from tracker.services.patient_queries import concentration_choices
from tracker.services.settings import trial_rules
from tracker.web.forms import render_form, show_error

KINDS = {"refill": RefillVisit, "dose": DoseChange, "bolus": TrialBolus}


def _back(patient_id: int, anchor: str = "pump"):
    return redirect(url_for("patients.show", patient_id=patient_id) + f"#{anchor}")


def _patient_of(entry) -> int:
    return entry.patient_id if isinstance(entry, TrialBolus) else entry.pump.patient_id


def _load(kind: str, patient_id: int, entry_id: int):
    """The patient and the entry, which must be theirs and still stand (corrected or voided meanwhile: StaleEdit,
    answered by _stale_entry)."""
    patient = db.session.get(Patient, patient_id)
    entry = db.session.get(KINDS[kind], entry_id)
    if patient is None or entry is None or _patient_of(entry) != patient_id:
        abort(404)
    corrections.standing(db.session, KINDS[kind], entry.id)
    return patient, entry


@bp.errorhandler(StaleEdit)
def _stale_entry(error: StaleEdit):
    return _stale(request.view_args["patient_id"], error)


def _wall_clock(when: datetime) -> datetime:
    """A stored instant as the clinic's wall clock, for a datetime-local field."""
    return when.astimezone(clinic_zone()).replace(tzinfo=None)


def _stale(patient_id: int, error: DomainError, anchor: str = "pump"):
    """The entry was corrected or voided meanwhile: back to the page, which shows the entry that stands."""
    flash(error.message, "error")
    return _back(patient_id, anchor)


# Refill visits ---------------------------------------------------------------------------------------------


@bp.route("/patients/<int:patient_id>/refills/<int:visit_id>/correct", methods=["GET", "POST"])
@requires("entry.correct")
def refill(patient_id: int, visit_id: int):
    patient, visit = _load("refill", patient_id, visit_id)
    if corrections.is_first_fill(db.session, visit):
        return _first_fill(patient, visit)
    form = RefillCorrectionForm(obj=visit if request.method == "GET" else None)
    form.concentration_mcg_per_ml.choices = [(None, "—")] + concentration_choices(db.session)
    if request.method == "GET":
        form.visit_at.data = _wall_clock(visit.visit_at)
    preview = None
    if form.validate_on_submit():
        saving, now = request.form.get("action") == "save", datetime.now(UTC)
        try:
            if saving:
                _correct_refill(form, visit, now)
                flash(REFILL_CORRECTED, "success")
                return _back(patient_id)
            preview = corrections.preview_refill_correction(db.session, visit.id, refill_entry(form), now)
        except StaleEdit as error:
            return _stale(patient_id, error)
        except DomainError as error:
            show_error(form, error, FORM_FIELD)
            if saving and getattr(error, "field", None) == "acknowledge":
                preview = corrections.preview_refill_correction(db.session, visit.id, refill_entry(form), now)
    page = {"form": form, "patient": patient, "visit": visit, "preview": preview}
    return render_form("corrections/refill.html", shows_result=bool(preview and not form.errors), **page)


REFILL_CORRECTED = "Refill corrected; the original is kept, struck through, and the dates are recomputed."


def _correct_refill(form: RefillCorrectionForm, visit: RefillVisit, now: datetime) -> None:
    acknowledged = bool(form.acknowledge.data)
    with transaction(db.session, "refill"):
        corrections.correct_refill(db.session, actor(), visit.id, refill_entry(form), form.why.data, acknowledged, now)


def _first_fill(patient: Patient, visit: RefillVisit):
    form = FirstFillCorrectionForm()
    form.concentration_mcg_per_ml.choices = [(None, "—")] + concentration_choices(db.session)
    if request.method == "GET":
        form.fill_volume_ml.data = visit.resulting_volume_ml
        form.concentration_mcg_per_ml.data = visit.concentration_mcg_per_ml
        form.lot.data = visit.lot
    if form.validate_on_submit():
        try:
            with transaction(db.session, "refill"):
                corrections.correct_first_fill(
                    db.session,
                    actor(),
                    visit.id,
                    form.fill_volume_ml.data,
                    form.concentration_mcg_per_ml.data,
                    form.lot.data or "",
                    form.why.data,
                    datetime.now(UTC),
                )
        except StaleEdit as error:
            return _stale(patient.id, error)
        except DomainError as error:
            show_error(form, error)
        else:
            flash(
                "First fill corrected; the original is kept, struck through, and the dates are recomputed.", "success"
            )
            return _back(patient.id)
    return render_form("corrections/first_fill.html", form=form, patient=patient, visit=visit)


# Dose changes ----------------------------------------------------------------------------------------------


@bp.route("/patients/<int:patient_id>/doses/<int:dose_id>/correct", methods=["GET", "POST"])
@requires("entry.correct")
def dose(patient_id: int, dose_id: int):
    patient, original = _load("dose", patient_id, dose_id)
    form = DoseCorrectionForm(obj=original if request.method == "GET" else None)
    warnings = ()
    if request.method == "GET":
        _prefill_dose(form, original)
    if form.validate_on_submit():
        effective_at, programme = local_time(form.effective_at.data), dose_programme(form)
        try:
            _correct_dose(form, original, effective_at, programme)
        except StaleEdit as error:
            return _stale(patient_id, error)
        except DomainError as error:
            show_error(form, error, FORM_FIELD)
            if getattr(error, "field", None) == "acknowledge":
                warnings = dose_corrections.dose_correction_check(
                    db.session, original.id, effective_at, programme
                ).warnings
        else:
            flash(DOSE_CORRECTED, "success")
            return _back(patient_id)
    physician = current_user.role == "physician"
    page = {"form": form, "patient": patient, "original": original, "warnings": warnings, "physician": physician}
    return render_form("corrections/dose.html", **page)


DOSE_CORRECTED = "Dose change corrected; the original is kept, struck through, and the dates are recomputed."


def _prefill_dose(form: DoseCorrectionForm, original: DoseChange) -> None:
    form.effective_at.data = _wall_clock(original.effective_at)
    steps = (original.flex_schedule or {}).get("default") or []
    form.flex_schedule.data = "\n".join(f"{start} {rate}" for start, rate in steps)


def _correct_dose(form: DoseCorrectionForm, original: DoseChange, effective_at: datetime, programme) -> None:
    with transaction(db.session, "dose change"):
        dose_corrections.correct_dose(
            db.session,
            actor(),
            original.id,
            effective_at,
            programme,
            form.reason.data or "",
            form.why.data,
            datetime.now(UTC),
            bool(form.acknowledge.data),
        )


# Trial boluses ---------------------------------------------------------------------------------------------


@bp.route("/patients/<int:patient_id>/boluses/<int:bolus_id>/correct", methods=["GET", "POST"])
@requires("entry.correct")
def bolus(patient_id: int, bolus_id: int):
    patient, original = _load("bolus", patient_id, bolus_id)
    form = BolusCorrectionForm(obj=original if request.method == "GET" else None)
    warnings = []
    if form.validate_on_submit():
        try:
            with transaction(db.session, "trial bolus"):
                corrections.correct_bolus(
                    db.session,
                    actor(),
                    original.id,
                    form.values(),
                    form.why.data,
                    clinic_today(),
                    datetime.now(UTC),
                    form.acknowledged(),
                )
        except StaleEdit as error:
            return _stale(patient_id, error)
        except DomainError as error:
            show_error(form, error)
        else:
            flash("Trial bolus corrected; the original is kept, struck through.", "success")
            return redirect(url_for("patients.show", patient_id=patient_id) + "#boluses-h")
    if request.method == "POST":
        warnings = _bolus_warnings(form, original)
    hint = dose_hint(trial_rules(db.session))
    page = {"form": form, "patient": patient, "original": original, "warnings": warnings, "dose_hint": hint}
    return render_form("corrections/bolus.html", **page)


def _bolus_warnings(form: BolusCorrectionForm, original: TrialBolus) -> list:
    """The warnings for what was typed (once its date, dose and concentration are valid); a tick given for
    other warnings than these is cleared."""
    warnings = []
    if not any(f.errors or f.data is None for f in (form.given_on, form.dose_mcg, form.concentration_mcg_per_ml)):
        warnings = corrections.bolus_correction_warnings(db.session, original.id, form.values())
    codes = ",".join(w.code for w in warnings)
    if codes != form.shown_warnings.data:
        form.acknowledge.data = False
    form.shown_warnings.data = codes
    return warnings


# Voids -----------------------------------------------------------------------------------------------------

VOIDS = {"refill": corrections.void_refill, "dose": dose_corrections.void_dose, "bolus": corrections.void_bolus}
VOIDED = {
    "refill": "Refill voided; the dates run again from the fill before it.",
    "dose": "Dose change voided; the dose before it is in force again and the dates are recomputed.",
    "bolus": "Trial bolus voided.",
}


def _void(kind: str, patient_id: int, entry_id: int):
    patient, entry = _load(kind, patient_id, entry_id)
    anchor = "boluses-h" if kind == "bolus" else "pump"
    form = VoidEntryForm()
    if form.validate_on_submit():
        try:
            with transaction(db.session, "pump"):
                VOIDS[kind](db.session, actor(), entry.id, form.why.data, datetime.now(UTC))
        except StaleEdit as error:
            return _stale(patient_id, error)
        except DomainError as error:
            show_error(form, error)
        else:
            flash(VOIDED[kind], "success")
            return _back(patient_id, anchor)
    return render_form("corrections/void.html", form=form, patient=patient, kind=kind, entry=entry, anchor=anchor)


@bp.route("/patients/<int:patient_id>/refills/<int:visit_id>/void", methods=["GET", "POST"])
@requires("entry.correct")
def void_refill(patient_id: int, visit_id: int):
    return _void("refill", patient_id, visit_id)


@bp.route("/patients/<int:patient_id>/doses/<int:dose_id>/void", methods=["GET", "POST"])
@requires("entry.correct")
def void_dose(patient_id: int, dose_id: int):
    return _void("dose", patient_id, dose_id)


@bp.route("/patients/<int:patient_id>/boluses/<int:bolus_id>/void", methods=["GET", "POST"])
@requires("entry.correct")
def void_bolus(patient_id: int, bolus_id: int):
    return _void("bolus", patient_id, bolus_id)
