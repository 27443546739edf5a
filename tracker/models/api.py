"""Clients of the read-only FHIR API (a hospital's EHR, an integration engine): one bearer token each."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow

READ = "read"  # the only scope: the API has no write interaction


class ApiClient(db.Model):
    """A client an administrator created; its token is shown once and kept as its sha256 (as user sessions keep
    theirs), so a copy of this table calls nothing. Revoking keeps the row: the audit trail names it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scope: Mapped[str] = mapped_column(String(20), default=READ)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))

    @property
    def active(self) -> bool:
        return self.revoked_at is None
