"""Refill visits (preview, then save), dose changes and the printable emergency summary."""

from datetime import UTC, datetime
from decimal import Decimal

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today, clinic_zone
from tracker.extensions import db
from tracker.formats import fmt_date
from tracker.models import Patient
from tracker.models.requests import DOSE_SIGN_OFF
from tracker.once import once
from tracker.physician.forms import SignOffForm
from tracker.policy import allowed
from tracker.refills import bp
from tracker.refills.form_values import FORM_FIELD, dose_programme, local_time, patient_and_pump, refill_entry
from tracker.refills.forms import DoseForm, EriForm, RefillForm
from tracker.services import (
    DomainError,
    PermissionDenied,
    StaleEdit,
    advisory_pages,
    escalation,
    physician_queue,
    transaction,
)
from tracker.services.doses import change_dose, check_dose
from tracker.services.patient_queries import concentration_choices
from tracker.services.pump_panel import pump_panel
from tracker.services.pumps import record_eri
from tracker.services.refill_visits import preview_refill, record_refill
from tracker.services.refills import dose_ledger
from tracker.web.exports import audit_read
from tracker.web.forms import form_version, render_form, show_error


def _prefill_refill(form: RefillForm, pump, panel) -> None:
    """A new refill form: now, the last fill's concentration, a full reservoir and the volume expected left."""
    form.visit_at.data = datetime.now(clinic_zone()).replace(second=0, microsecond=0, tzinfo=None)
    form.concentration_mcg_per_ml.data = panel.last_fill.concentration_mcg_per_ml
    form.volume_added_ml.data = form.resulting_volume_ml.data = pump.reservoir_ml
    form.expected_residual_ml.data = panel.volume_now_ml.quantize(Decimal("0.1"))
    form.last_fill_id.data = panel.last_fill.id


def _record_refill(form: RefillForm, pump, now: datetime) -> None:
    last_fill_id = form_version(form.last_fill_id) or None
    with transaction(db.session, "pump"), once(form):
        record_refill(db.session, actor(), pump.id, refill_entry(form), bool(form.acknowledge.data), now, last_fill_id)


def _preview_if_possible(form: RefillForm, pump, now: datetime):
    """A save refused by an answer or an acknowledgement keeps the preview and its Save button on screen,
    unless the preview itself is what failed (its reason is already beside the field)."""
    try:
        return preview_refill(db.session, pump.id, refill_entry(form), now)
    except DomainError:
        return None


@bp.route("/patients/<int:patient_id>/refill", methods=["GET", "POST"])
@requires("refill.record")
def refill(patient_id: int):
    patient, pump = patient_and_pump(patient_id)
    if pump is None:
        return redirect(url_for("patients.show", patient_id=patient_id))
    form = RefillForm()
    form.concentration_mcg_per_ml.choices = [(None, "—")] + concentration_choices(db.session)
    panel = pump_panel(db.session, patient_id, datetime.now(UTC), clinic_today())
    if request.method == "GET":
        _prefill_refill(form, pump, panel)
    preview, refused = None, False
    if form.validate_on_submit():
        saving, now = request.form.get("action") == "save", datetime.now(UTC)
        try:
            if saving:
                _record_refill(form, pump, now)
                flash("Refill recorded; the next refill date is updated.", "success")
                # The patient page then offers to book the next refill (never books it): see patients.show.
                return redirect(url_for("patients.show", patient_id=patient_id, after="refill") + "#pump")
            preview = preview_refill(db.session, pump.id, refill_entry(form), now)
        except DomainError as error:
            refused = True
            show_error(form, error, FORM_FIELD)
            preview = _preview_if_possible(form, pump, now) if saving else None
    shows_result = bool(preview and not refused and not form.errors)
    page = {"form": form, "patient": patient, "pump": pump, "panel": panel, "preview": preview}
    page["advisories"] = advisory_pages.said_at_refill(db.session, pump.id)
    return render_form("refills/refill.html", shows_result=shows_result, **page)


def _ask_sign_off(form: DoseForm, sign_off: SignOffForm, patient_id: int, effective_at: datetime, programme) -> None:
    """Send the dose to the physicians for sign-off instead of recording it."""
    last_dose_id = form_version(form.last_dose_id) or None
    payload = escalation.dose_payload(effective_at, programme, form.reason.data or "", last_dose_id)
    note = sign_off.note.data or ""
    with transaction(db.session, "request"):
        escalation.ask_physician(db.session, actor(), patient_id, DOSE_SIGN_OFF, note, payload, datetime.now(UTC))


