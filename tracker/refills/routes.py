"""Refill visits (preview, then save), dose changes and the printable emergency summary."""

from datetime import UTC, datetime
from decimal import Decimal

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tracker.clinic_zone import clinic_zone
from tracker.clinical.refill import RefillInputError
from tracker.extensions import db
from tracker.formats import fmt_date
from tracker.models import Patient
from tracker.models.requests import DOSE_SIGN_OFF
from tracker.once import once
from tracker.physician.forms import SignOffForm
from tracker.policy import allowed
from tracker.refills.forms import DoseForm, EriForm, RefillForm
from tracker.services import DomainError, PermissionDenied, StaleEdit, escalation
from tracker.services.doses import change_dose, check_dose
from tracker.services.patient_queries import concentration_choices
from tracker.services.pump_panel import pump_panel
from tracker.services.pumps import record_eri
from tracker.services.refill_visits import RefillEntry, preview_refill, record_refill
from tracker.services.refills import Programme, current_pump, dose_ledger
from tracker.web import actor, audit_read, clinic_today, form_version, requires, show_error

bp = Blueprint("refills", __name__)


def _local(naive: datetime) -> datetime:
    """A datetime-local form value is the clinic's wall clock."""
    return naive.replace(tzinfo=clinic_zone())


def _patient_and_pump(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    pump = current_pump(db.session, patient_id)
    if pump is None:
        flash("This patient has no pump in use.", "error")
    return patient, pump


# Engine input names that differ from the form's field names.
FORM_FIELD = {
    "flex_steps": "flex_schedule",
    "flex_by_weekday": "flex_schedule",
    "rate_mcg_per_hour": "flex_schedule",
    "reservoir_after_fill_ml": "resulting_volume_ml",
}


def _entry(form: RefillForm) -> RefillEntry:
    return RefillEntry(
        visit_at=_local(form.visit_at.data),
        expected_residual_ml=form.expected_residual_ml.data,
        actual_residual_ml=form.actual_residual_ml.data,
        concentration_mcg_per_ml=form.concentration_mcg_per_ml.data,
        volume_added_ml=form.volume_added_ml.data,
        resulting_volume_ml=form.resulting_volume_ml.data,
        lot=(form.lot.data or "").strip(),
        bridge_bolus_mcg=form.bridge_bolus_mcg.data,
        bridge_bolus_given={"yes": True, "no": False}.get(form.bridge_bolus_given.data),
        bridge_bolus_reason=(form.bridge_bolus_reason.data or "").strip(),
        ashworth=form.ashworth.data or None,
        penn_frequency=form.penn_frequency.data,
        complications=(form.complications.data or "").strip(),
        notes=(form.notes.data or "").strip(),
    )


@bp.route("/patients/<int:patient_id>/refill", methods=["GET", "POST"])
@requires("refill.record")
def refill(patient_id: int):
    patient, pump = _patient_and_pump(patient_id)
    if pump is None:
        return redirect(url_for("patients.show", patient_id=patient_id))
    form = RefillForm()
    form.concentration_mcg_per_ml.choices = [(None, "—")] + concentration_choices(db.session)
    panel = pump_panel(db.session, patient_id, datetime.now(UTC), clinic_today())
    if request.method == "GET":
        form.visit_at.data = datetime.now(clinic_zone()).replace(second=0, microsecond=0, tzinfo=None)
        form.concentration_mcg_per_ml.data = panel.last_fill.concentration_mcg_per_ml
        form.volume_added_ml.data = form.resulting_volume_ml.data = pump.reservoir_ml
        form.expected_residual_ml.data = panel.volume_now_ml.quantize(Decimal("0.1"))
        form.last_fill_id.data = panel.last_fill.id
    preview, refused = None, False
    if form.validate_on_submit():
        now = datetime.now(UTC)
        try:
            if request.form.get("action") == "save":
                with once(form):
                    record_refill(
                        db.session,
                        actor(),
                        pump.id,
                        _entry(form),
                        bool(form.acknowledge.data),
                        now,
                        form_version(form.last_fill_id) or None,
                    )
                flash("Refill recorded; the next refill date is updated.", "success")
                # The patient page then offers to book the next refill (never books it): see patients.show.
                return redirect(url_for("patients.show", patient_id=patient_id, after="refill") + "#pump")
            preview = preview_refill(db.session, pump.id, _entry(form), now)
        except (DomainError, RefillInputError) as error:
            db.session.rollback()
            refused = True
            show_error(form, error, FORM_FIELD)
            if request.form.get("action") == "save":  # refused at save (an answer, an acknowledgement): keep
                try:  # the preview and its Save button on screen, unless the preview itself is what failed
                    preview = preview_refill(db.session, pump.id, _entry(form), now)
                except (DomainError, RefillInputError):
                    db.session.rollback()
    status = 200 if request.method == "GET" or (preview and not refused and not form.errors) else 422
    return render_template(
        "refills/refill.html", form=form, patient=patient, pump=pump, panel=panel, preview=preview
    ), status


def _programme(form: DoseForm) -> Programme:
    bolus = form.bolus_dose_mcg.data or Decimal(0)
    boluses = form.max_boluses_per_day.data or 0
    if form.mode.data == "flex":
        return Programme(Decimal(0), bolus, boluses, {"default": form.parsed_flex})
    return Programme(form.daily_dose_mcg.data, bolus, boluses)


@bp.route("/patients/<int:patient_id>/dose", methods=["GET", "POST"])
@requires("dose.change")
def dose(patient_id: int):
    patient, pump = _patient_and_pump(patient_id)
    if pump is None:
        return redirect(url_for("patients.show", patient_id=patient_id))
    form = DoseForm()
    sign_off = SignOffForm(prefix="sign_off")  # a note, when the dose goes to a physician instead
    offer_sign_off, warnings = False, ()
    if request.method == "GET":
        form.effective_at.data = datetime.now(clinic_zone()).replace(second=0, microsecond=0, tzinfo=None)
        form.last_dose_id.data = dose_ledger(db.session, pump.id)[-1].id
    if form.validate_on_submit():
        effective_at, programme = _local(form.effective_at.data), _programme(form)
        last_dose_id = form_version(form.last_dose_id) or None
        try:
            if request.form.get("action") == "sign_off":
                escalation.ask_physician(
                    db.session,
                    actor(),
                    patient_id,
                    DOSE_SIGN_OFF,
                    sign_off.note.data or "",
                    escalation.dose_payload(effective_at, programme, form.reason.data or "", last_dose_id),
                    datetime.now(UTC),
                )
                flash(
                    "Sent to the physicians for sign-off (Needs a physician). The dose is recorded when one "
                    "approves; program the pump after that.",
                    "success",
                )
                return redirect(url_for("patients.show", patient_id=patient_id) + "#pump")
            with once(form):
                change_dose(
                    db.session,
                    actor(),
                    pump.id,
                    effective_at,
                    programme,
                    form.reason.data or "",
                    datetime.now(UTC),
                    last_dose_id,
                    bool(form.acknowledge.data),
                )
        except (DomainError, RefillInputError) as error:
            db.session.rollback()
            show_error(form, error, FORM_FIELD)
            if getattr(error, "field", None) == "acknowledge":
                warnings = check_dose(db.session, pump, effective_at, programme).warnings
            # Beyond the titration limit: send it for sign-off rather than stop here.
            offer_sign_off = isinstance(error, PermissionDenied) and allowed(current_user.role, "request.ask")
        else:
            flash("Dose change recorded; the refill date is recomputed.", "success")
            return redirect(url_for("patients.show", patient_id=patient_id) + "#pump")
    panel = pump_panel(db.session, patient_id, datetime.now(UTC), clinic_today())
    # The limit before anything is typed: from the dose history up to the time on the form (now when opened).
    at = _local(form.effective_at.data) if form.effective_at.data else datetime.now(UTC)
    limit = check_dose(db.session, pump, min(at, datetime.now(UTC))).limit
    status = 200 if request.method == "GET" else 422
    return render_template(
        "refills/dose.html",
        form=form,
        patient=patient,
        pump=pump,
        panel=panel,
        limit=limit,
        warnings=warnings,
        sign_off=sign_off,
        offer_sign_off=offer_sign_off,
        waiting=escalation.open_request(db.session, patient_id, DOSE_SIGN_OFF),
    ), status


@bp.get("/patients/<int:patient_id>/emergency")
@requires("patient.view")
def emergency(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    panel = pump_panel(db.session, patient_id, datetime.now(UTC), clinic_today())
    audit_read("emergency_summary", None, patient_id, action="view")
    return render_template("refills/emergency.html", patient=patient, panel=panel, today=clinic_today())


@bp.route("/patients/<int:patient_id>/eri", methods=["GET", "POST"])
@requires("refill.record")
def eri(patient_id: int):
    """Record the day the pump showed its battery's elective replacement indicator."""
    patient, pump = _patient_and_pump(patient_id)
    if pump is None:
        return redirect(url_for("patients.show", patient_id=patient_id))
    form = EriForm()
    if request.method == "GET":
        form.eri_on.data, form.version.data = pump.eri_on or clinic_today(), pump.version
    if form.validate_on_submit():
        try:
            pump = record_eri(
                db.session, actor(), pump.id, form.eri_on.data, form_version(form.version), datetime.now(UTC)
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
            if isinstance(error, StaleEdit):  # the page now shows the pump as saved; a second save is deliberate
                form.version.data = pump.version
        else:
            flash(
                f"ERI recorded; the battery replacement is due by {fmt_date(pump.battery_replacement_due)}.", "success"
            )
            return redirect(url_for("patients.show", patient_id=patient_id) + "#pump")
    status = 200 if request.method == "GET" else 422
    return render_template("refills/eri.html", form=form, patient=patient, pump=pump), status


from tracker.refills import events  # noqa: E402,F401  (register the device-event routes on bp)
