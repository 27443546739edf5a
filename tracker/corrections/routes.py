"""Correct or void a refill visit, a dose change or a trial bolus; correct the implant details or the ERI date.

Each form opens prefilled with the original's values (a correction, not a clinical pre-selection) and asks why."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from tracker.clinic_zone import clinic_zone
from tracker.clinical.refill import RefillInputError
from tracker.clinical.trial import dose_hint
from tracker.corrections import bp
from tracker.corrections.forms import (
    BolusCorrectionForm,
    DoseCorrectionForm,
    EriCorrectionForm,
    FirstFillCorrectionForm,
    ImplantCorrectionForm,
    RefillCorrectionForm,
    VoidEntryForm,
)
from tracker.extensions import db
from tracker.models import DoseChange, Patient, RefillVisit, TrialBolus
from tracker.refills.routes import FORM_FIELD, _entry, _local, _programme
from tracker.services import DomainError, StaleEdit, dose_corrections, pump_corrections
from tracker.services import corrections as service
from tracker.services.patient_queries import concentration_choices, location_choices
from tracker.services.refills import current_pump
from tracker.services.settings import trial_rules
from tracker.web import actor, clinic_today, form_version, requires, show_error

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
    service.standing(db.session, KINDS[kind], entry.id)
    return patient, entry


@bp.errorhandler(StaleEdit)
def _stale_entry(error: StaleEdit):
    return _stale(request.view_args["patient_id"], error)


def _wall_clock(when: datetime) -> datetime:
    """A stored instant as the clinic's wall clock, for a datetime-local field."""
    return when.astimezone(clinic_zone()).replace(tzinfo=None)


def _stale(patient_id: int, error: DomainError, anchor: str = "pump"):
    """The entry was corrected or voided meanwhile: back to the page, which shows the entry that stands."""
    db.session.rollback()
    flash(error.message, "error")
    return _back(patient_id, anchor)


# Refill visits ---------------------------------------------------------------------------------------------


@bp.route("/patients/<int:patient_id>/refills/<int:visit_id>/correct", methods=["GET", "POST"])
@requires("entry.correct")
def refill(patient_id: int, visit_id: int):
    patient, visit = _load("refill", patient_id, visit_id)
    if service.is_first_fill(db.session, visit):
        return _first_fill(patient, visit)
    form = RefillCorrectionForm(obj=visit if request.method == "GET" else None)
    form.concentration_mcg_per_ml.choices = [(None, "—")] + concentration_choices(db.session)
    if request.method == "GET":
        form.visit_at.data = _wall_clock(visit.visit_at)
    preview = None
    if form.validate_on_submit():
        now = datetime.now(UTC)
        try:
            if request.form.get("action") == "save":
                service.correct_refill(
                    db.session, actor(), visit.id, _entry(form), form.why.data, bool(form.acknowledge.data), now
                )
                flash(
                    "Refill corrected; the original is kept, struck through, and the dates are recomputed.", "success"
                )
                return _back(patient_id)
            preview = service.preview_refill_correction(db.session, visit.id, _entry(form), now)
        except StaleEdit as error:
            return _stale(patient_id, error)
        except (DomainError, RefillInputError) as error:
            db.session.rollback()
            show_error(form, error, FORM_FIELD)
            if request.form.get("action") == "save" and getattr(error, "field", None) == "acknowledge":
                preview = service.preview_refill_correction(db.session, visit.id, _entry(form), now)
    status = 200 if request.method == "GET" or (preview and not form.errors) else 422
    return render_template("corrections/refill.html", form=form, patient=patient, visit=visit, preview=preview), status


