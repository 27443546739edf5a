"""The daily reminder e-mail: one run per clinic day and an outbox of one message per (day, recipient).

The unique constraints are the exactly-once guarantee: however many processes build the same day, the
database keeps one run and one message per recipient; a sender must win a conditional update to send one."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.people import User
from tracker.models.types import UTCDateTime, utcnow

QUEUED = "queued"
SENDING = "sending"
SENT = "sent"
DEAD = "dead"
STATUSES = (QUEUED, SENDING, SENT, DEAD)


class DigestRun(db.Model):
    """One clinic day's digest: built once (outbox written), completed when every message is delivered (a dead
    letter leaves the day open: nobody got that reminder)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_day: Mapped[date] = mapped_column(unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_by: Mapped[str] = mapped_column(String(120), default="")  # host:pid of the builder
    built_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    recipients: Mapped[int] = mapped_column(default=0)
    sent: Mapped[int] = mapped_column(default=0)
    dead: Mapped[int] = mapped_column(default=0)


class OutboxMessage(db.Model):
    """One recipient's digest for one day, written whole at build time and sent as is (retries included)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    digest_day: Mapped[date] = mapped_column(ForeignKey("digest_run.digest_day"))
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    to_address: Mapped[str] = mapped_column(String(254))
    subject: Mapped[str] = mapped_column(String(200))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str] = mapped_column(Text)
    # Stable per (day, recipient): a re-send after a crash carries the same Message-ID.
    message_id: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The first refused or failed attempt: when the outage began, for the "sent late" line and /healthz.
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User] = relationship()

    __table_args__ = (
        UniqueConstraint("digest_day", "user_id"),
        Index("ix_outbox_message_status_next", "status", "next_attempt_at"),
    )
