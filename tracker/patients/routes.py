"""Patient list, stage board, patient page, and the forms that change a patient's record."""

from datetime import UTC, date, datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user

from tracker.auth.permissions import actor, own_clinic_only, requires
from tracker.clinic_zone import clinic_today
from tracker.clinical.advisory import STATUSES as ADVISORY_STATUSES
from tracker.clinical.journey import EXITED, STAGES, allowed_moves, days_in_stage, voidable_event_id
from tracker.clinical.pump_events import KINDS as EVENT_KINDS
from tracker.clinical.pump_events import WORK_LABELS
from tracker.clinical.search import exact_mrn_keys, search_words
from tracker.extensions import db
from tracker.models import Patient
from tracker.once import once
from tracker.patients import bp
from tracker.patients.forms import NewPatientForm, PatientForm, VoidForm
from tracker.policy import allowed
from tracker.scheduling.forms import ContactForm
from tracker.services import DomainError, StaleEdit, patient_queries, patients, transaction
from tracker.services.advisory_pages import patient_follow_ups
from tracker.services.audit import record
from tracker.services.bookings import suggested_start
from tracker.services.physician_queue import requests_for_patient
from tracker.services.pump_events import patient_events
from tracker.services.pump_panel import pump_panel
from tracker.web.args import int_arg
from tracker.web.exports import audit_read, csv_response
from tracker.web.forms import form_version, render_form, show_error

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


PATIENT_COLUMNS = [
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


def _patient_row(p, today: date, names: bool) -> list:
    return (
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


@bp.get("/patients/export.csv")
@requires("patient.view")
def export_patients():
    """The filtered list, every page, in the list's order; names only for roles allowed to export them."""
    today, names = clinic_today(), allowed(current_user.role, "export.names")
    header = ["mrn"] + (["last_name", "first_name"] if names else []) + PATIENT_COLUMNS
    rows = [header] + [_patient_row(p, today, names) for p in patient_queries.patient_rows(db.session, _list_filters())]
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
            with transaction(db.session, "patient"), once(form):
                patient = patients.create_patient(
                    db.session, actor(), form.details(), form.referred_on.data, clinic_today()
                )
        except DomainError as error:
            show_error(form, error)
        else:
            flash(f"Patient {patient.mrn} created in evaluation.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    return render_form("patients/form.html", form=form, patient=None)


@bp.get("/patients/<int:patient_id>")
@requires("patient.view")
def show(patient_id: int):
    if db.session.get(Patient, patient_id) is None:
        abort(404)
    # Audit the view first: committing after loading would expire the page's objects and reload them one by one.
    with transaction(db.session, "patient"):
        record(db.session, actor(), "view", "patient", patient_id, patient_id)
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
        advisory_follow_ups=patient_follow_ups(db.session, patient_id),
        advisory_statuses=ADVISORY_STATUSES,
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


def _stale_patient_form(form: PatientForm, patient_id: int) -> tuple[Patient, PatientForm, list]:
    """Someone else saved the patient first: their version on the form, and what this user typed beside it."""
    patient, typed = db.get_or_404(Patient, patient_id), form.details()
    yours = [
        (getattr(form, n).label.text, typed[n]) for n in PatientForm.DETAIL_FIELDS if typed[n] != getattr(patient, n)
    ]
    form = PatientForm(obj=patient, formdata=None)
    _fill_choices(form)
    flash(
        "Someone else saved this patient after you opened the form. Their version is shown "
        "below; nothing of yours was saved. Your entries are listed so you can re-apply them.",
        "error",
    )
    return patient, form, yours


@bp.route("/patients/<int:patient_id>/edit", methods=["GET", "POST"])
@requires("patient.edit")
def edit(patient_id: int):
    patient = db.get_or_404(Patient, patient_id)
    form = PatientForm(obj=patient if request.method == "GET" else None)
    _fill_choices(form)
    if request.method == "GET":  # the whole record, on a form: a read like the patient page's
        audit_read("patient_edit_form", None, patient_id, action="view")
    yours = []
    if form.validate_on_submit():
        try:
            with transaction(db.session, "patient"):
                patients.update_patient(
                    db.session, actor(), patient.id, form_version(form.version), form.details(), clinic_today()
                )
        except StaleEdit:
            patient, form, yours = _stale_patient_form(form, patient_id)
        except DomainError as error:
            show_error(form, error)
        else:
            flash("Patient details saved.", "success")
            return redirect(url_for("patients.show", patient_id=patient.id))
    if request.method == "GET":
        form.version.data = patient.version
    page = {"form": form, "patient": patient, "yours": yours}
    return render_form("patients/form.html", stale=yours, **page)
