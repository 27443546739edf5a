"""Patient list, stage board, patient page, and the forms that change a patient's record."""

from datetime import UTC, date, datetime

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy.orm.exc import StaleDataError

from tracker.calendar.forms import ContactForm
from tracker.clinical.journey import EXITED, STAGES, JourneyError, allowed_moves, days_in_stage, voidable_event_id
from tracker.clinical.pump_events import KINDS as EVENT_KINDS
from tracker.clinical.pump_events import WORK_LABELS
from tracker.clinical.search import exact_mrn_keys, search_words
from tracker.clinical.trial import dose_hint
from tracker.extensions import db
from tracker.models import Patient, RefillSchedule
from tracker.models.requests import IMPLANT_SIGN_OFF
from tracker.once import once
from tracker.patients.forms import BolusForm, MoveForm, NewPatientForm, PatientForm, VoidForm
from tracker.physician.forms import SignOffForm
from tracker.policy import allowed
from tracker.services import DomainError, NeedsPhysician, StaleEdit, patient_queries
from tracker.services import patients as service
from tracker.services.audit import record
from tracker.services.bookings import suggested_start
from tracker.services.escalation import ImplantProposal, ask_implant_sign_off, open_request, requests_for_patient
from tracker.services.pump_events import patient_events
from tracker.services.pump_panel import pump_panel
from tracker.services.pumps import ImplantDetails, check_implant_start
from tracker.services.refills import Programme, current_pump
from tracker.services.settings import trial_rules
from tracker.web import (
    actor,
    audit_read,
    clinic_today,
    csv_response,
    form_version,
    int_arg,
    own_clinic_only,
    requires,
    show_error,
)

bp = Blueprint("patients", __name__)
BOARD_CARDS_PER_COLUMN = 25  # the rest are one click away in the filtered list


def _fill_choices(form: PatientForm) -> None:
    locations, nurses = patient_queries.filter_choices(db.session)
    form.location_id.choices = locations
    form.nurse_id.choices = [(None, "— none —")] + nurses


def _list_filters() -> patient_queries.PatientFilters:
    return patient_queries.PatientFilters(
        q=request.args.get("q", "")[:100],
        stage=request.args.get("stage", ""),
        location_id=own_clinic_only() or int_arg("location"),
        nurse_id=int_arg("nurse"),
        risk=request.args.get("risk") == "1",
        status=request.args.get("status", "active"),
        sort=request.args.get("sort", "name"),
    )


@bp.get("/patients")
@requires("patient.view")
def list_patients():
    filters = _list_filters()
    page = patient_queries.patient_list(
        db.session, filters, min(int_arg("page") or 1, 100_000), current_app.config["PAGE_SIZE"]
    )
    return render_template(
        "patients/list.html",
        page=page,
        filters=filters,
        stages=STAGES,
        today=clinic_today(),
        locations=page.locations,
        nurses=page.nurses,
        days_in_stage=days_in_stage,
    )


@bp.get("/search")
@requires("patient.view")
def search():
    """The header's search: one patient found opens their page (audited there as a view); several, the list
    filtered by the same words (any status: an exited patient's record is still looked up); nothing typed, the
    list. The list's query and site scope, so the list the user lands on is the one counted here."""
    q = request.args.get("q", "")[:100]
    if not search_words(q):
        return redirect(url_for("patients.list_patients"))
    filters = patient_queries.PatientFilters(q=q, status="all", location_id=own_clinic_only())
    found = patient_queries.patient_list(db.session, filters, 1, current_app.config["PAGE_SIZE"])
    if found.total == 1:
        return redirect(url_for("patients.show", patient_id=found.items[0].id))
    whole_mrn = found.total and patient_queries.exact_mrn(db.session, exact_mrn_keys(q), filters.location_id)
    if whole_mrn:
        return redirect(url_for("patients.show", patient_id=whole_mrn))
    return redirect(url_for("patients.list_patients", q=q, status="all"))


@bp.get("/patients/export.csv")
@requires("patient.view")
def export_patients():
    """The filtered list, every page, in the list's order; names only for roles allowed to export them."""
    today, names = clinic_today(), allowed(current_user.role, "export.names")
    rows = [
        ["mrn"]
        + (["last_name", "first_name"] if names else [])
        + [
            "stage",
            "status",
            "exit_reason",
            "days_in_stage",
            "stage_since",
            "next_refill_due",
            "location",
            "nurse",
            "withdrawal_risk",
        ]
    ]
    for p in patient_queries.patient_rows(db.session, _list_filters()):
        rows.append(
            [p.mrn]
            + ([p.last_name, p.first_name] if names else [])
            + [
                p.stage,
                p.status,
                p.exit_reason or "",
                days_in_stage(p.stage_since, today),
                p.stage_since.isoformat(),
                p.next_due.isoformat() if p.next_due else "",
                p.location,
                p.nurse or "",
                "yes" if p.withdrawal_risk else "no",
            ]
        )
    audit_read("patient_list", len(rows) - 1, names=names)
    return csv_response(rows, f"patients-{today}.csv")


