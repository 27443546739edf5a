"""Sign in, sign out, change password, see and end one's own sessions."""

from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from tracker.auth import bp, known_browser
from tracker.auth.browser_session import end_session, start_session
from tracker.auth.forms import LoginForm, PasswordForm
from tracker.auth.permissions import actor, requires
from tracker.auth.throttle import Attempt
from tracker.extensions import db
from tracker.services import DomainError, sessions
from tracker.services.accounts import authenticate, change_password

WRONG_LOGIN = "The e-mail or password is not correct."


# What a user whose password an administrator reset may still open before choosing their own.
WHILE_PASSWORD_DUE = frozenset({"auth.password", "auth.logout", "static"})


@bp.before_app_request
def _password_change_due():
    """After an administrator's reset, every page but the password form (and signing out) sends the user there.
    Reads the user already loaded for the request: no statement more."""
    if request.endpoint in WHILE_PASSWORD_DUE or "_user_id" not in session:
        return None
    if current_user.is_authenticated and current_user.must_change_password:
        return redirect(url_for("auth.password"))
    return None


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("home.today")


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("home.today"))
    form = LoginForm()
    if not form.validate_on_submit():
        return render_template("auth/login.html", form=form)
    app, email = current_app._get_current_object(), form.email.data.strip().lower()
    browser = known_browser.read(app, request)
    attempt = Attempt(email, request.remote_addr or "", browser.id, known_browser.knows(app, browser, email))
    limits, now = app.extensions.get("sign_in_limits"), datetime.now(UTC).timestamp()
    wait = limits.wait(attempt, now) if limits else 0
    if wait:
        form.password.errors.append(f"Too many failed sign-ins. Wait {wait} seconds, then try again.")
        return render_template("auth/login.html", form=form), 429, {"Retry-After": str(wait)}
    user = authenticate(db.session, email, form.password.data)
    if user is None:
        if limits:
            limits.failed(attempt, now)
        # The same words for a wrong password and an unknown e-mail: neither is confirmed.
        form.password.errors.append(WRONG_LOGIN)
        return render_template("auth/login.html", form=form)
    if limits:
        limits.succeeded(attempt, now)
    start_session(user)
    response = redirect(_safe_next(request.args.get("next")))
    known_browser.remember(app, response, browser, email)
    return response


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        sessions.end(db.session, g.session_id, datetime.now(UTC), sessions.SIGNED_OUT)
        end_session()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@requires("account.own")
def password():
    form = PasswordForm()
    if form.validate_on_submit():
        # The real User, not the current_user proxy: login_user() stores what it is given as the
        # request's user, and a proxy that points at itself recurses on the next access.
        user = current_user._get_current_object()
        try:
            change_password(
                db.session, actor(), user, form.current_password.data, form.password.data, datetime.now(UTC)
            )
        except DomainError as error:
            getattr(form, error.field or "password").errors.append(error.message)
        else:
            start_session(user)  # every session ended, this one too: this browser starts a new one
            flash("Password changed. Your other sessions are signed out.", "success")
            return redirect(url_for("home.today"))
    return render_template("auth/password.html", form=form, forced=current_user.must_change_password)


@bp.get("/account/sessions")
@requires("account.own")
def sessions_page():
    rows = sessions.open_sessions(
        db.session, current_user.id, datetime.now(UTC), sessions.Limits.from_config(current_app.config)
    )
    return render_template("auth/sessions.html", rows=rows, current_id=g.session_id, form=FlaskForm())


@bp.post("/account/sessions/end-others")
@requires("account.own")
def end_other_sessions():
    if FlaskForm().validate_on_submit():
        ended = sessions.end_others(db.session, actor(), g.session_id, datetime.now(UTC))
        flash(f"Signed out {ended} other session{'' if ended == 1 else 's'}.", "success")
    return redirect(url_for("auth.sessions_page"))


@bp.post("/account/sessions/<int:session_id>/end")
@requires("account.own")
def end_one_session(session_id: int):
    if FlaskForm().validate_on_submit():
        try:
            sessions.end_one(db.session, actor(), session_id, datetime.now(UTC))
        except DomainError:
            abort(404)
        flash("That session is signed out.", "success")
    return redirect(url_for("auth.sessions_page"))
