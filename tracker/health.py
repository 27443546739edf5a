"""/healthz: is the app up, the database reachable and today's e-mail delivered. No login, no patient data.

503 "degraded" when the database fails or today's reminder e-mail is late (tracker.services.digest_delivery):
a monitor pages someone while staff still work from the worklist."""

from flask import Blueprint, current_app
from sqlalchemy import text

from tracker.extensions import db
from tracker.jobs import scheduler_state
from tracker.models.types import utcnow
from tracker.services import digest_delivery
from tracker.services.digest import last_completed_day

bp = Blueprint("health", __name__)
APP_VERSION = "0.1.0"


@bp.get("/healthz")
def healthz():
    last_digest, digest = None, None
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
        day = last_completed_day(db.session)
        last_digest = day.isoformat() if day else None
        delivery = digest_delivery.today(db.session, current_app.config, utcnow())
        digest = {"day": delivery.day.isoformat(), "state": delivery.state, "reason": delivery.reason}
    except Exception as error:  # any failure here means "not healthy", reported, not raised
        database = f"error: {type(error).__name__}"
    healthy = database == "ok" and digest["state"] != digest_delivery.LATE
    return {
        "status": "ok" if healthy else "degraded",
        "database": database,
        "version": APP_VERSION,
        "scheduler": scheduler_state(current_app),
        "last_digest_day": last_digest,
        "digest": digest,
    }, 200 if healthy else 503