def _first_fill(patient: Patient, visit: RefillVisit):
    form = FirstFillCorrectionForm()
    form.concentration_mcg_per_ml.choices = [(None, "—")] + concentration_choices(db.session)
    if request.method == "GET":
        form.fill_volume_ml.data = visit.resulting_volume_ml
        form.concentration_mcg_per_ml.data = visit.concentration_mcg_per_ml
        form.lot.data = visit.lot
    if form.validate_on_submit():
        try:
            service.correct_first_fill(
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
            db.session.rollback()
            show_error(form, error)
        else:
            flash(
                "First fill corrected; the original is kept, struck through, and the dates are recomputed.", "success"
            )
            return _back(patient.id)
    status = 200 if request.method == "GET" else 422
    return render_template("corrections/first_fill.html", form=form, patient=patient, visit=visit), status


# Dose changes ----------------------------------------------------------------------------------------------


@bp.route("/patients/<int:patient_id>/doses/<int:dose_id>/correct", methods=["GET", "POST"])
@requires("entry.correct")
def dose(patient_id: int, dose_id: int):
    patient, original = _load("dose", patient_id, dose_id)
    form = DoseCorrectionForm(obj=original if request.method == "GET" else None)
    warnings = ()
    if request.method == "GET":
        form.effective_at.data = _wall_clock(original.effective_at)
        steps = (original.flex_schedule or {}).get("default") or []
        form.flex_schedule.data = "\n".join(f"{start} {rate}" for start, rate in steps)
    if form.validate_on_submit():
        effective_at, programme = _local(form.effective_at.data), _programme(form)
        try:
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
        except StaleEdit as error:
            return _stale(patient_id, error)
        except (DomainError, RefillInputError) as error:
            db.session.rollback()
            show_error(form, error, FORM_FIELD)
            if getattr(error, "field", None) == "acknowledge":
                warnings = dose_corrections.dose_correction_check(
                    db.session, original.id, effective_at, programme
                ).warnings
        else:
            flash(
                "Dose change corrected; the original is kept, struck through, and the dates are recomputed.", "success"
            )
            return _back(patient_id)
    status = 200 if request.method == "GET" else 422
    return render_template(
        "corrections/dose.html",
        form=form,
        patient=patient,
        original=original,
        warnings=warnings,
        physician=current_user.role == "physician",
    ), status


# Trial boluses ---------------------------------------------------------------------------------------------


@bp.route("/patients/<int:patient_id>/boluses/<int:bolus_id>/correct", methods=["GET", "POST"])
@requires("entry.correct")
def bolus(patient_id: int, bolus_id: int):
    patient, original = _load("bolus", patient_id, bolus_id)
    form = BolusCorrectionForm(obj=original if request.method == "GET" else None)
    warnings = []
    if form.validate_on_submit():
        try:
            service.correct_bolus(
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
            db.session.rollback()
            show_error(form, error)
        else:
            flash("Trial bolus corrected; the original is kept, struck through.", "success")
            return redirect(url_for("patients.show", patient_id=patient_id) + "#boluses-h")
    if request.method == "POST":
        if not any(f.errors or f.data is None for f in (form.given_on, form.dose_mcg, form.concentration_mcg_per_ml)):
            warnings = service.bolus_correction_warnings(db.session, original.id, form.values())
        codes = ",".join(w.code for w in warnings)
        if codes != form.shown_warnings.data:  # different warnings: the tick was not for these
            form.acknowledge.data = False
        form.shown_warnings.data = codes
    status = 200 if request.method == "GET" else 422
    return render_template(
        "corrections/bolus.html",
        form=form,
        patient=patient,
        original=original,
        warnings=warnings,
        dose_hint=dose_hint(trial_rules(db.session)),
    ), status


# Voids -----------------------------------------------------------------------------------------------------

VOIDS = {"refill": service.void_refill, "dose": dose_corrections.void_dose, "bolus": service.void_bolus}
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
            VOIDS[kind](db.session, actor(), entry.id, form.why.data, datetime.now(UTC))
        except StaleEdit as error:
            return _stale(patient_id, error)
        except (DomainError, StaleDataError) as error:
            db.session.rollback()
            show_error(
                form,
                error
                if isinstance(error, DomainError)
                else DomainError("Someone else changed this pump meanwhile; nothing was saved."),
            )
        else:
            flash(VOIDED[kind], "success")
            return _back(patient_id, anchor)
    status = 200 if request.method == "GET" else 422
    return render_template(
        "corrections/void.html", form=form, patient=patient, kind=kind, entry=entry, anchor=anchor
    ), status


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


# Implant details and the ERI date --------------------------------------------------------------------------


def _pump_or_back(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    pump = current_pump(db.session, patient_id)
    if pump is None:
        flash("This patient has no pump in use.", "error")
    return patient, pump


def _keep_version(form, pump) -> None:
    form.version.data = pump.version
    form.last_correction_id.data = pump_corrections.last_correction_id(db.session, pump.id)


@bp.route("/patients/<int:patient_id>/pump/correct", methods=["GET", "POST"])
@requires("entry.correct")
def implant(patient_id: int):
    patient, pump = _pump_or_back(patient_id)
    if pump is None:
        return _back(patient_id)
    implantation = pump_corrections.implantation_of(db.session, pump)
    form = ImplantCorrectionForm()
    form.surgery_centre_id.choices = [(None, "—")] + location_choices(db.session, "surgery_centre")
    if request.method == "GET":
        form.serial.data, form.catheter_tip_level.data = pump.serial, pump.catheter_tip_level
        form.alarm_volume_ml.data, form.surgery_centre_id.data = pump.alarm_volume_ml, pump.surgery_centre_id
        form.surgeon.data = implantation.surgeon if implantation else ""
        _keep_version(form, pump)
    if form.validate_on_submit():
        values = pump_corrections.ImplantValues(
            form.serial.data or "",
            form.catheter_tip_level.data or "",
            form.alarm_volume_ml.data,
            form.surgeon.data or "",
            form.surgery_centre_id.data,
        )
        try:
            pump_corrections.correct_implant(
                db.session,
                actor(),
                pump.id,
                form_version(form.version),
                form_version(form.last_correction_id),
                values,
                form.why.data,
                datetime.now(UTC),
            )
        except (StaleEdit, StaleDataError):
            db.session.rollback()
            flash(pump_corrections.STALE, "error")
            return _back(patient_id)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            flash("Implant details corrected; the values replaced are listed on the pump, struck through.", "success")
            return _back(patient_id)
    status = 200 if request.method == "GET" else 422
    return render_template("corrections/implant.html", form=form, patient=patient, pump=pump), status


@bp.route("/patients/<int:patient_id>/eri/correct", methods=["GET", "POST"])
@requires("entry.correct")
def eri(patient_id: int):
    patient, pump = _pump_or_back(patient_id)
    if pump is None:
        return _back(patient_id)
    form = EriCorrectionForm()
    if request.method == "GET":
        form.eri_on.data = pump.eri_on
        _keep_version(form, pump)
    if form.validate_on_submit():
        voiding = request.form.get("action") == "void"
        try:
            if not voiding and form.eri_on.data is None:
                raise DomainError("Enter the corrected ERI date, or void the ERI.", "eri_on")
            pump_corrections.correct_eri(
                db.session,
                actor(),
                pump.id,
                form_version(form.version),
                form_version(form.last_correction_id),
                None if voiding else form.eri_on.data,
                form.why.data,
                datetime.now(UTC),
            )
        except (StaleEdit, StaleDataError):
            db.session.rollback()
            flash(pump_corrections.STALE, "error")
            return _back(patient_id)
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            flash("ERI voided." if voiding else "ERI date corrected.", "success")
            return _back(patient_id)
    status = 200 if request.method == "GET" else 422
    return render_template("corrections/eri.html", form=form, patient=patient, pump=pump), status
