"""The worklist: who needs a refill booked or a call, page by page, and as a spreadsheet."""

from datetime import UTC, date, datetime

from flask import current_app, render_template
from flask_login import current_user

from tracker.auth.permissions import requires
from tracker.clinic_zone import clinic_today
from tracker.clinical import refill_risk
from tracker.extensions import db
from tracker.formats import csv_datetime
from tracker.policy import allowed
from tracker.scheduling import bp
from tracker.scheduling.filters import iso_day, list_filters
from tracker.scheduling.forms import ContactForm
from tracker.services import bookings
from tracker.services.patient_queries import filter_choices
from tracker.services.settings import risk_windows
from tracker.services.worklist import REASON_LABELS, worklist_page
from tracker.services.worklist import worklist as worklist_rows
from tracker.web.args import int_arg
from tracker.web.exports import audit_read, csv_response


@bp.get("/worklist")
@requires("patient.view")
def worklist():
    filters, location_ids, nurse_id = list_filters()
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


WORKLIST_COLUMNS = [
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


def _worklist_row(r, today: date, names: bool) -> list:
    """One worklist row in the page's words (labels, never codes)."""
    p, s, risk = r.patient, r.schedule, r.judgement.risk
    last = r.contacts[0] if r.contacts else None
    return (
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
            iso_day(s.alarm_date),
            iso_day(s.empty_date),
            csv_datetime(r.appointment.starts_at) if r.appointment else "",
            refill_risk.LABELS[risk.booking],
            "; ".join(REASON_LABELS[reason] for reason in r.reasons),
            len(r.contacts),
            csv_datetime(last.at) if last else "",
            bookings.CONTACT_OUTCOMES[last.outcome] if last else "",
        ]
    )


@bp.get("/worklist/export.csv")
@requires("patient.view")
def export_worklist():
    """The worklist as a spreadsheet, in the page's words: what it needs and why (the page's labels, never codes),
    how far off the due date is ("66 days past due", and the signed number for sorting), bookings and contacts on
    the clinic's clock. Dates are ISO (YYYY-MM-DD), which every spreadsheet reads as a date."""
    _, location_ids, nurse_id = list_filters()
    today = clinic_today()
    names = allowed(current_user.role, "export.names")
    header = ["MRN"] + (["Last name", "First name", "Phone"] if names else []) + WORKLIST_COLUMNS
    found = worklist_rows(db.session, today, datetime.now(UTC), risk_windows(db.session), location_ids, nurse_id)
    rows = [header] + [_worklist_row(r, today, names) for r in found]
    audit_read("worklist", len(rows) - 1, names=names)
    return csv_response(rows, f"refill-worklist-{clinic_today()}.csv")
