"""Housekeeping: planner statistics for the embedded SQLite database, and old one-time form keys.

PostgreSQL's autovacuum keeps its planner statistics; SQLite has none until ANALYZE runs, and without them it
counted a clinic's patients in one stage through the wrong index (10k patients: 1.5 ms instead of 0.36 ms, on
every patient-list page). `PRAGMA analysis_limit` sampling was not enough to fix that choice, so this is a full
ANALYZE: 0.12 s at 10k patients, run by the scheduler at start-up and nightly, and after each import."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from tracker.services import use_case


@use_case("entry")
def refresh_planner_statistics(session: Session) -> bool:
    """ANALYZE on SQLite (True); nothing on PostgreSQL (False)."""
    if session.get_bind().dialect.name != "sqlite":
        return False
    session.connection().exec_driver_sql("ANALYZE")
    return True


@use_case("entry")
def purge_form_keys(session: Session, now: datetime, keep_days: int) -> int:
    """Forget one-time form keys older than `keep_days` (a retry comes within minutes); returns how many."""
    from tracker.models import FormSubmission

    gone = session.execute(delete(FormSubmission).where(FormSubmission.created_at < now - timedelta(days=keep_days)))
    return gone.rowcount
