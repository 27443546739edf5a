"""The daily digest's use cases: build the day's outbox idempotently (each recipient's e-mail from
tracker.services.digest_contents), run what is due now (the scheduler's one call), and the runs' status."""

from __future__ import annotations

import logging
import os
import socket
from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker.models import (
    DigestRun,
    OutboxMessage,
)
from tracker.models.digest import QUEUED
from tracker.services import transaction
from tracker.services.digest_contents import DigestOptions, contents, missed_days, scheduler_health
from tracker.services.mailer import mailer_from_config, message_id_for
from tracker.services.sender import SendPolicy, SendReport, send_pending

log = logging.getLogger(__name__)
# Only to make two builders of the same day on PostgreSQL take turns; any constant unique to this use will do.
BUILD_LOCK_KEY = 0x17B_D16E57


def day_due(now: datetime, options: DigestOptions) -> date | None:
    """Today's clinic day once the send time has passed (so a late start still sends it); None before."""
    local = now.astimezone(ZoneInfo(options.tz))
    return local.date() if local.time() >= options.send_time else None


def _insert_ignoring_duplicates(session: Session, model, rows: list[dict]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING: a row another builder wrote first stays as it is."""
    if not rows:
        return
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    session.execute(insert(model).on_conflict_do_nothing(), rows)


def builder_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def build_outbox(session: Session, day: date, now: datetime, options: DigestOptions) -> DigestRun:
    """Write the day's run and one message per recipient, once: a second call (or process) changes nothing."""
    with transaction(session, "digest day"):  # committed alone: a second builder then finds the day's row
        _insert_ignoring_duplicates(
            session,
            DigestRun,
            [
                {
                    "digest_day": day,
                    "started_at": now,
                    "started_by": builder_name()[:120],
                    "recipients": 0,
                    "sent": 0,
                    "dead": 0,
                }
            ],
        )
    with transaction(session, "digest day"):
        if session.get_bind().dialect.name == "postgresql":
            # Builders of the same day take turns; the second then finds the outbox built. (SQLite's single writer
            # needs no lock: duplicates are dropped by the unique constraints either way.)
            session.execute(select(func.pg_advisory_xact_lock(BUILD_LOCK_KEY)))
        run = session.scalar(
            select(DigestRun).where(DigestRun.digest_day == day).execution_options(populate_existing=True)
        )
        if run.built_at is not None:
            return run
        rows = [
            {
                "digest_day": day,
                "user_id": user.id,
                "to_address": user.email,
                "subject": c.subject[:200],
                "text_body": c.text,
                "html_body": c.html,
                "message_id": message_id_for(day, user.id, options.mail_from),
                "status": QUEUED,
                "attempts": 0,
                "next_attempt_at": now,
                "last_error": "",
                "created_at": now,
            }
            for user, c in contents(session, day, now, options)
            if c is not None
        ]
        _insert_ignoring_duplicates(session, OutboxMessage, rows)
        recipients = session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.digest_day == day)
        )
        session.execute(
            update(DigestRun)
            .where(DigestRun.id == run.id, DigestRun.built_at.is_(None))
            .values(built_at=now, recipients=recipients)
            .execution_options(synchronize_session=False)
        )
    session.refresh(run)
    return run


@dataclass
class DueResult:
    day: date | None
    run: DigestRun | None
    report: SendReport | None
    smtp_configured: bool
    late_days: list[date] = field(default_factory=list)  # earlier days built now (TRACKER_DIGEST_SEND_MISSED_DAYS)


def run_due(session: Session, config, now: datetime, scheduler_state: str = "running", clock=None) -> DueResult:
    """The scheduler's job: build today's outbox once the send time has passed, then send whatever is due.
    Called at the send time, at start-up and every few minutes, so a missed morning goes out on return.
    A whole day with the app down is only noted in the admins' digest, unless TRACKER_DIGEST_SEND_MISSED_DAYS
    is on: then that day's digest is built (as that day's, with its own Message-IDs) before today's."""
    options = DigestOptions.from_config(config, scheduler_state)
    day = day_due(now, options)
    late = missed_days(session, day) if day and options.send_missed_days else []
    for missed in late:
        log.warning("the digest of %s was never built (the app was down all day); sending it late", missed)
        build_outbox(session, missed, now, options)
    run = build_outbox(session, day, now, options) if day else None
    return DueResult(day, run, send_now(session, config, clock), mailer_from_config(config) is not None, late)


def send_now(session: Session, config, clock=None, only_ids: list[int] | None = None) -> SendReport | None:
    """Send what is due; None (and nothing sent) when no SMTP server is configured."""
    mailer = mailer_from_config(config)
    if mailer is None:
        log.warning("TRACKER_SMTP_URL is not set: digest e-mails wait in the outbox")
        return None
    kwargs = {"now": clock} if clock else {}
    return send_pending(session, mailer, SendPolicy.from_config(config), only_ids=only_ids, **kwargs)


@dataclass(frozen=True)
class DigestStatus:
    runs: list[DigestRun]
    last_completed_day: date | None
    missed_days: tuple[date, ...] = ()  # recent days before today with no completed digest and not sent late


def last_completed_day(session: Session) -> date | None:
    return session.scalar(select(func.max(DigestRun.digest_day)).where(DigestRun.completed_at.is_not(None)))


def status(session: Session, limit: int = 30, today: date | None = None, tz: str | None = None) -> DigestStatus:
    """The last runs, newest first, for the admin page and the CLI; with `today`, also the recent gaps."""
    runs = list(session.scalars(select(DigestRun).order_by(DigestRun.digest_day.desc()).limit(limit)))
    gaps = ()
    if today is not None and tz is not None:
        gaps = scheduler_health(session, today, DigestOptions(tz, time(6, 30), "", "")).missed_days
    return DigestStatus(runs, last_completed_day(session), gaps)


def messages_for(session: Session, day: date) -> list[OutboxMessage]:
    return list(
        session.scalars(select(OutboxMessage).where(OutboxMessage.digest_day == day).order_by(OutboxMessage.to_address))
    )
