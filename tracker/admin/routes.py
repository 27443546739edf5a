"""Administration: staff accounts (settings, catalogues, e-mail and audit trail pages in sibling modules)."""

from datetime import UTC, datetime

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_wtf import FlaskForm
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from tracker.admin.forms import UserForm
from tracker.extensions import db
from tracker.models import User
from tracker.patients.queries import location_choices
from tracker.services import ServiceError
from tracker.services.accounts import create_user, set_active
from tracker.web import actor, requires

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.get("/users")
@requires("users.manage")
def users():
    rows = db.session.scalars(select(User).options(joinedload(User.location)).order_by(User.full_name)).all()
    return render_template("admin/users.html", users=rows, action_form=FlaskForm())


@bp.route("/users/new", methods=["GET", "POST"])
@requires("users.manage")
def new_user():
    form = UserForm()
    form.location_id.choices = [(None, "— none —")] + location_choices(db.session)
    if form.validate_on_submit():
        try:
            user = create_user(db.session, actor(), form.email.data, form.full_name.data, form.role.data,
                               form.password.data, form.location_id.data)
        except ServiceError as error:
            db.session.rollback()
            getattr(form, error.field or "email").errors.append(error.message)
        else:
            flash(f"Account created for {user.full_name}.", "success")
            return redirect(url_for("admin.users"))
    return render_template("admin/user_form.html", form=form), 200 if request.method == "GET" else 422


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
        except ServiceError as error:
            db.session.rollback()
            flash(error.message, "error")
        else:
            flash(f"{user.full_name} is now {'active' if user.active else 'deactivated'}.", "success")
    return redirect(url_for("admin.users"))

from tracker.admin import audit, catalogue, digest  # noqa: E402,F401  (register routes on bp)
