"""Device advisory pages (thin: forms in, services out). The rules are tracker.clinical.advisory's, the use cases
tracker.services.advisories'."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user
from sqlalchemy import select

from tracker.advisories import bp
from tracker.advisories.forms import SERIALS_HELP, AdvisoryForm, CloseForm, FollowUpForm
from tracker.auth.permissions import actor, own_clinic_only, requires
from tracker.clinic_zone import clinic_today
from tracker.clinical import advisory as rules
from tracker.clinical.errors import DomainError
from tracker.extensions import db
from tracker.models import AdvisoryFollowUp, DrugConcentration, PumpModel
from tracker.once import once
from tracker.policy import allowed
from tracker.services import StaleEdit, advisories, advisory_pages, transaction
from tracker.services.refill_list_queries import open_work
from tracker.web.exports import audit_read, csv_response
from tracker.web.forms import form_version, render_form, show_error


@bp.get("/advisories")
@requires("patient.view")
def index():
    """Every advisory, open first, with how many affected patients have been reached."""
    return render_template(
        "advisories/list.html",
        summaries=advisory_pages.advisory_list(db.session),
        follow_up_kinds=rules.FOLLOW_UP_KINDS,
    )


def _choices(form: AdvisoryForm) -> None:
    form.model_ids.choices = [(m.id, m.name) for m in db.session.scalars(select(PumpModel).order_by(PumpModel.name))]
    form.concentrations.choices = [
        (c, f"{c} mcg/mL")
        for c in db.session.scalars(
            select(DrugConcentration.concentration_mcg_per_ml).order_by(DrugConcentration.concentration_mcg_per_ml)
        )
    ]


def _entry(form: AdvisoryForm) -> advisories.AdvisoryEntry:
    """The form's values; an uploaded list joins the pasted one (a bad file raises DomainError on its field)."""
    serials = form.serials.data or ""
    upload = form.serial_file.data
    if upload and getattr(upload, "filename", ""):
        serials = "\n".join(part for part in (serials, rules.serials_from_file(upload.read(2_000_001))) if part)
    return advisories.AdvisoryEntry(
        title=form.title.data or "",
        source=form.source.data or "",
        issued_on=form.issued_on.data,
        recommended_action=form.recommended_action.data or "",
        follow_up=form.follow_up.data or None,
        call_days=form.call_days.data,
        model_ids=form.model_ids.data or [],
        serials_text=serials,
        implanted_from=form.implanted_from.data,
        implanted_to=form.implanted_to.data,
        distributed_from=form.distributed_from.data,
        distributed_to=form.distributed_to.data,
        concentrations=form.concentrations.data or [],
        lots_text=form.lots.data or "",
    )


@bp.route("/advisories/new", methods=["GET", "POST"])
@requires("advisory.manage")
def new():
    """Enter a notice: on saving, every affected pump is listed with its follow-up."""
    form = AdvisoryForm()
    _choices(form)
    if form.validate_on_submit():
        try:
            with transaction(db.session, "advisory"), once(form):
                saved = advisories.create_advisory(db.session, actor(), _entry(form), datetime.now(UTC))
        except DomainError as error:
            show_error(form, error, {"serials_text": "serials", "lots_text": "lots"})
        else:
            flash(f"Advisory saved: {saved.title}. Every affected pump is listed below.", "success")
            return redirect(url_for("advisories.show", advisory_id=saved.id))
    return render_form("advisories/new.html", form=form, serials_help=SERIALS_HELP)


def _follow_up_form(follow_up, formdata=None) -> FollowUpForm:
    """A row's inline form: plain field names (one form per row), ids made unique for the page's labels."""
    form = FollowUpForm(formdata=formdata, status=follow_up.status, notes=follow_up.notes, version=follow_up.version)
    return _ids(form, follow_up.id)


def _ids(form: FollowUpForm, follow_up_id: int) -> FollowUpForm:
    for field in form:
        field.id = f"fu{follow_up_id}-{field.name}"
    return form


