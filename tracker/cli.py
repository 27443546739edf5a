"""Every flask command, registered by `register(app)`: accounts and setup (create-user, reset-password, seed-demo,
first-run, backup), the background jobs (scheduler), the what-if calculator (refill-calc) and the daily e-mail
(`digest preview|send|status`, a group)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import shlex
import signal
import sys
import threading
from datetime import UTC, date, datetime

import click
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from flask import Flask, current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import SQLAlchemyError

from tracker.clinic_zone import clinic_zone_name, local_date
from tracker.clinical.errors import RefillInputError
from tracker.clinical.settings_spec import DEFAULT_ALARM_ML, DEFAULTS, STABILITY_DAYS
from tracker.clinical.what_if import calculate, usual_dose
from tracker.extensions import db
from tracker.models import Location, OutboxMessage, User
from tracker.models.types import utcnow
from tracker.services import Actor, DomainError
from tracker.services import digest as service
from tracker.services.accounts import create_user, find_user, reset_password
from tracker.services.mailer import mailer_from_config
from tracker.services.settings import all_settings

SYSTEM = Actor(user_id=None, role="admin", address="cli")
log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Add the commands to `flask --app wsgi`."""
    for command in (
        backup_command,
        create_user_command,
        reset_password_command,
        seed_demo_command,
        first_run_command,
        scheduler_command,
        refill_calc_command,
        digest,
    ):
        app.cli.add_command(command)


def _today() -> date:
    return local_date(datetime.now(UTC))


def _read_password() -> str:
    """From the terminal (asked twice, hidden) or one line of standard input; never from argv."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")


# Accounts and setup


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
        user = create_user(db.session, SYSTEM, email, name, role, _read_password(), location_id)
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
            password=_read_password(),
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
    count = seed_demo(db.session, patients, seed, _today(), staff_password)
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

        seed_demo(db.session, 120, 1, _today(), "demo-password-1234")
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


# Background jobs: one dedicated process


@click.command("scheduler")
@with_appcontext
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
    log.info(
        "scheduler process %s running: %s",
        os.getpid(),
        ", ".join(f"{job.id} (next {job.next_run_time:%Y-%m-%d %H:%M:%S %Z})" for job in scheduler.get_jobs()),
    )
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


# The what-if calculator


@click.command("refill-calc")
@click.option("--reservoir", "reservoir_ml", required=True, metavar="ML", help="Reservoir capacity (20 or 40 mL).")
@click.option(
    "--fill-volume", "fill_volume_ml", required=True, metavar="ML", help="Volume in the reservoir after the fill."
)
@click.option(
    "--concentration", "concentration_mcg_per_ml", required=True, metavar="MCG/ML", help="Usually 500, 1000 or 2000."
)
@click.option(
    "--previous-concentration",
    "previous_concentration_mcg_per_ml",
    default=None,
    metavar="MCG/ML",
    help="What the pump held before: a change needs a bridge bolus (a warning).",
)
@click.option(
    "--dose", "dose_mcg_per_day", default=None, metavar="MCG/DAY", help="Simple continuous daily dose (or --flex)."
)
@click.option(
    "--flex",
    "flex_schedule",
    default=None,
    metavar="STEPS",
    help='Flexible schedule (the import\'s format): steps "HH:MM mcg-per-hour" separated by ";", and '
    '"Sat Sun:" or "Mon-Fri:" before days with steps of their own. '
    'E.g. "00:00 8; 07:00 12; Sat Sun: 00:00 8".',
)
@click.option(
    "--bolus",
    "bolus_dose_mcg",
    default=None,
    metavar="MCG",
    help="Patient-activated bolus dose (with --max-boluses): every permitted bolus is counted.",
)
@click.option(
    "--max-boluses", "max_boluses_per_day", default=None, metavar="N", help="Maximum patient-activated boluses a day."
)
@click.option(
    "--alarm-volume",
    "alarm_volume_ml",
    default=str(DEFAULT_ALARM_ML.default),
    show_default=True,
    metavar="ML",
    help="Low-reservoir alarm volume.",
)
@click.option(
    "--buffer-days", default=None, metavar="DAYS", help="Days before the alarm.  [default: the clinic's safety buffer]"
)
@click.option(
    "--stability-days",
    default=str(STABILITY_DAYS.default),
    show_default=True,
    metavar="DAYS",
    help="Drug stability limit.",
)
@click.option("--fill-date", default=None, metavar="YYYY-MM-DD", help="[default: today in the clinic's time zone]")
@click.option(
    "--fill-time",
    default=None,
    metavar="HH:MM",
    help="The clinic's wall-clock time of the fill.  [default: midnight, as for a date alone]",
)
@with_appcontext
def refill_calc_command(buffer_days, fill_date, **given):
    """Project one refill (alarm, empty, stability and due dates) and print it as JSON, with its warnings."""
    try:
        settings = all_settings(db.session)
    except SQLAlchemyError:
        if buffer_days is None:
            raise click.ClickException(
                "Could not read the clinic's safety buffer from the database: pass --buffer-days."
            ) from None
        settings = DEFAULTS
    if buffer_days is None:
        buffer_days = settings["safety_buffer_days"]
    try:
        result = calculate(
            **given,
            buffer_days=buffer_days,
            fill_date=fill_date or _today(),
            tz=clinic_zone_name(),
            usual_dose_mcg=usual_dose(settings),
        )
    except RefillInputError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps(result, indent=2))


# The daily e-mail: flask digest preview|send|status

digest = AppGroup("digest", help="The daily reminder e-mail.")


def _day(value: str | None) -> date:
    if value is None:
        return _today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from None


def _options() -> service.DigestOptions:
    return service.DigestOptions.from_config(current_app.config, scheduler_state="cli")


@digest.command("preview")
@click.option("--user", "email", required=True, help="The recipient's e-mail address")
@click.option("--date", "day", default=None, help="Clinic day, YYYY-MM-DD (default: today)")
@click.option("--html", is_flag=True, help="Print the HTML part instead of the text part")
def preview_command(email, day, html):
    """Print one user's digest for a day; nothing is stored or sent."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user with the e-mail {email!r}.")
    found = service.contents(db.session, _day(day), utcnow(), _options(), [user.id])
    content = found[0][1] if found else None
    if content is None:
        click.echo("No e-mail: nothing is due and 'nothing due' e-mails are off (or the user is inactive).")
        return
    click.echo(f"Subject: {content.subject}\n")
    click.echo(content.html if html else content.text)


