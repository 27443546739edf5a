"""Correcting the pump itself: its implant details (serial, catheter tip, alarm volume, surgeon, centre) and
its battery's ERI date. The values replaced stay listed on the pump, struck through."""

from datetime import UTC, datetime

from flask import flash, redirect, request, url_for

from tracker.auth.permissions import actor, requires
from tracker.corrections import bp
from tracker.corrections.forms import EriCorrectionForm, ImplantCorrectionForm
from tracker.extensions import db
from tracker.models import Patient
from tracker.services import DomainError, StaleEdit, pump_corrections, transaction
from tracker.services.patient_queries import location_choices
from tracker.services.refills import current_pump
from tracker.web.forms import form_version, render_form, show_error

# Implant details and the ERI date --------------------------------------------------------------------------


def _back(patient_id: int):
    return redirect(url_for("patients.show", patient_id=patient_id) + "#pump")


def _pump_or_back(patient_id: int):
    patient = db.get_or_404(Patient, patient_id)
    pump = current_pump(db.session, patient_id)
    if pump is None:
        flash("This patient has no pump in use.", "error")
    return patient, pump


def _keep_version(form, pump) -> None:
    form.version.data = pump.version
    form.last_correction_id.data = pump_corrections.last_correction_id(db.session, pump.id)


def _prefill_implant(form: ImplantCorrectionForm, pump, implantation) -> None:
    form.serial.data, form.catheter_tip_level.data = pump.serial, pump.catheter_tip_level
    form.alarm_volume_ml.data, form.surgery_centre_id.data = pump.alarm_volume_ml, pump.surgery_centre_id
    form.surgeon.data = implantation.surgeon if implantation else ""
    _keep_version(form, pump)


def _correct_implant(form: ImplantCorrectionForm, pump) -> None:
    values = pump_corrections.ImplantValues(
        form.serial.data or "",
        form.catheter_tip_level.data or "",
        form.alarm_volume_ml.data,
        form.surgeon.data or "",
        form.surgery_centre_id.data,
    )
    versions = form_version(form.version), form_version(form.last_correction_id)
    with transaction(db.session, "pump"):
        pump_corrections.correct_implant(
            db.session, actor(), pump.id, *versions, values, form.why.data, datetime.now(UTC)
        )


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
        _prefill_implant(form, pump, implantation)
    if form.validate_on_submit():
        try:
            _correct_implant(form, pump)
        except StaleEdit:
            flash(pump_corrections.STALE, "error")
            return _back(patient_id)
        except DomainError as error:
            show_error(form, error)
        else:
            flash("Implant details corrected; the values replaced are listed on the pump, struck through.", "success")
            return _back(patient_id)
    return render_form("corrections/implant.html", form=form, patient=patient, pump=pump)


def _correct_eri(form: EriCorrectionForm, pump, voiding: bool) -> None:
    if not voiding and form.eri_on.data is None:
        raise DomainError("Enter the corrected ERI date, or void the ERI.", "eri_on")
    versions = form_version(form.version), form_version(form.last_correction_id)
    eri_on = None if voiding else form.eri_on.data
    with transaction(db.session, "pump"):
        pump_corrections.correct_eri(db.session, actor(), pump.id, *versions, eri_on, form.why.data, datetime.now(UTC))


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
            _correct_eri(form, pump, voiding)
        except StaleEdit:
            flash(pump_corrections.STALE, "error")
            return _back(patient_id)
        except DomainError as error:
            show_error(form, error)
        else:
            flash("ERI voided." if voiding else "ERI date corrected.", "success")
            return _back(patient_id)
    return render_form("corrections/eri.html", form=form, patient=patient, pump=pump)
