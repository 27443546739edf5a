"""The daily reminder e-mail on the command line: `flask digest preview|send|status`."""

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup
from sqlalchemy import func, select

from tracker.cli.common import today
from tracker.clinic_zone import clinic_zone_name
from tracker.extensions import db
from tracker.models import OutboxMessage, User
from tracker.models.types import utcnow
from tracker.services import digest
from tracker.services.mailer import mailer_from_config

digest_group = AppGroup("digest", help="The daily reminder e-mail.")


def _day(value: str | None) -> date:
    if value is None:
        return today()
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter("use YYYY-MM-DD", param_hint="--date") from None


def _options() -> digest.DigestOptions:
    return digest.DigestOptions.from_config(current_app.config, scheduler_state="cli")


@digest_group.command("preview")
@click.option("--user", "email", required=True, help="The recipient's e-mail address")
@click.option("--date", "day", default=None, help="Clinic day, YYYY-MM-DD (default: today)")
@click.option("--html", is_flag=True, help="Print the HTML part instead of the text part")
def preview_command(email, day, html):
    """Print one user's digest for a day; nothing is stored or sent."""
    user = db.session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"No user with the e-mail {email!r}.")
    found = digest.contents(db.session, _day(day), utcnow(), _options(), [user.id])
    content = found[0][1] if found else None
    if content is None:
        click.echo("No e-mail: nothing is due and 'nothing due' e-mails are off (or the user is inactive).")
        return
    click.echo(f"Subject: {content.subject}\n")
    click.echo(content.html if html else content.text)


@digest_group.command("send")
@click.option("--date", "day", default=None, help="Clinic day, YYYY-MM-DD (default: today)")
@click.option("--dry-run", is_flag=True, help="Show who would get what; store and send nothing")
def send_command(day, dry_run):
    """Build the day's outbox (once; again is a no-op) and send what is waiting."""
    the_day, now = _day(day), utcnow()
    if dry_run:
        for user, content in digest.contents(db.session, the_day, now, _options()):
            click.echo(f"{user.email:<40} {content.subject if content else '(no e-mail)'}")
        return
    run = digest.build_outbox(db.session, the_day, now, _options())
    click.echo(f"{the_day}: outbox built for {run.recipients} recipients.")
    report = digest.send_now(db.session, current_app.config)
    if report is None:
        raise click.ClickException("TRACKER_SMTP_URL is not set: the messages wait in the outbox.")
    click.echo(
        f"Sent {report.sent}, retrying later {report.retried}, dead {report.dead}"
        f"{f', re-queued {report.released} expired claims' if report.released else ''}."
    )


@digest_group.command("status")
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
    state = digest.status(db.session, 30, _day(None), clinic_zone_name())
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
