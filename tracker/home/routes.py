"""Today: each role's home page. The data comes from tracker.services.home; the view only picks the role's page."""

from datetime import UTC, datetime

from flask import current_app, render_template
from flask_login import current_user

from tracker.auth.permissions import own_clinic_only, requires
from tracker.clinic_zone import clinic_today
from tracker.extensions import db
from tracker.home import bp
from tracker.jobs import scheduler_state
from tracker.models.requests import KINDS
from tracker.services import home
from tracker.services.bookings import CONTACT_METHODS, CONTACT_OUTCOMES
from tracker.services.settings import risk_windows
from tracker.services.worklist import REASON_LABELS


def _nurse(today, now):
    return home.nurse_home(
        db.session, current_user.id, current_user.location_id, own_clinic_only(), today, now, risk_windows(db.session)
    )


def _coordinator(today, now):
    # own_clinic_only() is the home clinic whenever the settings narrow the coordinator's view at all.
    return home.coordinator_home(
        db.session, current_user.id, own_clinic_only() or current_user.location_id, today, now, risk_windows(db.session)
    )


def _physician(today, now):
    return home.physician_home(db.session, today, now, risk_windows(db.session))


def _admin(today, now):
    return home.admin_home(
        db.session, current_app.config, now, scheduler_state(current_app), current_app.extensions.get("sign_in_limits")
    )


PAGES = {"nurse": _nurse, "coordinator": _coordinator, "physician": _physician, "admin": _admin}


@bp.get("/")
@requires("patient.view")
def today():
    day, now = clinic_today(), datetime.now(UTC)
    role = current_user.role
    return render_template(
        f"home/{role}.html",
        home=PAGES[role](day, now),
        today=day,
        rows=home.HOME_ROWS,
        answered_days=home.ANSWERED_DAYS,
        labels=REASON_LABELS,
        kinds=KINDS,
        outcomes=CONTACT_OUTCOMES,
        methods=CONTACT_METHODS,
    )
