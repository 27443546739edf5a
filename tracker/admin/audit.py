"""Administration: the audit trail, filtered by patient, user and date, as pages or as CSV."""

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from flask import Response, current_app, render_template, request, stream_with_context
from sqlalchemy import Select, func, or_, select

from tracker.admin import bp
from tracker.admin.audit_changes import describe_event, references
from tracker.auth.permissions import requires
from tracker.clinic_zone import clinic_today, start_of_day
from tracker.extensions import db
from tracker.models import AuditEvent, Patient, User
from tracker.services.audit import names_for
from tracker.web.args import date_arg, int_arg
from tracker.web.exports import audit_read, csv_cell

CSV_HEADER = [
    "at (UTC)",
    "user id",
    "user",
    "client address",
    "action",
    "entity",
    "entity id",
    "patient id",
    "MRN",
    "before",
    "after",
]


@dataclass
class AuditFilters:
    patient: str  # a patient id or an MRN, as typed
    user_id: int | None
    start: date
    end: date


def _filters() -> AuditFilters:
    today = clinic_today()
    start = date_arg("from", today - timedelta(days=30))
    end = date_arg("to", today)
    return AuditFilters(request.args.get("patient", "").strip()[:40], int_arg("user"), min(start, end), end)


def _utc_midnight(day: date) -> datetime:
    """The start of a clinic-local day, as the UTC instant stored in audit_event.at."""
    return start_of_day(day).astimezone(UTC)


def audit_query(f: AuditFilters) -> Select:
    """Audit rows matching the filters, newest first; the date range is in clinic-local days, both ends kept."""
    query = select(AuditEvent).where(
        AuditEvent.at >= _utc_midnight(f.start), AuditEvent.at < _utc_midnight(f.end + timedelta(days=1))
    )
    if f.patient:
        matches = [Patient.mrn == f.patient]
        if f.patient.isdigit() and int(f.patient) <= 2**31 - 1:
            matches.append(Patient.id == int(f.patient))
        query = query.where(AuditEvent.patient_id.in_(select(Patient.id).where(or_(*matches))))
    if f.user_id:
        query = query.where(AuditEvent.user_id == f.user_id)
    return query.order_by(AuditEvent.at.desc(), AuditEvent.id.desc())


def _names(rows: list[AuditEvent], values: bool = False) -> dict[str, dict[int, str]]:
    """Names for a batch of rows in one query: who acted, the patients' MRNs and, with `values`, every id the
    before/after values show as a name (tracker.admin.audit_changes)."""
    ids = references((r.entity, r.entity_id, r.before, r.after) for r in rows) if values else {}
    ids.setdefault("user", set()).update(r.user_id for r in rows if r.user_id)
    ids.setdefault("patient", set()).update(r.patient_id for r in rows if r.patient_id)
    return names_for(db.session, ids)


def _values(value: dict | None) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False) if value is not None else ""


@bp.get("/audit")
@requires("audit.view")
def audit():
    filters = _filters()
    page = db.paginate(
        audit_query(filters),
        page=min(int_arg("page") or 1, 100_000),
        per_page=current_app.config["PAGE_SIZE"],
        error_out=False,
    )
    names = _names(page.items, values=True)
    rows = [(r, describe_event(r.action, r.entity, r.entity_id, r.before, r.after, names)) for r in page.items]
    staff = db.session.execute(select(User.id, User.full_name).order_by(User.full_name)).all()
    return render_template(
        "admin/audit.html",
        page=page,
        rows=rows,
        filters=filters,
        users=names["user"],
        mrns=names["patient"],
        staff=staff,
    )


def _audit_row(r, users: dict, mrns: dict) -> list:
    return [
        csv_cell(v)
        for v in (
            r.at.astimezone(ZoneInfo("UTC")).isoformat(timespec="seconds"),
            r.user_id,
            users.get(r.user_id),
            r.client_address,
            r.action,
            r.entity,
            r.entity_id,
            r.patient_id,
            mrns.get(r.patient_id),
            _values(r.before),
            _values(r.after),
        )
    ]


def _csv_chunks(filters):
    """The trail as CSV text, streamed a batch of 500 rows at a time (with their user and patient names)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL)
    writer.writerow(CSV_HEADER)
    result = db.session.scalars(audit_query(filters).execution_options(yield_per=500))
    for batch in result.partitions():
        names = _names(batch)
        writer.writerows(_audit_row(r, names["user"], names["patient"]) for r in batch)
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
    yield buffer.getvalue()


@bp.get("/audit/export.csv")
@requires("audit.view")
def export_audit():
    filters = _filters()
    audit_read("audit_trail", db.session.scalar(select(func.count()).select_from(audit_query(filters).subquery())))
    filename = f"audit-{filters.start}-{filters.end}.csv"
    return Response(
        stream_with_context(_csv_chunks(filters)),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
