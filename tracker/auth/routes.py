"""Sign in, sign out, change password."""

import time
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user

from tracker.auth.forms import LoginForm, PasswordForm
from tracker.extensions import db, limiter
from tracker.models import User
from tracker.services import ServiceError
from tracker.services.accounts import Lockout, authenticate, change_password
from tracker.web import actor, requires

bp = Blueprint("auth", __name__)


def load_user(session_id: str) -> User | None:
    """Sessions carry "id:epoch"; a password change or deactivation bumps the epoch and ends them."""
    user_id, _, epoch = session_id.partition(":")
    if not (user_id.isdigit() and epoch.isdigit()):
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.active or user.session_epoch != int(epoch):
        return None
    return user


def _safe_next(target: str | None) -> str:
    if target and target.startswith("/") and not target.startswith("//") and not urlsplit(target).netloc:
        return target
    return url_for("patients.index")


def start_session(user: User) -> None:
    """Sign the user in and start the clocks that end the session (tracker.web checks them)."""
    login_user(user)
    session["login_at"] = session["seen_at"] = time.time()


def end_session() -> None:
    logout_user()
    session.pop("login_at", None)
    session.pop("seen_at", None)


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(lambda: current_app.config["LOGIN_RATE_LIMIT"], methods=["POST"],
               exempt_when=lambda: not current_app.config["RATE_LIMITS"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("patients.index"))
    form = LoginForm()
    if form.validate_on_submit():
        lockout = Lockout(current_app.config["LOGIN_MAX_FAILURES"], current_app.config["LOCKOUT_MINUTES"])
        user = authenticate(db.session, form.email.data, form.password.data, datetime.now(UTC), lockout)
        if user:
            start_session(user)
            return redirect(_safe_next(request.args.get("next")))
        # The same words for a wrong password, an unknown e-mail and a locked account: none is confirmed.
        form.password.errors.append("The e-mail or password is not correct.")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
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
            change_password(db.session, actor(), user, form.current_password.data, form.password.data)
        except ServiceError as error:
            getattr(form, error.field or "password").errors.append(error.message)
        else:
            login_user(user)  # re-issue this session with the new epoch
            flash("Password changed. Your other sessions are signed out.", "success")
            return redirect(url_for("patients.index"))
    return render_template("auth/password.html", form=form)
