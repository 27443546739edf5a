"""Setting up and keeping a clinic's database: first-run, seed-demo, backup."""

import secrets
import shlex
import sys

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url

from tracker.cli.common import SYSTEM, today
from tracker.extensions import db
from tracker.models import User
from tracker.services.accounts import create_user


@click.command("seed-demo")
@click.option("--patients", default=120, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option(
    "--staff-password",
    default="demo-password-1234",
    show_default=True,
    help="Password for the demo staff accounts (demo data only)",
)
@with_appcontext
def seed_demo_command(patients, seed, staff_password):
    """Add deterministic demo data: the five sites, demo staff and PATIENTS patients."""
    from tracker.demo import seed_demo

    if not current_app.config["DEMO_DATA_ALLOWED"]:
        raise click.ClickException("Demo data has known passwords; it is refused in production.")
    count = seed_demo(db.session, patients, seed, today(), staff_password)
    click.echo(f"Added {count} demo patients (seed {seed}).")


@click.command("first-run")
@click.option("--demo/--no-demo", default=True, show_default=True)
@with_appcontext
def first_run_command(demo):
    """On a database with no users: create an admin (password printed once) and demo data."""
    if db.session.scalar(select(func.count(User.id))):
        click.echo("Accounts exist already; nothing to do.")
        return
    if demo and not current_app.config["DEMO_DATA_ALLOWED"]:
        raise click.ClickException("Demo data has known passwords; it is refused in production (use --no-demo).")
    if demo:
        from tracker.demo import seed_demo

        seed_demo(db.session, 120, 1, today(), "demo-password-1234")
        click.echo(
            "Demo data: 5 sites, 120 patients; demo staff nurse1@demo.example, coordinator1@demo.example, "
            "physician1@demo.example (password demo-password-1234)."
        )
    password = secrets.token_urlsafe(12)
    create_user(db.session, SYSTEM, "admin@example.org", "Administrator", "admin", password)
    click.echo("=" * 60)
    click.echo("First admin: admin@example.org")
    click.echo(f"Password (shown once, change it after signing in): {password}")
    click.echo("=" * 60)


@click.command("backup")
@click.argument("path", type=click.Path(dir_okay=False))
@with_appcontext
def backup_command(path):
    """Copy the database to PATH. SQLite: VACUUM INTO, a consistent copy while the app runs.
    PostgreSQL: prints the pg_dump command to run instead and exits with status 2 (nothing is run)."""
    url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
    if url.get_backend_name() == "postgresql":
        target = URL.create(
            "postgresql", url.username, None, url.host, url.port, url.database, url.query
        ).render_as_string(hide_password=False)
        click.echo("PostgreSQL is backed up with its own tool; run (the password from PGPASSWORD or ~/.pgpass):")
        click.echo(f"  pg_dump --format=custom --file {shlex.quote(path)} {shlex.quote(target)}")
        click.echo(f"Restore into an empty database: pg_restore --dbname DATABASE_URL {shlex.quote(path)}")
        sys.exit(2)
    if url.get_backend_name() != "sqlite":
        raise click.ClickException(f"No backup method for {url.get_backend_name()}.")
    try:
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql("VACUUM INTO ?", (path,))
    except Exception as error:  # sqlite3's own errors: an existing file, a missing folder, a full disk
        raise click.ClickException(f"Backup failed: {getattr(error, 'orig', error)}") from None
    click.echo(
        f"Backed up to {path}. To restore: stop the app, copy it over the database file "
        "(removing any -wal and -shm files beside it), start the app."
    )
