"""Flask commands: create-user, reset-password, seed-demo, first-run, backup, scheduler."""

import logging
import os
import secrets
import shlex
import signal
import sys
import threading
from datetime import UTC, datetime

import click
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from flask import Flask, current_app
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url

from tracker.clinic_zone import local_date
from tracker.digest_cli import register as register_digest
from tracker.extensions import db
from tracker.models import Location, User
from tracker.services import Actor, ServiceError
from tracker.services.accounts import create_user, find_user, reset_password

SYSTEM = Actor(user_id=None, role="admin", address="cli")
log = logging.getLogger(__name__)


def _today():
    return local_date(datetime.now(UTC))


def _read_password() -> str:
    """From the terminal (asked twice, hidden) or one line of standard input; never from argv."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


def register(app: Flask) -> None:
    register_digest(app)

    @app.cli.command("backup")
    @click.argument("path", type=click.Path(dir_okay=False))
    def backup_command(path):
        """Copy the database to PATH. SQLite: VACUUM INTO, a consistent copy while the app runs.
        PostgreSQL: prints the pg_dump command to run instead and exits with status 2 (nothing is run)."""
        url = make_url(current_app.config["SQLALCHEMY_DATABASE_URI"])
        if url.get_backend_name() == "postgresql":
            target = URL.create("postgresql", url.username, None, url.host, url.port, url.database,
                                url.query).render_as_string(hide_password=False)
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
        click.echo(f"Backed up to {path}. To restore: stop the app, copy it over the database file "
                   "(removing any -wal and -shm files beside it), start the app.")

    @app.cli.command("create-user")
    @click.option("--email", required=True)
    @click.option("--name", required=True)
    @click.option("--role", required=True, type=click.Choice(["nurse", "coordinator", "physician", "admin"]))
    @click.option("--location", default=None, help="Home location name")
    def create_user_command(email, name, role, location):
        """Create a staff account; the password is read from a prompt or standard input."""
        location_id = None
        if location:
            location_id = db.session.scalar(select(Location.id).where(func.lower(Location.name) == location.lower()))
            if location_id is None:
                raise click.ClickException(f"No location named {location!r}.")
        try:
            user = create_user(db.session, SYSTEM, email, name, role, _read_password(), location_id)
        except ServiceError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"Created {user.role} {user.email}.")

    @app.cli.command("reset-password")
    @click.option("--email", required=True)
    @click.option("--temporary", is_flag=True,
                  help="A one-time password: the user must choose their own at the next sign-in.")
    def reset_password_command(email, temporary):
        """Set an account's password, read from a prompt or standard input (an administrator locked out, say).
        Their sessions are signed out and their sign-in counts cleared."""
        user = find_user(db.session, email)
        if user is None:
            raise click.ClickException(f"No account with the e-mail {email.strip()}.")
        try:
            reset_password(db.session, SYSTEM, user, datetime.now(UTC), current_app.extensions.get("sign_in_limits"),
                           password=_read_password(), must_change=temporary)
        except ServiceError as error:
            raise click.ClickException(error.message) from None
        click.echo(f"Password reset for {user.email}; their sessions are signed out."
                   + (" They must choose their own at the next sign-in." if temporary else ""))
        if not user.active:
            click.echo("This account is deactivated: reactivate it on the Users page before it can sign in.")

    @app.cli.command("seed-demo")
    @click.option("--patients", default=120, show_default=True)
    @click.option("--seed", default=1, show_default=True)
    @click.option("--staff-password", default="demo-password-1234", show_default=True,
                  help="Password for the demo staff accounts (demo data only)")
    def seed_demo_command(patients, seed, staff_password):
        """Add deterministic demo data: the five sites, demo staff and PATIENTS patients."""
        from tracker.demo import seed_demo

        if not current_app.config["DEMO_DATA_ALLOWED"]:
            raise click.ClickException("Demo data has known passwords; it is refused in production.")
        count = seed_demo(db.session, patients, seed, _today(), staff_password)
        click.echo(f"Added {count} demo patients (seed {seed}).")

    @app.cli.command("first-run")
    @click.option("--demo/--no-demo", default=True, show_default=True)
    def first_run_command(demo):
        """On a database with no users: create an admin (password printed once) and demo data."""
        if db.session.scalar(select(func.count(User.id))):
            click.echo("Accounts exist already; nothing to do.")
            return
        if demo and not current_app.config["DEMO_DATA_ALLOWED"]:
            raise click.ClickException("Demo data has known passwords; it is refused in production (use --no-demo).")
        if demo:
            from tracker.demo import seed_demo

            seed_demo(db.session, 120, 1, _today(), "demo-password-1234")
            click.echo("Demo data: 5 sites, 120 patients; demo staff nurse1@demo.example, coordinator1@demo.example, "
                       "physician1@demo.example (password demo-password-1234).")
        password = secrets.token_urlsafe(12)
        create_user(db.session, SYSTEM, "admin@example.org", "Administrator", "admin", password)
        click.echo("=" * 60)
        click.echo("First admin: admin@example.org")
        click.echo(f"Password (shown once, change it after signing in): {password}")
        click.echo("=" * 60)

    @app.cli.command("scheduler")
    def scheduler_command():
        """Run the background jobs (daily e-mail, retries, nightly housekeeping) in this process until SIGTERM or
        Ctrl-C. Production runs one such process beside web workers started with TRACKER_SCHEDULER off; a second
        one by mistake sends nothing twice (the database keeps every e-mail once)."""
        from tracker import jobs

        problems = jobs.configuration_problems(current_app)
        if problems:
            raise click.ClickException("The scheduler cannot start: " + "; ".join(problems) + ".")
        if not current_app.config["SMTP_URL"]:
            log.warning("TRACKER_SMTP_URL is empty: each day's digest is built and waits in the outbox, unsent")
        stop, received = threading.Event(), []

        def on_signal(number, _frame):  # only a flag: the main thread logs and stops
            received.append(signal.Signals(number).name)
            stop.set()

        for number in (signal.SIGTERM, signal.SIGINT):
            signal.signal(number, on_signal)
        scheduler = jobs.start_scheduler(current_app._get_current_object())
        scheduler.add_listener(_log_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
        log.info("scheduler process %s running: %s", os.getpid(), ", ".join(
            f"{job.id} (next {job.next_run_time:%Y-%m-%d %H:%M:%S %Z})" for job in scheduler.get_jobs()))
        while not stop.wait(1):
            if not scheduler.running:
                raise click.ClickException("The scheduler stopped by itself; see the log above.")
        log.info("scheduler process %s: %s received, stopping after the running job", os.getpid(), received[0])
        jobs.shutdown_scheduler()
        db.engine.dispose()
        log.info("scheduler process %s stopped", os.getpid())


def _log_job_event(event) -> None:
    """One line per job run: its id and outcome (the jobs log their own details, never patient data)."""
    if event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
    elif event.exception is not None:
        log.error("job %s failed: %s", event.job_id, type(event.exception).__name__)
    else:
        log.info("job %s ran", event.job_id)
