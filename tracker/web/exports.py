"""What leaves the app in bulk: CSV downloads with every cell defused, and the audit trail's record of each
bulk read (an export, a feed, a printed list)."""

import csv
import io
import re
from datetime import UTC, datetime, timedelta

from flask import Response, request
from flask_login import current_user

from tracker.auth.permissions import actor
from tracker.services import transaction

_FORMULA_START = re.compile(r"(^|[,;\t|])(\s*)([=+\-@\r])")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def csv_cell(value) -> str:
    """Spreadsheets run cells starting with = + - @ (or a tab or carriage return) as formulas; data must not. A
    spreadsheet set to another list separator (";" in much of Europe) splits "Doe;=1+2" into two cells, so a
    formula character after any separator is defused too (an apostrophe before it, shown by no spreadsheet).
    A cell that is a plain number and nothing else ("-66", "+2", "-0.5") runs nothing: it stays a number, not the
    text "'-66" a spreadsheet can neither sort nor sum."""
    text = "" if value is None else str(value)
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    return _FORMULA_START.sub(lambda m: f"{m.group(1)}{m.group(2)}'{m.group(3)}", text)


def csv_response(rows: list[list], filename: str) -> Response:
    """A CSV download with every cell defused."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows([[csv_cell(v) for v in row] for row in rows])
    return Response(
        buffer.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


SEARCH_ARGS = {"q"}  # typed text may be a name: recorded as used, never its value


def audit_read(
    entity: str,
    rows: int | None = None,
    patient_id: int | None = None,
    action: str = "export",
    names: bool | None = None,
    once_within: timedelta | None = None,
) -> None:
    """Record a bulk read (an export, a feed, a printed summary) with who, what, its filters and how many rows:
    the trail shows that a list of every patient left the app, without copying the list into the trail. With
    `once_within`, the same user's same read is recorded once in that time (the calendar asks for its events on
    every view: a row each time would bury the trail)."""
    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import AuditEvent
    from tracker.services.audit import record

    filters = {k: ("(search text)" if k in SEARCH_ARGS else v[:100]) for k, v in request.args.items()}
    after = {"filters": filters, "rows": rows} | ({"names": names} if names is not None else {})
    if once_within is not None:
        recent = db.session.scalars(
            select(AuditEvent.after)
            .where(
                AuditEvent.user_id == current_user.id,
                AuditEvent.entity == entity,
                AuditEvent.action == action,
                AuditEvent.at >= datetime.now(UTC) - once_within,
            )
            .order_by(AuditEvent.id.desc())
            .limit(20)
        )
        if any((seen or {}).get("filters") == filters for seen in recent):
            return
    with transaction(db.session, "read"):
        record(db.session, actor(), action, entity, None, patient_id, None, after)
