"""Administration: staff accounts (settings, catalogues, e-mail and audit trail pages in sibling modules)."""

from datetime import UTC, datetime

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from tracker.admin import bp
from tracker.admin.forms import AccountForm, EditUserForm, UserForm
from tracker.auth.permissions import actor, requires
from tracker.extensions import db
from tracker.models import User
from tracker.services import DomainError, StaleEdit
from tracker.services.accounts import (
    create_user,
    locked_until,
    locked_users,
    reset_password,
    set_active,
    unlock,
    update_user,
)
from tracker.services.patient_queries import location_choices
from tracker.web.forms import not_saved, render_form, show_error

NO_LOCATION = [(None, "— none —")]


def sign_in_limits():
    """The app's sign-in limits (tracker.auth.throttle), or None where they are off."""
    return current_app.extensions.get("sign_in_limits")


@bp.get("/users")
@requires("users.manage")
def users():
    rows = db.session.scalars(select(User).options(joinedload(User.location)).order_by(User.full_name)).all()
    locked = locked_users(db.session, sign_in_limits(), datetime.now(UTC))
    return render_template("admin/users.html", users=rows, locked=locked, action_form=FlaskForm())


@bp.route("/users/new", methods=["GET", "POST"])
@requires("users.manage")
def new_user():
    form = UserForm()
    form.location_id.choices = NO_LOCATION + location_choices(db.session)
    if form.validate_on_submit():
        try:
            user = create_user(
                db.session,
                actor(),
                form.email.data,
                form.full_name.data,
                form.role.data,
                form.password.data,
                form.location_id.data,
            )
        except DomainError as error:
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            flash(f"Account created for {user.full_name}.", "success")
            return redirect(url_for("admin.users"))
    return render_form("admin/user_form.html", form=form)


def _account_form(user: User, **kwargs) -> EditUserForm:
    form = EditUserForm(
        data={
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role,
            "location_id": user.location_id,
            "version": str(user.version),
        },
        **kwargs,
    )
    form.location_id.choices = NO_LOCATION + location_choices(db.session)
    return form


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@requires("users.manage")
def edit_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    form = _account_form(user)
    yours = []
    if form.validate_on_submit():
        try:
            changed = update_user(db.session, actor(), user.id, int(form.version.data), form.values())
        except StaleEdit as error:
            fresh = _account_form(db.session.get(User, user_id, populate_existing=True), formdata=None)
            yours, form = not_saved(form, fresh, AccountForm.FIELDS), fresh
            flash(error.message, "error")
        except DomainError as error:
            show_error(form, error)
        else:
            flash(f"Saved {user.full_name}'s account." if changed else "Nothing changed.", "success")
            if user.id == actor().user_id and user.role != "admin":  # their own demotion: the users page is shut
                return redirect(url_for("home.today"))
            return redirect(url_for("admin.users"))
    return render_form(
        "admin/user_edit.html",
        form=form,
        user=user,
        yours=yours,
        action_form=FlaskForm(),
        locked_until=locked_until(sign_in_limits(), user, datetime.now(UTC)),
        stale=yours,
    )


@bp.post("/users/<int:user_id>/reset-password")
@requires("users.manage")
def reset_user_password(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        password = reset_password(db.session, actor(), user, datetime.now(UTC), sign_in_limits())
    except DomainError as error:
        flash(error.message, "error")
        return redirect(url_for("admin.edit_user", user_id=user.id))
    # Shown in this response only: never flashed (the session cookie is signed, not encrypted) nor redirected to.
    return render_template("admin/password_reset.html", user=user, password=password)


@bp.post("/users/<int:user_id>/unlock")
@requires("users.manage")
def unlock_user(user_id: int):
    user = db.session.get(User, user_id) or abort(404)
    if FlaskForm().validate_on_submit():
        try:
            unlock(db.session, actor(), user, sign_in_limits())
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(f"{user.full_name} can sign in again at once, from any browser.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/active")
@requires("users.manage")
def set_user_active(user_id: int):
    form = FlaskForm()
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    if form.validate_on_submit():
        try:
            set_active(db.session, actor(), user, request.form.get("active") == "1", datetime.now(UTC))
        except DomainError as error:
            flash(error.message, "error")
        else:
            flash(f"{user.full_name} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))
