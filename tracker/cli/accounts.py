"""Staff accounts from the command line: create-user, reset-password (an administrator locked out, say)."""

from datetime import UTC, datetime

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from tracker.cli.common import SYSTEM, read_password
from tracker.extensions import db
from tracker.models import Location
from tracker.services import DomainError
from tracker.services.accounts import create_user, find_user, reset_password


@click.command("create-user")
@click.option("--email", required=True)
@click.option("--name", required=True)
@click.option("--role", required=True, type=click.Choice(["nurse", "coordinator", "physician", "admin"]))
@click.option("--location", default=None, help="Home location name")
@with_appcontext
def create_user_command(email, name, role, location):
    """Create a staff account; the password is read from a prompt or standard input."""
    location_id = None
    if location:
        location_id = db.session.scalar(select(Location.id).where(func.lower(Location.name) == location.lower()))
        if location_id is None:
            raise click.ClickException(f"No location named {location!r}.")
    try:
        user = create_user(db.session, SYSTEM, email, name, role, read_password(), location_id)
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"Created {user.role} {user.email}.")


@click.command("reset-password")
@click.option("--email", required=True)
@click.option(
    "--temporary", is_flag=True, help="A one-time password: the user must choose their own at the next sign-in."
)
@with_appcontext
def reset_password_command(email, temporary):
    """Set an account's password, read from a prompt or standard input (an administrator locked out, say).
    Their sessions are signed out and their sign-in counts cleared."""
    user = find_user(db.session, email)
    if user is None:
        raise click.ClickException(f"No account with the e-mail {email.strip()}.")
    try:
        reset_password(
            db.session,
            SYSTEM,
            user,
            datetime.now(UTC),
            current_app.extensions.get("sign_in_limits"),
            password=read_password(),
            must_change=temporary,
        )
    except DomainError as error:
        raise click.ClickException(error.message) from None
    click.echo(
        f"Password reset for {user.email}; their sessions are signed out."
        + (" They must choose their own at the next sign-in." if temporary else "")
    )
    if not user.active:
        click.echo("This account is deactivated: reactivate it on the Users page before it can sign in.")
