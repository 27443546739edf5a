"""FHIR API clients: administrators create one (its token shown once) and revoke it."""

from datetime import UTC, datetime

from flask import abort, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from tracker.admin import bp
from tracker.auth.permissions import actor, requires
from tracker.extensions import db
from tracker.services import DomainError
from tracker.services.api_clients import clients, create_client, revoke_client
from tracker.web.forms import render_form, show_error


class ApiClientForm(FlaskForm):
    name = StringField("Client name", validators=[DataRequired(), Length(max=120)])


@bp.route("/api-clients", methods=["GET", "POST"])
@requires("api_clients.manage")
def api_clients():
    """The clients, and the form that adds one; a new client's token is shown in this response only (never
    flashed or redirected to: the session cookie is signed, not encrypted)."""
    form = ApiClientForm()
    if form.validate_on_submit():
        try:
            client, token = create_client(db.session, actor(), form.name.data, datetime.now(UTC))
        except DomainError as error:
            show_error(form, error)
        else:
            return render_template("admin/api_client_token.html", client=client, token=token)
    return render_form("admin/api_clients.html", form=form, clients=clients(db.session), action_form=FlaskForm())


@bp.post("/api-clients/<int:client_id>/revoke")
@requires("api_clients.manage")
def revoke_api_client(client_id: int):
    if not FlaskForm().validate_on_submit():
        abort(400)
    try:
        client = revoke_client(db.session, actor(), client_id, datetime.now(UTC))
    except DomainError:
        abort(404)
    flash(f"{client.name}'s token no longer works.", "success")
    return redirect(url_for("admin.api_clients"))
