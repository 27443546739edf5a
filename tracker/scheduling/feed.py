"""The personal calendar feed: making its secret address, and the iCal file calendar apps fetch with it."""

from datetime import UTC, datetime

from flask import Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from tracker.auth.permissions import actor, requires
from tracker.clinic_zone import clinic_today
from tracker.extensions import db
from tracker.models import User
from tracker.scheduling import bp
from tracker.services.calendar import feed_events, feed_locations, ical_feed, regenerate_token


@bp.route("/account/calendar", methods=["GET", "POST"])
@requires("patient.view")
def my_feed():
    if request.method == "POST":  # CSRFProtect has checked the token
        replacing = bool(current_user.calendar_token)
        regenerate_token(db.session, actor(), current_user)
        flash(
            "New calendar address made; the old one no longer works."
            if replacing
            else "Calendar address made: copy it into your calendar app.",
            "success",
        )
        return redirect(url_for("calendar.my_feed"))
    url = (
        url_for("calendar.feed", token=current_user.calendar_token, _external=True)
        if current_user.calendar_token
        else None
    )
    return render_template("calendar/feed.html", url=url)


@bp.get("/calendar/feed/<token>.ics")
def feed(token: str):
    """The personal feed: the secret token is the credential (calendar apps cannot log in)."""
    user = db.session.scalar(select(User).where(User.calendar_token == token)) if len(token) >= 32 else None
    if user is None or not user.active:
        abort(404)
    events = feed_events(db.session, clinic_today(), datetime.now(UTC), feed_locations(user))
    body = ical_feed(events, request.host_url.rstrip("/"), datetime.now(UTC))
    return Response(body, mimetype="text/calendar", headers={"Cache-Control": "private, max-age=300"})
