"""This browser's session: signing in and out, the user a cookie's server-side session resumes
(tracker.services.sessions), and signing out a browser whose session ended elsewhere (idle, too long, password
changed, ended from another session)."""

from datetime import UTC, datetime

from flask import Flask, current_app, flash, g, redirect, request, session, url_for
from flask_login import current_user, login_user, logout_user

from tracker.extensions import db
from tracker.models import User
from tracker.services import sessions

SESSION_ENDED = {
    "idle": "You were signed out after a period of inactivity.",
    "too_long": "You were signed out after the longest session allowed.",
    "password_changed": "Your password was changed, so this session was signed out.",  # nosec B105: a message
    "ended_by_user": "This session was signed out from another of your sessions.",
}


def load_user(user_id: str) -> User | None:
    """The user of this cookie's server-side session, if it is still open (tracker.services.sessions)."""
    found = sessions.resume(
        db.session, session.get("sid"), user_id, datetime.now(UTC), sessions.Limits.from_config(current_app.config)
    )
    g.session_refused, g.session_id = found.refused, found.session_id
    return found.user


def start_session(user: User) -> None:
    """Sign in with a new session: nothing from the cookie before sign-in survives (its CSRF token included),
    so a token or cookie planted beforehand is worth nothing afterwards."""
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF keeps the request's token here; the next form gets a new one
    session["sid"] = sessions.start(db.session, user, datetime.now(UTC))
    login_user(user)


def end_session() -> None:
    """Forget the session in this browser (the caller ends its server-side record first, where it has one)."""
    logout_user()
    session.clear()


def register(app: Flask) -> None:
    """Sign out, before any view, a browser whose server-side session has ended."""

    @app.before_request
    def _sign_out_ended_sessions():
        """A cookie whose server-side session is no longer open (tracker.services.sessions) signs this browser
        out, with a word why, and asks for a new sign-in. Loading the user here, before any view, also keeps the
        session's "last seen" write ahead of the view's own transaction."""
        if request.endpoint == "static" or "_user_id" not in session or current_user.is_authenticated:
            return None
        end_session()
        flash(SESSION_ENDED.get(g.get("session_refused"), "Your session has ended.") + " Please sign in again.", "info")
        if request.endpoint in ("auth.login", "auth.logout"):
            return redirect(url_for("auth.login"))
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))