@digest.command("send")
@click.option("--date", "day", default=None, help="Clinic day, YYYY-MM-DD (default: today)")
@click.option("--dry-run", is_flag=True, help="Show who would get what; store and send nothing")
def send_command(day, dry_run):
    """Build the day's outbox (once; again is a no-op) and send what is waiting."""
    the_day, now = _day(day), utcnow()
    if dry_run:
        for user, content in service.contents(db.session, the_day, now, _options()):
            click.echo(f"{user.email:<40} {content.subject if content else '(no e-mail)'}")
        return
    run = service.build_outbox(db.session, the_day, now, _options())
    click.echo(f"{the_day}: outbox built for {run.recipients} recipients.")
    report = service.send_now(db.session, current_app.config)
    if report is None:
        raise click.ClickException("TRACKER_SMTP_URL is not set: the messages wait in the outbox.")
    click.echo(
        f"Sent {report.sent}, retrying later {report.retried}, dead {report.dead}"
        f"{f', re-queued {report.released} expired claims' if report.released else ''}."
    )


@digest.command("status")
def status_command():
    """The last runs, what is waiting and what is dead."""
    from tracker.jobs import scheduler_state

    config = current_app.config
    mailer = mailer_from_config(config)
    click.echo(f"SMTP: {mailer.settings.redacted() if mailer else 'not configured (TRACKER_SMTP_URL)'}")
    click.echo(
        f"Send time: {config['DIGEST_SEND_TIME']} {clinic_zone_name()}; "
        f"scheduler in this process: {scheduler_state(current_app)['state']}"
    )
    state = service.status(db.session, 30, _day(None), clinic_zone_name())
    click.echo(f"Last completed day: {state.last_completed_day or 'none'}")
    if state.missed_days:
        click.echo("Days with no completed digest: " + ", ".join(d.isoformat() for d in state.missed_days))
    for run in state.runs:
        done = f"completed {run.completed_at:%Y-%m-%d %H:%M} UTC" if run.completed_at else "open"
        click.echo(
            f"  {run.digest_day}  recipients {run.recipients:>3}  sent {run.sent:>3}  dead {run.dead:>3}  {done}"
        )
    waiting = db.session.execute(
        select(OutboxMessage.status, func.count())
        .where(OutboxMessage.status.in_(("queued", "sending", "dead")))
        .group_by(OutboxMessage.status)
    ).all()
    for status, n in waiting:
        click.echo(f"{status}: {n}")