def _page(advisory_id: int, posted: dict | None = None, close_form: CloseForm | None = None, status: int = 200):
    """The advisory page; `posted`: a follow-up form (by id) that came back refused, shown as typed."""
    page = advisory_pages.advisory_page(db.session, advisory_id, own_clinic_only())
    if page is None:
        abort(404)
    editable = page.advisory.open and allowed(current_user.role, "advisory.follow_up")
    forms = {f.id: _follow_up_form(f) for f in page.in_use} if editable else {}
    forms |= posted or {}
    due = {
        w.event_id: w.due_on
        for ws in open_work(db.session, pump_ids=[f.pump_id for f in page.in_use]).values()
        for w in ws
        if w.advisory_id == advisory_id
    }
    close = close_form or CloseForm(formdata=None, version=page.advisory.version)
    body = render_template(
        "advisories/show.html", page=page, forms=forms, due=due, close_form=close, today=clinic_today(), rules=rules
    )
    return body, status


@bp.get("/advisories/<int:advisory_id>")
@requires("patient.view")
def show(advisory_id: int):
    """The advisory, its progress, and every affected pump (in use, then explanted) with patient and follow-up."""
    return _page(advisory_id)


@bp.post("/patients/<int:patient_id>/advisory-follow-ups/<int:follow_up_id>")
@requires("advisory.follow_up")
def follow_up(patient_id: int, follow_up_id: int):
    """Record where one patient's follow-up stands (inline on the advisory page and the patient page)."""
    found = db.session.get(AdvisoryFollowUp, follow_up_id)
    if found is None or found.patient_id != patient_id:
        abort(404)
    advisory_id, form = found.advisory_id, _ids(FollowUpForm(), follow_up_id)
    if form.validate_on_submit():
        try:
            with transaction(db.session, "advisory follow-up"), once(form):
                advisories.update_follow_up(
                    db.session,
                    actor(),
                    patient_id,
                    follow_up_id,
                    form.status.data,
                    form.notes.data or "",
                    form_version(form.version),
                    datetime.now(UTC),
                )
        except DomainError as error:
            show_error(form, error)
            stale = isinstance(error, StaleEdit)
            if stale:  # the page shows the saved follow-up; saving again over it is deliberate
                form.version.data = str(db.session.get(AdvisoryFollowUp, follow_up_id).version)
            return _page(advisory_id, {follow_up_id: form}, status=409 if stale else 422)
        flash("Follow-up recorded.", "success")
        return redirect(url_for("advisories.show", advisory_id=advisory_id) + f"#fu-{follow_up_id}")
    return _page(advisory_id, {follow_up_id: form}, status=422)


@bp.post("/advisories/<int:advisory_id>/close")
@requires("advisory.manage")
def close(advisory_id: int):
    """Close the advisory: its open follow-ups leave the worklist and e-mail; the record stays."""
    form = CloseForm()
    if form.validate_on_submit():
        try:
            with transaction(db.session, "advisory"), once(form):
                advisories.close_advisory(
                    db.session,
                    actor(),
                    advisory_id,
                    form.close_note.data or "",
                    form_version(form.version),
                    datetime.now(UTC),
                )
        except DomainError as error:
            show_error(form, error)
            return _page(advisory_id, close_form=form, status=409 if isinstance(error, StaleEdit) else 422)
        flash("Advisory closed.", "success")
        return redirect(url_for("advisories.show", advisory_id=advisory_id))
    return _page(advisory_id, close_form=form, status=422)


CSV_COLUMNS = ["Clinic", "Nurse", "Pump model", "Serial", "Implanted", "Explanted", "Status", "By", "At", "Notes"]


@bp.get("/advisories/<int:advisory_id>/export.csv")
@requires("patient.view")
def export(advisory_id: int):
    """Every affected pump and its follow-up as CSV: names for clinical staff, MRN only for admins."""
    page = advisory_pages.advisory_page(db.session, advisory_id, own_clinic_only())
    if page is None:
        abort(404)
    names = allowed(current_user.role, "export.names")
    rows = [["MRN"] + (["Last name", "First name"] if names else []) + CSV_COLUMNS]
    for f in page.in_use + page.explanted:
        p = f.patient
        rows.append(
            [p.mrn]
            + ([p.last_name, p.first_name] if names else [])
            + [
                p.location.name,
                p.nurse.full_name if p.nurse else "",
                f.pump.model.name,
                f.pump.serial,
                f.pump.implanted_on.isoformat(),
                f.pump.explanted_on.isoformat() if f.pump.explanted_on else "",
                rules.STATUSES[f.status],
                f.status_by.full_name if f.status_by else "",
                f.status_at.isoformat() if f.status_at else "",
                f.notes,
            ]
        )
    audit_read("advisory", len(rows) - 1, names=names)
    return csv_response(rows, f"advisory-{advisory_id}.csv")
