"""Sending the outbox exactly once per (day, recipient), however many processes run the sender.

A sender claims a message with a conditional UPDATE (status queued -> sending) that only one transaction can
win; on PostgreSQL the candidate row is first locked FOR UPDATE SKIP LOCKED so competing senders pass over it
instead of queueing behind it. It then sends and marks the message sent. A claim that outlives the lease means
its sender died between claiming and marking: the message goes back to the queue and is sent again with the same
Message-ID (see the README for that remaining window).

A failed attempt is retried on a ladder that backs off over hours (1, 2, 5, 10, 20, 30, 60 minutes, then hourly:
TRACKER_DIGEST_RETRY_MINUTES) until the retry budget (TRACKER_DIGEST_RETRY_HOURS, 24 h) is spent; then, or at once
on a permanent 5xx refusal, the message is dead-lettered for an admin to see and resend. A day is complete only
when every message was delivered: a dead letter keeps it open, so /healthz and the banner keep saying so. A
message delivered after a failed attempt says so in its first line (clinical.digest.late_note)."""

from __future__ import annotations

import logging
import os
import smtplib
import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone
from tracker.clinical.digest import late_note
from tracker.digest_email import with_note
from tracker.models import DigestRun, OutboxMessage
from tracker.models.digest import DEAD, QUEUED, SENDING, SENT
from tracker.models.types import utcnow
from tracker.services import transaction, use_case
from tracker.services.mailer import SmtpMailer, compose, is_permanent

log = logging.getLogger(__name__)
CANDIDATES = 20  # SQLite: rows to try per query when other senders win some of them
RETRY_MINUTES = (1, 2, 5, 10, 20, 30, 60)


def parse_retry_minutes(value: str) -> tuple[int, ...]:
    """ "1,2,5,10,20,30,60" -> (1, 2, 5, 10, 20, 30, 60); refuses anything else so a typo cannot stop the retries."""
    try:
        ladder = tuple(int(part) for part in str(value).split(","))
    except ValueError:
        ladder = ()
    if not ladder or min(ladder) < 1:
        raise ValueError(f"TRACKER_DIGEST_RETRY_MINUTES must look like 1,2,5,10,20,30,60, not {value!r}")
    return ladder


@dataclass(frozen=True)
class SendPolicy:
    mail_from: str
    retry_minutes: tuple[int, ...] = RETRY_MINUTES  # the wait after each failed attempt; the last one repeats
    retry_hours: float = 24.0  # the budget: no attempt is planned later than this after the first failure
    lease_seconds: int = 600

    @classmethod
    def from_config(cls, config) -> SendPolicy:
        return cls(
            config["MAIL_FROM"],
            parse_retry_minutes(config["DIGEST_RETRY_MINUTES"]),
            float(config["DIGEST_RETRY_HOURS"]),
            int(config["DIGEST_CLAIM_LEASE_SECONDS"]),
        )

    def wait(self, attempt: int) -> int:
        """Minutes to wait after failed attempt number `attempt` (1, 2, ...)."""
        return self.retry_minutes[min(attempt, len(self.retry_minutes)) - 1]

    def retry_delay(self, attempts: int) -> timedelta | None:
        """The wait before the next attempt after `attempts` failed ones, or None when that attempt would fall
        beyond the budget. Counted on the plan, not the clock, so an admin's resend (attempts back to 0) gets
        the whole budget again. Defaults: the 7th retry comes 128 min after the first failure, then hourly; the
        last within 24 h is the 28th, at 23 h 8 min (128 + 21 x 60 = 1388 min)."""
        planned = sum(self.wait(n) for n in range(1, attempts + 1))
        if planned > self.retry_hours * 60:
            return None
        return timedelta(minutes=self.wait(attempts))


@dataclass
class SendReport:
    sent: int = 0
    retried: int = 0
    dead: int = 0
    released: int = 0  # expired claims put back in the queue
    next_retry_at: datetime | None = None  # the earliest message waiting for a later attempt


def worker_name() -> str:
    """Who holds a claim: host, process and a random part (two senders in one process differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@use_case("outbox message")
def release_expired_claims(session: Session, now: datetime, lease_seconds: int) -> int:
    """Claims older than the lease belong to a sender that stopped between claiming and marking."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.status == SENDING, OutboxMessage.claimed_at < now - timedelta(seconds=lease_seconds))
        .values(
            status=QUEUED,
            claimed_at=None,
            claimed_by=None,
            next_attempt_at=now,
            last_error="The sender stopped before recording the outcome; sending again with the same Message-ID.",
        )
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def claim_next(session: Session, worker: str, now: datetime, only_ids: list[int] | None = None) -> int | None:
    """Claim one due message for `worker` and commit; None when nothing is left to claim. Each claim is its own
    transaction, committed before the message is sent, so another sender sees it taken."""
    postgres = session.get_bind().dialect.name == "postgresql"
    while True:
        query = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == QUEUED, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.id)
            .limit(1 if postgres else CANDIDATES)
        )
        if only_ids is not None:
            query = query.where(OutboxMessage.id.in_(only_ids))
        if postgres:
            query = query.with_for_update(skip_locked=True)
        with transaction(session, "outbox message"):  # PostgreSQL's row lock holds until the claim is written
            candidates = list(session.scalars(query))
            claimed = next((c for c in candidates if _claim(session, c, worker, now)), None)
        if claimed is not None or not candidates:
            return claimed


