"""The programme lead's quality dashboard, its CSV tables, the patients behind each figure, and a printable view."""

import re
from datetime import UTC, datetime

from flask import abort, current_app, redirect, render_template, request, url_for
from flask_login import current_user

from tracker.auth.permissions import own_clinic_only, requires
from tracker.clinic_zone import clinic_today
from tracker.clinical import refill_risk
from tracker.clinical.journey import STAGE_LABELS
from tracker.clinical.quality import (
    LATE_BUCKETS,
    LATE_STATUSES,
    RECOMPUTED,
    TRIAL_OUTCOMES,
    WARNING_LABELS,
    RefillFact,
    battery_row,
    month_label,
    overdue_behind,
    refills_behind,
)
from tracker.dashboard import bp
from tracker.dashboard.tables import TABLES
from tracker.extensions import db
from tracker.formats import fmt_date, plural
from tracker.policy import allowed
from tracker.services import quality
from tracker.services.patient_queries import location_choices
from tracker.services.settings import all_settings, risk_windows
from tracker.web.args import date_arg, int_arg
from tracker.web.exports import audit_read, csv_response

MAX_MONTHS = 120  # ten years of months is the most a by-month table shows
MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
BUCKETS = {(f"{first}-{last}" if last is not None else f"{first}+"): label for label, first, last in LATE_BUCKETS}
REFILL_OUTCOMES = {
    "": "Refills",
    "judged": "Refills judged",
    "on_time": "Refills on or before the due date",
    "late": "Refills after the due date",
}


def _filters() -> quality.QualityFilters:
    """From / to / location; default the 12 calendar months to today (this month so far included)."""
    today = clinic_today()
    start, end = date_arg("from", refill_risk.add_months(today.replace(day=1), -11)), date_arg("to", today)
    if end < start:
        start, end = end, start
    return quality.QualityFilters(
        max(start, refill_risk.add_months(end, -MAX_MONTHS)), end, own_clinic_only() or int_arg("location")
    )


def _args(f: quality.QualityFilters) -> dict:
    return {"from": f.start.isoformat(), "to": f.end.isoformat(), "location": f.location_id or ""}


def _dashboard(f: quality.QualityFilters) -> quality.Dashboard:
    return quality.dashboard(db.session, f, clinic_today(), datetime.now(UTC), all_settings(db.session))


def _number(value) -> float | None:
    return None if value is None else float(value)  # Chart.js plots numbers; tables show the exact Decimal


def _charts(d: quality.Dashboard) -> dict:
    return {
        "by_month": {
            "labels": [s.label for s in d.by_month],
            "percent": [_number(s.percent) for s in d.by_month],
            "counts": [[s.on_time, s.judged] for s in d.by_month],
        },
        "by_location": {
            "labels": [s.label for s in d.by_location],
            "percent": [_number(s.percent) for s in d.by_location],
            "counts": [[s.on_time, s.judged] for s in d.by_location],
        },
        "days_late": {
            "labels": [b.label for b in d.buckets],
            "late": [b.late_refills for b in d.buckets],
            "open": [b.open_overdue for b in d.buckets],
        },
        "stages": {
            "labels": [STAGE_LABELS[s.stage] for s in d.stages],
            "keys": [s.stage for s in d.stages],
            "patients": [s.patients for s in d.stages],
        },
    }


@bp.get("")
@requires("quality.view")
def index():
    f = _filters()
    d = _dashboard(f)
    return render_template(
        "dashboard/index.html",
        d=d,
        f=f,
        here=_args(f),
        charts=_charts(d),
        locations=location_choices(db.session),
        tables=TABLES,
        buckets=BUCKETS,
        outcomes=TRIAL_OUTCOMES,
        location_name=d.location_names.get(f.location_id),
    )


@bp.get("/export.csv")
@requires("quality.view")
def export():
    """One dashboard table as CSV (aggregates only: no patient appears in these)."""
    key = request.args.get("table", "summary")
    if key not in TABLES:
        abort(404)
    f = _filters()
    where = f"-location-{f.location_id}" if f.location_id else ""
    return csv_response(TABLES[key][1](_dashboard(f)), f"quality-{key}-{f.start}-{f.end}{where}.csv")


def _choice(name: str, allowed_values) -> str:
    """A drill-down argument that must be one of the known values (blank: not given); else 404."""
    value = request.args.get(name, "")
    if value and value not in allowed_values:
        abort(404)
    return value


def _refill_note(fact: RefillFact) -> str:
    when = fmt_date(fact.visit_date)
    if fact.due_date is None:
        return f"Refill {when}: no earlier fill to compare"
    late = fact.days_late
    timing = f"{plural(late, 'day')} late" if late > 0 else "on time"
    codes = ", ".join(WARNING_LABELS[c].lower() for c in WARNING_LABELS if c in fact.warning_codes)
    due = f"due {fmt_date(fact.due_date)}" + (", recomputed" if fact.due_recomputed else "")
    return f"Refill {when}: {timing} ({due})" + (f"; {codes}" if codes else "")


