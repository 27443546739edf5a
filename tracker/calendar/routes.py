"""Coordinators' refill calendar, the worklist, booking, contact attempts, CSV exports and the iCal feed."""

import calendar as cal
from datetime import UTC, date, datetime, timedelta

from flask import Blueprint, Response, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from tracker.calendar.forms import BookingForm, CancelForm, ContactForm
from tracker.clinic_zone import clinic_zone
from tracker.clinical import refill_risk
from tracker.extensions import db
from tracker.formats import csv_datetime, fmt_date, fmt_datetime, plural
from tracker.models import Location, Patient, RefillAppointment, RefillSchedule, User
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.once import once
from tracker.physician.forms import AskForm
from tracker.policy import allowed
from tracker.services import DomainError, NeedsPhysician, StaleEdit
from tracker.services import bookings as service
from tracker.services.calendar import (
    calendar_events,
    calendar_view,
    feed_events,
    feed_locations,
    ical_feed,
    regenerate_token,
)
from tracker.services.escalation import open_request
from tracker.services.patient_queries import filter_choices, location_choices
from tracker.services.refill_sheet import SPANS, refill_sheet
from tracker.services.refills import current_pump
from tracker.services.settings import risk_windows
from tracker.services.worklist import REASON_LABELS, worklist_page
from tracker.services.worklist import worklist as worklist_rows
from tracker.web import (
    actor,
    audit_read,
    clinic_today,
    csv_response,
    date_arg,
    form_version,
    int_arg,
    own_clinic_only,
    patient_url_prefix,
    requires,
    show_error,
)

bp = Blueprint("calendar", __name__)
# The calendar's legend: every urgency the model gives, most urgent first, in its words.
LEGEND = [(urgency, refill_risk.LABELS[urgency]) for urgency in refill_risk.URGENCIES]
VIEWS = ("month", "week", "list")
DAY_CHIPS = 6  # per day cell; the rest are one click away in the list view
EXPORT_MAX_DAYS = 366  # a CSV export covers up to a year, today to the same day next year even across 29 Feb


WORKLIST_ARGS = ("location", "nurse", "page")


def _filters(home_clinic: bool = False):
    """The location and nurse filters. With `home_clinic`, a request that names no location (not even the empty
    "All clinics") shows the user's home clinic, as the calendar feed does: clinic staff plan their own clinic's
    refills, and a month of every clinic is thousands of events."""
    location_id, nurse_id = int_arg("location"), int_arg("nurse")
    if home_clinic and "location" not in request.args:
        location_id = (feed_locations(current_user) or [None])[0]
    location_id = own_clinic_only() or location_id  # the settings may show only the user's own clinic
    return {"location": location_id, "nurse": nurse_id}, ([location_id] if location_id else None), nurse_id


def _iso(day: date | None) -> str:
    return day.isoformat() if day else ""


def _range(view: str, anchor: date) -> tuple[date, date]:
    if view == "month":
        weeks = cal.Calendar(firstweekday=0).monthdatescalendar(anchor.year, anchor.month)
        return weeks[0][0], weeks[-1][-1]
    if view == "week":
        monday = anchor - timedelta(days=anchor.weekday())
        return monday, monday + timedelta(days=6)
    return anchor, anchor + timedelta(days=27)


def _events(start, end, location_ids, nurse_id):
    return calendar_events(db.session, start, end, clinic_today(), datetime.now(UTC), location_ids, nurse_id)


