"""/healthz: is the app up and the database reachable. No login, no patient data."""

from flask import Blueprint
from sqlalchemy import text

from tracker.extensions import db

bp = Blueprint("health", __name__)
APP_VERSION = "0.1.0"


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as error:  # any failure here means "not healthy", reported, not raised
        database = f"error: {type(error).__name__}"
    status = 200 if database == "ok" else 503
    return {"status": "ok" if status == 200 else "degraded", "database": database, "version": APP_VERSION}, status
