"""The refill calendar: month, week and list views, its events as JSON for the grid, and its CSV export."""

import calendar as cal
from datetime import UTC, date, datetime, timedelta

from flask import jsonify, render_template, request
from flask_login import current_user

from tracker.auth.permissions import requires
from tracker.clinic_zone import clinic_today
from tracker.clinical import refill_risk
from tracker.extensions import db
from tracker.formats import fmt_date, plural
from tracker.policy import allowed
from tracker.scheduling import bp
from tracker.scheduling.filters import iso_day, list_filters
from tracker.services.calendar import calendar_events, calendar_view
from tracker.web.args import date_arg
from tracker.web.exports import audit_read, csv_response
from tracker.web.urls import patient_url_prefix

# The calendar's legend: every urgency the model gives, most urgent first, in its words.
LEGEND = [(urgency, refill_risk.LABELS[urgency]) for urgency in refill_risk.URGENCIES]
VIEWS = ("month", "week", "list")
DAY_CHIPS = 6  # per day cell; the rest are one click away in the list view
EXPORT_MAX_DAYS = 366  # a CSV export covers up to a year, today to the same day next year even across 29 Feb


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


def _by_day(events: list, view: str) -> dict[date, list]:
    by_day: dict[date, list] = {}
    for event in events:
        by_day.setdefault(event.day, []).append(event)
    if view == "month":  # a cell shows DAY_CHIPS chips: the most urgent ones, the rest behind "+n more"
        for items in by_day.values():
            items.sort(key=lambda e: e.rank)
    return by_day


def _neighbours(view: str, anchor: date) -> tuple[date, date]:
    """The previous and next page's anchor: a month, a week or four weeks away."""
    if view == "month":
        first = anchor.replace(day=1)
        return (first - timedelta(days=1)).replace(day=1), (first + timedelta(days=32)).replace(day=1)
    step = {"week": timedelta(days=7), "list": timedelta(days=28)}[view]
    return anchor - step, anchor + step


@bp.get("/calendar")
@requires("patient.view")
def calendar_page():
    view = request.args.get("view") if request.args.get("view") in VIEWS else "month"
    today = clinic_today()
    anchor = date_arg("date", today)
    start, end = _range(view, anchor)
    filters, location_ids, nurse_id = list_filters(home_clinic=True)
    shown = calendar_view(db.session, start, end, today, datetime.now(UTC), location_ids, nurse_id)
    prev_anchor, next_anchor = _neighbours(view, anchor)
    weeks = [[start + timedelta(days=7 * w + d) for d in range(7)] for w in range(((end - start).days + 1) // 7)]
    return render_template(
        "calendar/calendar.html",
        view=view,
        anchor=anchor,
        start=start,
        end=end,
        weeks=weeks,
        by_day=_by_day(shown.events, view),
        events=shown.events,
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
    _, location_ids, nurse_id = list_filters(home_clinic=True)
    names = allowed(current_user.role, "export.names")
    # The range is in the filters.
    audit_read("calendar_events", None, action="view", names=names, once_within=timedelta(minutes=15))
    patient_url = patient_url_prefix()
    return jsonify([_event_json(e, names, patient_url) for e in _events(start, end, location_ids, nurse_id)])


def _event_json(e, names: bool, patient_url: str) -> dict:
    """Only what a month grid draws: the schedule's explanation is on the patient page, one click away."""
    p = e.fact
    return {
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


def _export_filters() -> dict:
    """The clinic and nurse the calendar shows, as its export link carries them (no location: the home clinic)."""
    return {k: request.args[k] for k in ("location", "nurse") if k in request.args}


def _range_refused(start: date, end: date):
    """The export page again, saying why the range cannot be exported."""
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


def _calendar_row(e, names: bool) -> list:
    p = e.fact
    return (
        [e.day.isoformat(), e.starts_at_local.strftime("%H:%M") if e.starts_at_local else "", e.kind, p.mrn]
        + ([p.last_name, p.first_name] if names else [])
        + [p.location, p.nurse, p.due_date.isoformat(), iso_day(p.alarm_date), iso_day(p.empty_date), e.label]
    )


@bp.get("/calendar/export.csv")
@requires("patient.view")
def export_calendar():
    today = clinic_today()
    start, end = date_arg("start", today), date_arg("end", today + timedelta(days=27))
    if end < start or (end - start).days > EXPORT_MAX_DAYS:
        return _range_refused(start, end)
    _, location_ids, nurse_id = list_filters(home_clinic=True)
    names = allowed(current_user.role, "export.names")
    header = (
        ["date", "time", "kind", "mrn"]
        + (["last_name", "first_name"] if names else [])
        + ["location", "nurse", "due_date", "alarm_date", "empty_date", "status"]
    )
    rows = [header] + [_calendar_row(e, names) for e in _events(start, end, location_ids, nurse_id)]
    audit_read("calendar", len(rows) - 1, names=names)
    return csv_response(rows, f"refill-calendar-{start}-{end}.csv")
