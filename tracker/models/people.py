"""Clinic locations and staff accounts."""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, String, false, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.types import UTCDateTime, utcnow


class Location(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    kind: Mapped[str] = mapped_column(String(20))  # clinic | surgery_centre
    address: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    emergency_phone: Mapped[str] = mapped_column(String(40), default="")  # the clinic's 24-hour line (domain.md 5)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}

    def __str__(self) -> str:
        return self.name


class User(UserMixin, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254))
    full_name: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))  # nurse | coordinator | physician | admin
    location_id: Mapped[int | None] = mapped_column(ForeignKey("location.id"))
    active: Mapped[bool] = mapped_column(default=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    # Secret for the personal iCalendar feed; regenerating it revokes the old URL.
    calendar_token: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Set by an administrator's password reset: every page sends the user to change it until they have.
    must_change_password: Mapped[bool] = mapped_column(default=False, server_default=false())
    version: Mapped[int] = mapped_column(default=1, server_default="1")  # two administrators editing at once

    location: Mapped[Location | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("uq_user_email_lower", func.lower(email), unique=True),
        Index("uq_user_calendar_token", calendar_token, unique=True),
    )

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def __str__(self) -> str:
        return self.full_name


class UserSession(db.Model):
    """One signed-in browser: the cookie holds a random token, this row its hash. A session is open while
    ended_at is empty and it is neither idle nor too old (tracker.services.sessions decides)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of the cookie's token: a copy of this table opens no session.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)  # written at most once a minute
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # signed_out, idle, too_long, password_changed, deactivated, ended_by_user
    ended_reason: Mapped[str | None] = mapped_column(String(20))

    user: Mapped[User] = relationship()
