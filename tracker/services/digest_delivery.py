"""Has today's reminder e-mail gone out? The one answer for /healthz, the banner on every signed-in page and the
admins' e-mail page.

Today's e-mail is late from the send time plus TRACKER_DIGEST_LATE_AFTER_MINUTES until every one of its messages
is delivered (a dead letter does not count as delivered). Nothing is late when no SMTP server is configured: the
clinic then chose no e-mail, and the admins' e-mail page says so."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone, local_date
from tracker.models import DigestRun, OutboxMessage
from tracker.models.digest import DEAD, SENT
from tracker.services.digest_contents import parse_send_time

OFF, NOT_DUE, DELIVERED, LATE = "off", "not due yet", "delivered", "late"
_ERROR = re.compile(r"^(\w+)(?:: \((\d{3}),)?")


@dataclass(frozen=True)
class Delivery:
    """Today's e-mail as a monitor or an admin needs it: counts and times, never an address or patient data."""

    day: date
    state: str  # off | not due yet | delivered | late
    late_from: datetime | None = None
    built: bool = False
    recipients: int = 0
    undelivered: int = 0
    dead: int = 0
    outage_since: datetime | None = None  # the first failed attempt of today's messages
    next_attempt_at: datetime | None = None
    error: str = ""  # the kind of the latest failure: "SMTPDataError 451", "ConnectionRefusedError"

    @property
    def reason(self) -> str:
        """Why today's e-mail is late, in one sentence (for /healthz and the admins' page)."""
        if self.state != LATE:
            return ""
        if not self.built:
            return f"today's digest ({self.day}) was not built after the send time: is the scheduler running?"
        reason = f"{self.undelivered} of {self.recipients} of today's e-mails not delivered"
        if self.outage_since:
            reason += f", failing since {self.outage_since:%H:%M} UTC"
        if self.error:
            reason += f" ({self.error})"
        if self.dead:
            reason += f"; {self.dead} given up (resend from /admin/digest)"
        elif self.next_attempt_at:
            reason += f"; next attempt {self.next_attempt_at:%H:%M} UTC"
        return reason


def late_from(config, now: datetime) -> tuple[date, datetime]:
    """Today's clinic day and the moment its e-mail is late if not all delivered."""
    day = local_date(now)
    send_at = datetime.combine(day, parse_send_time(config["DIGEST_SEND_TIME"]), clinic_zone())
    return day, send_at + timedelta(minutes=int(config["DIGEST_LATE_AFTER_MINUTES"]))


def error_kind(last_error: str) -> str:
    """ "SMTPDataError: (451, b'...')" -> "SMTPDataError 451": the failure's kind, without the addresses that some
    errors quote (SMTPRecipientsRefused lists them)."""
    match = _ERROR.match(last_error or "")
    return " ".join(part for part in match.groups() if part) if match else ""


def today(session: Session, config, now: datetime) -> Delivery:
    """Today's e-mail delivery in full (three small reads of today's rows)."""
    if not config.get("SMTP_URL"):
        return Delivery(local_date(now), OFF)
    day, late_at = late_from(config, now)
    run = session.scalar(select(DigestRun).where(DigestRun.digest_day == day, DigestRun.built_at.is_not(None)))
    if run is None:
        return Delivery(day, LATE if now >= late_at else NOT_DUE, late_at)
    counts = dict(
        session.execute(
            select(OutboxMessage.status, func.count())
            .where(OutboxMessage.digest_day == day)
            .group_by(OutboxMessage.status)
        ).all()
    )
    waiting = session.execute(
        select(func.min(OutboxMessage.first_failed_at), func.min(OutboxMessage.next_attempt_at)).where(
            OutboxMessage.digest_day == day, OutboxMessage.status != SENT
        )
    ).one()
    latest_error = session.scalar(
        select(OutboxMessage.last_error)
        .where(
            OutboxMessage.digest_day == day, OutboxMessage.status != SENT, OutboxMessage.first_failed_at.is_not(None)
        )
        .order_by(OutboxMessage.first_failed_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )
    recipients = sum(counts.values())
    undelivered = recipients - counts.get(SENT, 0)
    state = DELIVERED if not undelivered else LATE if now >= late_at else NOT_DUE
    return Delivery(
        day,
        state,
        late_at,
        True,
        recipients,
        undelivered,
        counts.get(DEAD, 0),
        waiting[0],
        waiting[1] if undelivered > counts.get(DEAD, 0) else None,
        error_kind(latest_error or ""),
    )


def _banner_statement():
    """Today's run (if built) and this user's message status, in one statement."""
    day = bindparam("day")
    mine = (
        select(OutboxMessage.status)
        .where(OutboxMessage.digest_day == day, OutboxMessage.user_id == bindparam("user_id"))
        .scalar_subquery()
    )
    return select(DigestRun.completed_at, mine).where(DigestRun.digest_day == day, DigestRun.built_at.is_not(None))


def banner_due(session: Session, config, user_id: int, sees_all: bool, now: datetime) -> bool:
    """Whether a signed-in page shows "Today's reminder e-mail has not gone out": after the late moment, while
    today's digest is not built, or while this user's message (every message, for admins) is not delivered.
    One indexed read, and none at all before the late moment or without SMTP."""
    if not config.get("SMTP_URL"):
        return False
    day, late_at = late_from(config, now)
    if now < late_at:
        return False
    row = session.execute(_banner_statement(), {"day": day, "user_id": user_id}).first()
    if row is None:
        return True  # not built: nobody got today's e-mail
    completed_at, status = row
    if sees_all:
        return completed_at is None
    return status is not None and status != SENT  # no message (nothing due, "nothing due" e-mails off): no banner