@bp.get("/board")
@requires("patient.view")
def board():
    location_id = own_clinic_only() or int_arg("location")
    columns, counts, locations = patient_queries.board(db.session, location_id, BOARD_CARDS_PER_COLUMN)
    return render_template(
        "patients/board.html",
        columns=columns,
        counts=counts,
        stages=STAGES,
        location_id=location_id,
        locations=locations,
        today=clinic_today(),
        days_in_stage=days_in_stage,
        per_column=BOARD_CARDS_PER_COLUMN,
    )


@bp.route("/patients/new", methods=["GET", "POST"])
@requires("patient.edit")
def new_patient():
    form = NewPatientForm()
    _fill_choices(form)
    if request.method == "GET":
        form.referred_on.data = clinic_today()
        form.location_id.data = current_user.location_id
    if form.validate_on_submit():
        try:
            with once(form):
                patient = service.create_patient(
                    db.session, actor(), form.details(), form.referred_on.data, clinic_today()
                )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            flash(f"Patient {patient.mrn} created in evaluation.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    return render_template("patients/form.html", form=form, patient=None), 200 if request.method == "GET" else 422


def _load(patient_id: int) -> Patient:
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    return patient


@bp.get("/patients/<int:patient_id>")
@requires("patient.view")
def show(patient_id: int):
    if db.session.get(Patient, patient_id) is None:
        abort(404)
    # Audit the view first: committing after loading would expire the page's objects and reload them one by one.
    record(db.session, actor(), "view", "patient", patient_id, patient_id)
    db.session.commit()
    data = patient_queries.patient_page(db.session, patient_id)
    patient = data["patient"]
    active = [e for e in data["events"] if not e.voided]
    panel = pump_panel(db.session, patient_id, datetime.now(UTC), clinic_today())
    return render_template(
        "patients/show.html",
        **data,
        today=clinic_today(),
        days_in_stage=days_in_stage,
        panel=panel,
        book_next=_book_next_offer(patient, panel),
        requests=requests_for_patient(db.session, patient_id),
        device_events=patient_events(db.session, patient_id),
        event_kinds=EVENT_KINDS,
        work_labels=WORK_LABELS,
        voidable_event_id=voidable_event_id(active),
        void_form=VoidForm(version=patient.version),
        contact_form=ContactForm() if allowed(current_user.role, "contact.log") else None,
        moves=allowed_moves(patient.stage if patient.status == "active" else EXITED),
    )


def _book_next_offer(patient: Patient, panel) -> datetime | None:
    """Just after a refill was recorded (the refill form redirects here with after=refill) and nothing is booked:
    the booking form's suggested slot, for the page to offer "Book the next refill". The user still chooses."""
    if request.args.get("after") != "refill" or panel is None or panel.appointment is not None:
        return None
    if not patient.on_refill_list or not allowed(current_user.role, "refill.book"):
        return None
    return suggested_start(panel.schedule.due_date, clinic_today())


@bp.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@requires("patient.edit")
def edit(patient_id: int):
    patient = _load(patient_id)
    form = PatientForm(obj=patient if request.method == "GET" else None)
    _fill_choices(form)
    if request.method == "GET":  # the whole record, on a form: a read like the patient page's
        audit_read("patient_edit_form", None, patient_id, action="view")
    yours = []
    if form.validate_on_submit():
        try:
            service.update_patient(
                db.session, actor(), patient.id, form_version(form.version), form.details(), clinic_today()
            )
        except (StaleEdit, StaleDataError):
            db.session.rollback()
            patient = _load(patient_id)
            typed = form.details()
            current = PatientForm(obj=patient, formdata=None)
            yours = [
                (getattr(form, n).label.text, typed[n])
                for n in PatientForm.DETAIL_FIELDS
                if typed[n] != getattr(patient, n)
            ]
            form = current
            _fill_choices(form)
            flash(
                "Someone else saved this patient after you opened the form. Their version is shown "
                "below; nothing of yours was saved. Your entries are listed so you can re-apply them.",
                "error",
            )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            flash("Patient details saved.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    if request.method == "GET":
        form.version.data = patient.version
    status = 200 if request.method == "GET" else 409 if yours else 422
    return render_template("patients/form.html", form=form, patient=patient, yours=yours), status


@bp.route("/patients/<int:patient_id>/move", methods=["GET", "POST"])
@requires("stage.move")
def move(patient_id: int):
    patient = _load(patient_id)
    moves = allowed_moves(patient.stage if patient.status == "active" else EXITED)
    form = MoveForm()
    form.move.choices = [(m.key, m.label) for m in moves]
    form.surgery_centre_id.choices = [(None, "—")] + patient_queries.location_choices(db.session, "surgery_centre")
    form.model_id.choices = [(None, "—")] + patient_queries.pump_model_choices(db.session)
    form.concentration_mcg_per_ml.choices = [(None, "—")] + patient_queries.concentration_choices(db.session)
    sign_off = SignOffForm(prefix="sign_off")  # a note, when the implantation goes to a physician instead
    offer_sign_off = False
    if request.method == "GET":
        form.effective_date.data = clinic_today()
        form.version.data = patient.version
        if request.args.get("to") in {m.key for m in moves}:
            form.move.data = request.args["to"]
    if form.validate_on_submit():
        try:
            if request.form.get("action") == "sign_off" and form.move.data == "implantation":
                ask_implant_sign_off(
                    db.session,
                    actor(),
                    patient.id,
                    _proposal(form),
                    sign_off.note.data or "",
                    clinic_today(),
                    datetime.now(UTC),
                )
                flash(
                    "Sent to the physicians for sign-off (Needs a physician). The implantation is recorded when "
                    "one approves.",
                    "success",
                )
                return redirect(url_for("patients.show", patient_id=patient.id))
            with once(form):
                service.move_stage(
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
        except (StaleEdit, StaleDataError):
            db.session.rollback()
            patient = _load(patient_id)
            form.version.data = patient.version  # the page now shows the current stage and its moves
            moves = allowed_moves(patient.stage if patient.status == "active" else EXITED)
            form.move.choices = [(m.key, m.label) for m in moves]
            flash(
                "Someone else changed this patient after you opened the form; nothing was saved. The page "
                "now shows the patient's current stage: check it, then record the change again.",
                "error",
            )
        except (JourneyError, DomainError) as error:
            db.session.rollback()
            # The override box is only shown to physicians; others see the message at the top.
            show_error(form, error, None if allowed(current_user.role, "stage.override") else {"override_reason": ""})
            # A starting dose above its guide: send the implantation for sign-off rather than stop here.
            offer_sign_off = isinstance(error, NeedsPhysician) and allowed(current_user.role, "request.ask")
        else:
            flash("Stage change recorded.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    status = 200 if request.method == "GET" else 422
    pump = current_pump(db.session, patient.id)
    implanting = patient.status == "active" and patient.stage in ("trial", "adjustment")
    # The guide before anything is typed, on the date on the form (today when opened).
    on = form.effective_date.data if isinstance(form.effective_date.data, date) else clinic_today()
    return render_template(
        "patients/move.html",
        form=form,
        patient=patient,
        moves=moves,
        schedule=db.session.get(RefillSchedule, pump.id) if pump else None,
        guide=check_implant_start(db.session, patient, on).guide if implanting else None,
        sign_off=sign_off,
        offer_sign_off=offer_sign_off,
        waiting=open_request(db.session, patient.id, IMPLANT_SIGN_OFF),
    ), status


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
    patient = _load(patient_id)
    form = VoidForm()
    if form.validate_on_submit():
        try:
            service.void_last_event(
                db.session, actor(), patient.id, form_version(form.version), event_id, form.why.data, datetime.now(UTC)
            )
        except (DomainError, StaleDataError) as error:
            db.session.rollback()
            flash(getattr(error, "message", "Someone else changed this patient meanwhile."), "error")
        else:
            flash("Entry voided; the patient is back in the stage before it.", "success")
    else:
        flash("Say why the entry is being voided (up to 2,000 characters).", "error")
    return redirect(url_for("patients.show", patient_id=patient_id))


@bp.route("/patients/<int:patient_id>/bolus", methods=["GET", "POST"])
@requires("bolus.record")
def bolus(patient_id: int):
    patient = _load(patient_id)
    form = BolusForm()
    warnings, rules = [], trial_rules(db.session)
    if request.method == "GET":
        form.given_on.data = clinic_today()
        form.concentration_mcg_per_ml.data = rules.concentration_mcg_per_ml
    if form.validate_on_submit():
        try:
            with once(form):
                service.record_bolus(
                    db.session, actor(), patient.id, form.values(), clinic_today(), form.acknowledged()
                )
        except DomainError as error:
            db.session.rollback()
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
    status = 200 if request.method == "GET" else 422
    return render_template(
        "patients/bolus.html", form=form, patient=patient, warnings=warnings, dose_hint=dose_hint(rules)
    ), status


def _bolus_warnings(form: BolusForm, patient_id: int) -> list:
    """The warnings for what was typed, once its date, dose and concentration are valid."""
    if any(f.errors or f.data is None for f in (form.given_on, form.dose_mcg, form.concentration_mcg_per_ml)):
        return []
    return service.bolus_warnings(db.session, patient_id, form.values())