def _claim(session: Session, message_id: int, worker: str, now: datetime) -> bool:
    """Take a queued message for `worker`; False when another sender took it first."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == QUEUED)
        .values(status=SENDING, claimed_at=now, claimed_by=worker, attempts=OutboxMessage.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


@use_case("outbox message")
def _finish(session: Session, message_id: int, worker: str, **values) -> bool:
    """Record the outcome, only if the claim is still ours (an expired claim may have been taken over)."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message_id, OutboxMessage.status == SENDING, OutboxMessage.claimed_by == worker)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def send_one(
    session: Session, mailer: SmtpMailer, policy: SendPolicy, message_id: int, worker: str, now: Callable[[], datetime]
) -> str:
    """Send a claimed message and record the outcome: sent, queued (retry) or dead."""
    with transaction(session, "outbox message"):  # ended before talking to the SMTP server: no transaction waits on it
        message = session.get(OutboxMessage, message_id, populate_existing=True)
        text, html = message.text_body, message.html_body
        if message.first_failed_at is not None:
            text, html = with_note(
                text, html, late_note(message.digest_day, message.first_failed_at.astimezone(clinic_zone()))
            )
        email = compose(
            message.to_address, policy.mail_from, message.subject, text, html, message.message_id, message.created_at
        )
        attempts, first_failed_at = message.attempts, message.first_failed_at
    try:
        mailer.send(email)  # returns once the server accepted DATA: delivered, whatever QUIT brings
    except (smtplib.SMTPException, OSError) as error:  # ssl and socket errors are OSErrors
        detail = f"{type(error).__name__}: {error}"[:1000]
        failed = {
            "last_error": detail,
            "claimed_by": None,
            "first_failed_at": first_failed_at or now(),
        }  # the claim is ours: nobody else writes it
        delay = None if is_permanent(error) else policy.retry_delay(attempts)
        if delay is None:
            log.warning("digest message %s dead after %s attempts: %s", message_id, attempts, detail)
            _finish(session, message_id, worker, status=DEAD, **failed)
            return DEAD
        _finish(session, message_id, worker, status=QUEUED, next_attempt_at=now() + delay, **failed)
        return QUEUED
    if not _finish(session, message_id, worker, status=SENT, sent_at=now(), last_error=""):
        log.warning("digest message %s was sent after its claim expired", message_id)
    return SENT


def send_pending(
    session: Session,
    mailer: SmtpMailer,
    policy: SendPolicy,
    now: Callable[[], datetime] = utcnow,
    only_ids: list[int] | None = None,
) -> SendReport:
    """Send every due message this process can claim, then close the days that are done."""
    worker = worker_name()
    report = SendReport(released=release_expired_claims(session, now(), policy.lease_seconds))
    while (message_id := claim_next(session, worker, now(), only_ids)) is not None:
        outcome = send_one(session, mailer, policy, message_id, worker, now)
        report.sent += outcome == SENT
        report.retried += outcome == QUEUED
        report.dead += outcome == DEAD
    finish_runs(session, now())
    with transaction(session, "outbox message"):
        report.next_retry_at = session.scalar(
            select(func.min(OutboxMessage.next_attempt_at)).where(OutboxMessage.status == QUEUED)
        )
    return report


@use_case("digest day")
def finish_runs(session: Session, now: datetime) -> None:
    """Update each open day's counts; a day is complete when every message was delivered (not when the last one
    was given up on: a dead letter is a reminder nobody got)."""
    open_days = list(
        session.scalars(
            select(DigestRun.digest_day).where(DigestRun.built_at.is_not(None), DigestRun.completed_at.is_(None))
        )
    )
    if not open_days:
        return
    tallies: dict = {}
    for day, status, n in session.execute(
        select(OutboxMessage.digest_day, OutboxMessage.status, func.count())
        .where(OutboxMessage.digest_day.in_(open_days))
        .group_by(OutboxMessage.digest_day, OutboxMessage.status)
    ):
        tallies.setdefault(day, {})[status] = n
    for day in open_days:
        counts = tallies.get(day, {})
        values = {"sent": counts.get(SENT, 0), "dead": counts.get(DEAD, 0)}
        if not counts.get(QUEUED) and not counts.get(SENDING) and not counts.get(DEAD):
            values["completed_at"] = now
        session.execute(
            update(DigestRun)
            .where(DigestRun.digest_day == day, DigestRun.completed_at.is_(None))
            .values(**values)
            .execution_options(synchronize_session=False)
        )


@use_case("outbox message")
def requeue_dead(session: Session, message_id: int, now: datetime) -> bool:
    """An admin's resend: a dead letter goes back to the queue with fresh attempts (the whole retry budget again);
    its day stays open until it is delivered (days completed before dead letters kept them open reopen)."""
    message = session.get(OutboxMessage, message_id)
    if message is None:
        return False
    won = (
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == message_id, OutboxMessage.status == DEAD)
            .values(status=QUEUED, attempts=0, next_attempt_at=now, claimed_at=None, claimed_by=None)
            .execution_options(synchronize_session=False)
        ).rowcount
        == 1
    )
    if won:
        session.execute(
            update(DigestRun)
            .where(DigestRun.digest_day == message.digest_day)
            .values(completed_at=None)
            .execution_options(synchronize_session=False)
        )
    return won
