"""Printed lists on A4: a day's or week's refills at a clinic, and the whole worklist."""

from datetime import UTC, datetime

from flask import render_template, request
from flask_login import current_user

from tracker.auth.permissions import requires
from tracker.clinic_zone import clinic_today
from tracker.extensions import db
from tracker.models import Location, User
from tracker.policy import allowed
from tracker.scheduling import bp
from tracker.scheduling.filters import list_filters
from tracker.services.refill_sheet import SPANS, refill_sheet
from tracker.services.settings import risk_windows
from tracker.services.worklist import REASON_LABELS
from tracker.services.worklist import worklist as worklist_rows
from tracker.web.args import date_arg
from tracker.web.exports import audit_read


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
    filters, location_ids, nurse_id = list_filters(home_clinic=True)
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
    filters, location_ids, nurse_id = list_filters()
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
