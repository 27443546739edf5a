"""One-time form submission keys: a double click, a retry or a second identical post stores once."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow


class FormSubmission(db.Model):
    """A form post's key, written in the same transaction as what the post saved: the primary key lets only one
    transaction hold it, so a second post of the same form (however close in time) finds it taken."""

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # purged after a while
    result_url: Mapped[str] = mapped_column(Text, default="")  # where the first post led: the second goes there too