def _change_dose(form: DoseForm, pump, effective_at: datetime, programme) -> None:
    last_dose_id, reason, acknowledged = (
        form_version(form.last_dose_id) or None,
        form.reason.data or "",
        bool(form.acknowledge.data),
    )
    with transaction(db.session, "pump"), once(form):
        change_dose(
            db.session, actor(), pump.id, effective_at, programme, reason, datetime.now(UTC), last_dose_id, acknowledged
        )


def _dose_page(form: DoseForm, patient, pump, sign_off: SignOffForm, offer_sign_off: bool, warnings):
    panel = pump_panel(db.session, patient.id, datetime.now(UTC), clinic_today())
    # The limit before anything is typed: from the dose history up to the time on the form (now when opened).
    at = local_time(form.effective_at.data) if form.effective_at.data else datetime.now(UTC)
    limit = check_dose(db.session, pump, min(at, datetime.now(UTC))).limit
    return render_form(
        "refills/dose.html",
        form=form,
        patient=patient,
        pump=pump,
        panel=panel,
        limit=limit,
        warnings=warnings,
        sign_off=sign_off,
        offer_sign_off=offer_sign_off,
        waiting=physician_queue.open_request(db.session, patient.id, DOSE_SIGN_OFF),
    )


SENT_FOR_SIGN_OFF = (
    "Sent to the physicians for sign-off (Needs a physician). The dose is recorded when one approves; program the "
    "pump after that."
)


@bp.route("/patients/<int:patient_id>/dose", methods=["GET", "POST"])
@requires("dose.change")
def dose(patient_id: int):
    patient, pump = patient_and_pump(patient_id)
    if pump is None:
        return redirect(url_for("patients.show", patient_id=patient_id))
    form = DoseForm()
    sign_off = SignOffForm(prefix="sign_off")  # a note, when the dose goes to a physician instead
    offer_sign_off, warnings = False, ()
    if request.method == "GET":
        form.effective_at.data = datetime.now(clinic_zone()).replace(second=0, microsecond=0, tzinfo=None)
        form.last_dose_id.data = dose_ledger(db.session, pump.id)[-1].id
    if form.validate_on_submit():
        effective_at, programme = local_time(form.effective_at.data), dose_programme(form)
        signing_off = request.form.get("action") == "sign_off"
        try:
            if signing_off:
                _ask_sign_off(form, sign_off, patient_id, effective_at, programme)
            else:
                _change_dose(form, pump, effective_at, programme)
        except DomainError as error:
            show_error(form, error, FORM_FIELD)
            if getattr(error, "field", None) == "acknowledge":
                warnings = check_dose(db.session, pump, effective_at, programme).warnings
            # Beyond the titration limit: send it for sign-off rather than stop here.
            offer_sign_off = isinstance(error, PermissionDenied) and allowed(current_user.role, "request.ask")
        else:
            flash(
                SENT_FOR_SIGN_OFF if signing_off else "Dose change recorded; the refill date is recomputed.", "success"
            )
            return redirect(url_for("patients.show", patient_id=patient_id) + "#pump")
    return _dose_page(form, patient, pump, sign_off, offer_sign_off, warnings)


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
    patient, pump = patient_and_pump(patient_id)
    if pump is None:
        return redirect(url_for("patients.show", patient_id=patient_id))
    form = EriForm()
    if request.method == "GET":
        form.eri_on.data, form.version.data = pump.eri_on or clinic_today(), pump.version
    if form.validate_on_submit():
        try:
            with transaction(db.session, "pump"):
                pump = record_eri(
                    db.session, actor(), pump.id, form.eri_on.data, form_version(form.version), datetime.now(UTC)
                )
        except DomainError as error:
            show_error(form, error)
            if isinstance(error, StaleEdit):  # the page now shows the pump as saved; a second save is deliberate
                form.version.data = pump.version
        else:
            flash(
                f"ERI recorded; the battery replacement is due by {fmt_date(pump.battery_replacement_due)}.", "success"
            )
            return redirect(url_for("patients.show", patient_id=patient_id) + "#pump")
    return render_form("refills/eri.html", form=form, patient=patient, pump=pump)
