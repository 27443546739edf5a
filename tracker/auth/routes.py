"""Sign in, sign out, change password."""

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from tracker.auth.forms import LoginForm, PasswordForm
from tracker.extensions import db
from tracker.models import User
from tracker.services import ServiceError
from tracker.services.accounts import authenticate, change_password
from tracker.web import actor

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


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("patients.index"))
    form = LoginForm()
    if form.validate_on_submit():
        user = authenticate(db.session, form.email.data, form.password.data)
        if user:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        form.password.errors.append("The e-mail or password is not correct.")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    flash("You are signed out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/password", methods=["GET", "POST"])
@login_required
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