@bp.get("/calendar")
@requires("patient.view")
def calendar_page():
    view = request.args.get("view") if request.args.get("view") in VIEWS else "month"
    today = clinic_today()
    anchor = date_arg("date", today)
    start, end = _range(view, anchor)
    filters, location_ids, nurse_id = _filters(home_clinic=True)
    shown = calendar_view(db.session, start, end, today, datetime.now(UTC), location_ids, nurse_id)
    events = shown.events
    by_day: dict[date, list] = {}
    for event in events:
        by_day.setdefault(event.day, []).append(event)
    if view == "month":  # a cell shows DAY_CHIPS chips: the most urgent ones, the rest behind "+n more"
        for items in by_day.values():
            items.sort(key=lambda e: e.rank)
    step = {"month": None, "week": timedelta(days=7), "list": timedelta(days=28)}[view]
    if view == "month":
        first = anchor.replace(day=1)
        prev_anchor = (first - timedelta(days=1)).replace(day=1)
        next_anchor = (first + timedelta(days=32)).replace(day=1)
    else:
        prev_anchor, next_anchor = anchor - step, anchor + step
    weeks = [[start + timedelta(days=7 * w + d) for d in range(7)] for w in range(((end - start).days + 1) // 7)]
    return render_template(
        "calendar/calendar.html",
        view=view,
        anchor=anchor,
        start=start,
        end=end,
        weeks=weeks,
        by_day=by_day,
        events=events,
        today=today,
        filters=filters,
        prev_anchor=prev_anchor,
        next_anchor=next_anchor,
        locations=shown.locations,
        nurses=shown.nurses,
        chips=DAY_CHIPS,
        max_days=EXPORT_MAX_DAYS,
        legend=LEGEND,
        late=shown.late,
        patient_url=patient_url_prefix(),
    )


@bp.get("/calendar/events.json")
@requires("patient.view")
def events_json():
    """FullCalendar-style events for the visible range only."""
    today = clinic_today()
    start, end = date_arg("start", today), date_arg("end", today + timedelta(days=41))
    if end < start or (end - start).days > 100:
        return jsonify({"error": "start..end must be a range of at most 100 days"}), 400
    _, location_ids, nurse_id = _filters(home_clinic=True)
    names = allowed(current_user.role, "export.names")
    # The range is in the filters.
    audit_read("calendar_events", None, action="view", names=names, once_within=timedelta(minutes=15))
    patient_url = patient_url_prefix()
    out = []
    for e in _events(start, end, location_ids, nurse_id):
        p = e.fact
        # Only what a month grid draws: the schedule's explanation is on the patient page, one click away.
        out.append(
            {
                "id": e.uid,
                "title": f"{e.what} {p.mrn}" + (f" {p.last_name}" if names else ""),
                "start": e.starts_at_local.isoformat() if e.starts_at_local else e.day.isoformat(),
                "allDay": e.kind != "appointment",
                "url": f"{patient_url}{p.patient_id}",
                "classNames": [f"urgency-{e.urgency}"],
                "extendedProps": {
                    "kind": e.kind,
                    "urgency": e.urgency,
                    "status": e.label,
                    "location": p.location,
                    "due": p.due_date.isoformat(),
                },
            }
        )
    return jsonify(out)


def _export_filters() -> dict:
    """The clinic and nurse the calendar shows, as its export link carries them (no location: the home clinic)."""
    return {k: request.args[k] for k in ("location", "nurse") if k in request.args}


@bp.get("/calendar/export.csv")
@requires("patient.view")
def export_calendar():
    today = clinic_today()
    start, end = date_arg("start", today), date_arg("end", today + timedelta(days=27))
    if end < start or (end - start).days > EXPORT_MAX_DAYS:
        problem = (
            f"The export ends ({fmt_date(end)}) before it starts ({fmt_date(start)})."
            if end < start
            else f"{fmt_date(start)} to {fmt_date(end)} is {plural((end - start).days, 'day')}: an export covers "
            f"at most {EXPORT_MAX_DAYS} days (a year). Choose a shorter range, or export it in parts."
        )
        return render_template(
            "calendar/export_range.html",
            problem=problem,
            export_start=start,
            export_end=end,
            export_filters=_export_filters(),
            max_days=EXPORT_MAX_DAYS,
        ), 422
    _, location_ids, nurse_id = _filters(home_clinic=True)
    names = allowed(current_user.role, "export.names")
    rows = [
        ["date", "time", "kind", "mrn"]
        + (["last_name", "first_name"] if names else [])
        + ["location", "nurse", "due_date", "alarm_date", "empty_date", "status"]
    ]
    for e in _events(start, end, location_ids, nurse_id):
        p = e.fact
        rows.append(
            [e.day.isoformat(), e.starts_at_local.strftime("%H:%M") if e.starts_at_local else "", e.kind, p.mrn]
            + ([p.last_name, p.first_name] if names else [])
            + [p.location, p.nurse, p.due_date.isoformat(), _iso(p.alarm_date), _iso(p.empty_date), e.label]
        )
    audit_read("calendar", len(rows) - 1, names=names)
    return csv_response(rows, f"refill-calendar-{start}-{end}.csv")


def _filter_names(filters: dict) -> tuple[str, str]:
    """The clinic and nurse a printed list is for, in words (its heading)."""
    location = db.session.get(Location, filters["location"]) if filters["location"] else None
    nurse = db.session.get(User, filters["nurse"]) if filters["nurse"] else None
    return (location.name if location else "All clinics"), (nurse.full_name if nurse else "")


def _printed(template: str, entity: str, row_count: int, **context) -> str:
    """A print view, rendered before its bulk read is audited (the audit's commit would expire what the page
    shows, and reloading it row by row is a query a row)."""
    names = allowed(current_user.role, "export.names")  # a printed list leaves the app as an export does
    page = render_template(template, names=names, printed_at=datetime.now(UTC), **context)
    audit_read(entity, row_count, action="print", names=names)
    return page


@bp.get("/calendar/print")
@requires("patient.view")
def print_refills():
    """A day's or a week's refills at a clinic on A4, for preparing the drug. The clinic is the calendar's location
    filter (the patient's clinic; by default the user's own, as on the calendar)."""
    span = request.args.get("span") if request.args.get("span") in SPANS else "day"
    today = clinic_today()
    filters, location_ids, nurse_id = _filters(home_clinic=True)
    sheet = refill_sheet(db.session, span, date_arg("date", today), today, datetime.now(UTC), location_ids, nurse_id)
    clinic, nurse = _filter_names(filters)
    return _printed(
        "calendar/print_refills.html",
        "refill_list",
        sheet.count,
        sheet=sheet,
        span=span,
        clinic=clinic,
        nurse=nurse,
        filters=filters,
        all_clinics=not location_ids,
    )


@bp.get("/worklist/print")
@requires("patient.view")
def print_worklist():
    """The worklist on A4: every row of every page, in the page's order, without the filter bar or forms."""
    filters, location_ids, nurse_id = _filters()
    windows = risk_windows(db.session)
    rows = worklist_rows(db.session, clinic_today(), datetime.now(UTC), windows, location_ids, nurse_id)
    clinic, nurse = _filter_names(filters)
    return _printed(
        "calendar/print_worklist.html",
        "worklist",
        len(rows),
        rows=rows,
        clinic=clinic,
        nurse=nurse,
        filters=filters,
        soon_days=windows.soon_days,
        reason_labels=REASON_LABELS,
        today=clinic_today(),
    )


@bp.get("/worklist")
@requires("patient.view")
def worklist():
    filters, location_ids, nurse_id = _filters()
    windows = risk_windows(db.session)
    page = worklist_page(
        db.session,
        clinic_today(),
        datetime.now(UTC),
        windows,
        min(int_arg("page") or 1, 100_000),
        current_app.config["PAGE_SIZE"],
        location_ids,
        nurse_id,
    )
    locations, nurses = filter_choices(db.session, "clinic")
    return render_template(
        "calendar/worklist.html",
        page=page,
        rows=page.items,
        filters=filters,
        soon_days=windows.soon_days,
        locations=locations,
        nurses=nurses,
        reason_labels=REASON_LABELS,
        contact_form=ContactForm(),
        today=clinic_today(),
    )


@bp.get("/worklist/export.csv")
@requires("patient.view")
def export_worklist():
    """The worklist as a spreadsheet, in the page's words: what it needs and why (the page's labels, never codes),
    how far off the due date is ("66 days past due", and the signed number for sorting), bookings and contacts on
    the clinic's clock. Dates are ISO (YYYY-MM-DD), which every spreadsheet reads as a date."""
    _, location_ids, nurse_id = _filters()
    today = clinic_today()
    names = allowed(current_user.role, "export.names")
    rows = [
        ["MRN"]
        + (["Last name", "First name", "Phone"] if names else [])
        + [
            "Clinic",
            "Nurse",
            "Needs",
            "Refill status",
            "Due date",
            "Due",
            "Days to due date (negative: past due)",
            "Alarm date",
            "Empty date",
            "Booked for (clinic time)",
            "Booking",
            "Reasons",
            "Contact attempts",
            "Last contact (clinic time)",
            "Last contact outcome",
        ]
    ]
    for r in worklist_rows(db.session, today, datetime.now(UTC), risk_windows(db.session), location_ids, nurse_id):
        p, s, risk = r.patient, r.schedule, r.judgement.risk
        last = r.contacts[0] if r.contacts else None
        rows.append(
            [p.mrn]
            + ([p.last_name, p.first_name, p.phone] if names else [])
            + [
                p.location.name,
                p.nurse.full_name if p.nurse else "",
                REASON_LABELS[r.judgement.headline],
                refill_risk.LABELS[risk.status],
                s.due_date.isoformat(),
                refill_risk.due_words(s.due_date, today),
                r.days_left,
                _iso(s.alarm_date),
                _iso(s.empty_date),
                csv_datetime(r.appointment.starts_at) if r.appointment else "",
                refill_risk.LABELS[risk.booking],
                "; ".join(REASON_LABELS[reason] for reason in r.reasons),
                len(r.contacts),
                csv_datetime(last.at) if last else "",
                service.CONTACT_OUTCOMES[last.outcome] if last else "",
            ]
        )
    audit_read("worklist", len(rows) - 1, names=names)
    return csv_response(rows, f"refill-worklist-{clinic_today()}.csv")


def _booking_choices(form: BookingForm) -> None:
    form.location_id.choices = [(None, "—")] + location_choices(db.session, "clinic")
    clinicians = db.session.execute(
        select(User.id, User.full_name, User.role)
        .where(User.active.is_(True), User.role.in_(("nurse", "physician")))
        .order_by(User.full_name)
    ).all()
    form.clinician_id.choices = [(None, "—")] + [(i, f"{n} ({r})") for i, n, r in clinicians]


@bp.route("/patients/<int:patient_id>/book", methods=["GET", "POST"])
@requires("refill.book")
def book(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    pump = current_pump(db.session, patient_id)
    schedule = db.session.get(RefillSchedule, pump.id) if pump else None
    if schedule is None or not patient.on_refill_list:
        flash("Only patients whose pump holds drug have refills to book.", "error")
        return redirect(url_for("patients.show", patient_id=patient_id))
    current = service.open_appointment(db.session, patient_id)
    form = BookingForm()
    _booking_choices(form)
    zone = clinic_zone()
    if request.method == "GET":  # a physician's approved request brings the slot the requester tried
        form.location_id.data = int_arg("location_id") or patient.location_id
        form.clinician_id.data = int_arg("clinician_id") or patient.nurse_id
        form.version.data = current.version if current else ""
        form.appointment_id.data = current.id if current else ""
        try:
            form.starts_at.data = datetime.strptime(request.args.get("starts_at", ""), "%Y-%m-%dT%H:%M")
        except ValueError:
            form.starts_at.data = service.suggested_start(schedule.due_date, clinic_today())
    ask_form = None
    if form.validate_on_submit():
        starts_at = form.starts_at.data.replace(tzinfo=zone)
        now = datetime.now(UTC)
        try:
            if str(current.id if current else "") != (form.appointment_id.data or ""):
                raise StaleEdit("The booking changed after this form was opened.")
            with once(form):
                if current is None:
                    service.book_refill(
                        db.session,
                        actor(),
                        patient_id,
                        starts_at,
                        form.location_id.data,
                        form.clinician_id.data,
                        form.late_reason.data or "",
                        form.override_reason.data or "",
                        now,
                    )
                else:
                    service.rebook(
                        db.session,
                        actor(),
                        current.id,
                        form_version(form.version),
                        starts_at,
                        form.location_id.data,
                        form.clinician_id.data,
                        form.late_reason.data or "",
                        form.override_reason.data or "",
                        form.why.data or "",
                        now,
                    )
        except (StaleEdit, StaleDataError):
            db.session.rollback()
            flash("Someone else changed this booking meanwhile; nothing was saved. Check it and try again.", "error")
            return redirect(url_for("calendar.book", patient_id=patient_id))
        except DomainError as error:
            db.session.rollback()
            show_error(form, error, {"reason": "why"})
            if isinstance(error, NeedsPhysician):  # after the alarm date: hand it to a physician, slot and all
                ask_form = AskForm(
                    prefix="ask",
                    formdata=None,
                    kind=BOOKING_AFTER_ALARM,
                    starts_at=form.starts_at.data.strftime("%Y-%m-%dT%H:%M"),
                    location_id=form.location_id.data or "",
                    clinician_id=form.clinician_id.data or "",
                )
        else:
            flash(f"Refill booked for {fmt_datetime(starts_at)}.", "success")
            return redirect(
                request.args.get("next")
                if request.args.get("next", "").startswith("/") and not request.args.get("next", "").startswith("//")
                else url_for("patients.show", patient_id=patient_id)
            )
    history = db.session.scalars(
        select(RefillAppointment)
        .where(RefillAppointment.patient_id == patient_id)
        .order_by(RefillAppointment.booked_at.desc())
        .limit(10)
    ).all()
    status = 200 if request.method == "GET" else 422
    return render_template(
        "calendar/book.html",
        form=form,
        patient=patient,
        schedule=schedule,
        current=current,
        history=history,
        cancel_form=CancelForm(version=current.version if current else ""),
        ask_form=ask_form,
        asked=open_request(db.session, patient_id, BOOKING_AFTER_ALARM),
    ), status


@bp.post("/appointments/<int:appointment_id>/cancel")
@requires("refill.book")
def cancel(appointment_id: int):
    appointment = db.session.get(RefillAppointment, appointment_id)
    if appointment is None:
        abort(404)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            service.cancel(
                db.session, actor(), appointment_id, form_version(form.version), form.why.data, datetime.now(UTC)
            )
        except (DomainError, StaleDataError) as error:
            db.session.rollback()
            flash(getattr(error, "message", "Someone else changed this booking meanwhile."), "error")
        else:
            flash("Appointment cancelled. The patient is back on the worklist if the refill is due.", "success")
    else:
        flash("Say why the appointment is cancelled.", "error")
    return redirect(url_for("calendar.book", patient_id=appointment.patient_id))


@bp.post("/patients/<int:patient_id>/contacts")
@requires("contact.log")
def log_contact(patient_id: int):
    patient = db.session.get(Patient, patient_id)
    if patient is None:
        abort(404)
    form = ContactForm()
    if form.validate_on_submit():
        try:
            with once(form):
                service.log_contact(
                    db.session,
                    actor(),
                    patient_id,
                    form.method.data,
                    form.outcome.data,
                    form.notes.data or "",
                    datetime.now(UTC),
                )
        except DomainError as error:
            db.session.rollback()
            show_error(form, error)
        else:
            flash("Contact attempt logged.", "success")
            if request.args.get("back") == "patient":  # logged from the patient page's contact history
                return redirect(url_for("patients.show", patient_id=patient_id) + "#contacts")
            # Back to the worklist as it was filtered: only its own filters, never an arbitrary argument (one
            # named "endpoint" used to reach url_for itself and turn a saved contact into a 500).
            back = {k: request.args[k] for k in WORKLIST_ARGS if k in request.args}
            return redirect(url_for("calendar.worklist", **back) + f"#p{patient_id}")
    # Shown again on a page of its own, with the errors beside the fields and what was typed kept.
    return render_template("calendar/contact.html", form=form, patient=patient), 422


@bp.route("/account/calendar", methods=["GET", "POST"])
@requires("patient.view")
def my_feed():
    if request.method == "POST":  # CSRFProtect has checked the token
        replacing = bool(current_user.calendar_token)
        regenerate_token(db.session, actor(), current_user)
        flash(
            "New calendar address made; the old one no longer works."
            if replacing
            else "Calendar address made: copy it into your calendar app.",
            "success",
        )
        return redirect(url_for("calendar.my_feed"))
    url = (
        url_for("calendar.feed", token=current_user.calendar_token, _external=True)
        if current_user.calendar_token
        else None
    )
    return render_template("calendar/feed.html", url=url)


@bp.get("/calendar/feed/<token>.ics")
def feed(token: str):
    """The personal feed: the secret token is the credential (calendar apps cannot log in)."""
    user = db.session.scalar(select(User).where(User.calendar_token == token)) if len(token) >= 32 else None
    if user is None or not user.active:
        abort(404)
    events = feed_events(db.session, clinic_today(), datetime.now(UTC), feed_locations(user))
    body = ical_feed(events, request.host_url.rstrip("/"), datetime.now(UTC))
    return Response(body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"})
