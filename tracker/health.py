"""/healthz: is the app up, the database reachable and the daily e-mail running. No login, no patient data."""

from flask import Blueprint, current_app
from sqlalchemy import text

from tracker.extensions import db
from tracker.jobs import scheduler_state
from tracker.services.digest import last_completed_day

bp = Blueprint("health", __name__)
APP_VERSION = "0.1.0"


@bp.get("/healthz")
def healthz():
    last_digest = None
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
        day = last_completed_day(db.session)
        last_digest = day.isoformat() if day else None
    except Exception as error:  # any failure here means "not healthy", reported, not raised
        database = f"error: {type(error).__name__}"
    status = 200 if database == "ok" else 503
    return {"status": "ok" if status == 200 else "degraded", "database": database, "version": APP_VERSION,
            "scheduler": scheduler_state(current_app), "last_digest_day": last_digest}, status