def _behind(f: quality.QualityFilters) -> tuple[str, dict[int, list[str]]] | None:
    """(what is listed, patient id -> what was counted for them) for the metric in the query string."""
    metric = request.args.get("metric", "")
    notes: dict[int, list[str]] = {}
    if metric == "refills":
        outcome = _choice("outcome", REFILL_OUTCOMES)
        month = _choice("month", [m for m in [request.args.get("month", "")] if MONTH.match(m)])
        bucket, warning = _choice("bucket", BUCKETS), _choice("warning", WARNING_LABELS)
        due = _choice("due", (RECOMPUTED,))
        facts = refills_behind(
            quality.refill_facts(db.session, f, all_settings(db.session)), outcome, month, bucket, warning, due
        )
        for fact in facts:
            notes.setdefault(fact.patient_id, []).append(_refill_note(fact))
        title = (
            REFILL_OUTCOMES["late" if bucket else outcome]
            + (f" {BUCKETS[bucket]} late" if bucket else "")
            + (f" showing the {WARNING_LABELS[warning].lower()} warning" if warning else "")
            + (f" in {month_label(month)}" if month else "")
            + (", due date recomputed (recorded before it was stored)" if due else "")
        )
        return title, notes
    today = clinic_today()
    if metric == "overdue":
        booked, bucket = _choice("booked", ("yes", "no")), _choice("bucket", BUCKETS)
        status = _choice("status", LATE_STATUSES)
        late = quality.overdue_facts(db.session, f, today, datetime.now(UTC), risk_windows(db.session))
        for o in overdue_behind(late, today, booked, bucket, status):
            days = o.days_overdue(today)
            notes.setdefault(o.patient_id, []).append(
                f"Due {fmt_date(o.due_date)}, {plural(days, 'day')} ago: "
                f"{refill_risk.LABELS[o.status].lower()}; {refill_risk.LABELS[o.booking].lower()}"
            )
        title = (
            {"": "Late pumps", "yes": "Late pumps, booked (late)", "no": "Late pumps, not booked"}[booked]
            + (f": {refill_risk.LABELS[status].lower()}" if status else "")
            + (f", {BUCKETS[bucket]} after the due date" if bucket else "")
        )
        return title + " (today)", notes
    if metric == "trials":
        outcome = _choice("outcome", TRIAL_OUTCOMES)
        for t in quality.trial_facts(db.session, f):
            if not outcome or t.outcome == outcome:
                notes.setdefault(t.patient_id, []).append(
                    f"Trial from {fmt_date(t.trial_started)}: {TRIAL_OUTCOMES[t.outcome].lower()}"
                    + (f" {fmt_date(t.outcome_date)}" if t.outcome_date else "")
                )
        return "Entered trial in the range" + (f": {TRIAL_OUTCOMES[outcome].lower()}" if outcome else ""), notes
    if metric == "batteries":
        months = risk_windows(db.session).battery_warning_months
        month = _choice(
            "month",
            [
                m
                for m in [request.args.get("month", "")]
                if MONTH.match(m) or m in (refill_risk.BATTERY_ERI, refill_risk.BATTERY_PAST_DUE)
            ],
        )
        for b in quality.battery_facts(db.session, f, today, months):
            if not month or battery_row(b) == month:
                notes.setdefault(b.patient_id, []).append(
                    refill_risk.LABELS[b.verdict] + (f": replacement due {fmt_date(b.due)}" if b.due else "")
                )
        if month in (refill_risk.BATTERY_ERI, refill_risk.BATTERY_PAST_DUE):
            return f"{refill_risk.LABELS[month]} (today)", notes
        when = f"in {month_label(month)}" if month else f"within {months} months"
        return f"Battery replacements due {when} (today)", notes
    return None


@bp.get("/patients")
@requires("patient.view")
def patients():
    """The patients behind one figure, with what was counted for each."""
    f = _filters()
    behind = _behind(f)
    if behind is None:
        return redirect(url_for("dashboard.index", **_args(f)))
    title, notes = behind
    page = db.paginate(
        quality.patients_query(set(notes)),
        page=min(int_arg("page") or 1, 100_000),
        per_page=current_app.config["PAGE_SIZE"],
        error_out=False,
    )
    return render_template(
        "dashboard/patients.html",
        title=title,
        notes=notes,
        page=page,
        f=f,
        here=_args(f),
        counted=sum(len(v) for v in notes.values()),
        location_name=quality.location_name(db.session, f.location_id),
        today=clinic_today(),
    )


@bp.get("/patients.csv")
@requires("patient.view")
def patients_csv():
    """The same list as CSV; names only for roles allowed to export them."""
    f = _filters()
    behind = _behind(f)
    if behind is None:
        abort(404)
    title, notes = behind
    names = allowed(current_user.role, "export.names")
    rows = [["mrn"] + (["last_name", "first_name"] if names else []) + ["location", "stage", "status", "counted"]]
    for p in db.session.scalars(quality.patients_query(set(notes))):
        rows.append(
            [p.mrn]
            + ([p.last_name, p.first_name] if names else [])
            + [p.location.name, STAGE_LABELS.get(p.stage, p.stage), p.status, "; ".join(notes[p.id])]
        )
    metric = request.args.get("metric", "")
    audit_read("quality_patient_list", len(rows) - 1, names=names)
    return csv_response(rows, f"quality-{metric}-patients-{f.start}-{f.end}.csv")
