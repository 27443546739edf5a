"""Signed-in sessions kept on the server, so signing out (or a password change, a deactivation, "end my other
sessions") ends a session for every copy of its cookie.

The cookie carries a random token; the `user_session` row keeps its sha256, the user, when it started, when it
was last seen, and when and why it ended. A session is open while it has not ended, has been seen within the idle
limit and is younger than the absolute limit (config: IDLE_TIMEOUT_MINUTES, SESSION_MAX_HOURS)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session, contains_eager

from tracker.clinical.settings_spec import DEFAULTS
from tracker.models import Setting, User, UserSession
from tracker.services import Actor, DomainError, use_case
from tracker.services.audit import record

# "Last seen" is written at most this often per session: a page costs no extra statement within a minute, and the
# idle limit is measured to the minute (as before, when the cookie carried the time).
TOUCH_INTERVAL = timedelta(minutes=1)

SIGNED_OUT, IDLE, TOO_LONG = "signed_out", "idle", "too_long"
PASSWORD_CHANGED, DEACTIVATED, ENDED_BY_USER = "password_changed", "deactivated", "ended_by_user"


@dataclass(frozen=True)
class Limits:
    idle: timedelta
    longest: timedelta

    @classmethod
    def from_config(cls, config) -> Limits:
        return cls(timedelta(minutes=config["IDLE_TIMEOUT_MINUTES"]), timedelta(hours=config["SESSION_MAX_HOURS"]))


def expiry(created_at: datetime, last_seen_at: datetime, now: datetime, limits: Limits) -> str | None:
    """TOO_LONG once older than the absolute limit (however active), IDLE once unseen for longer than the idle
    limit, else None. Example: idle 15 min, longest 12 h; started 08:00, last seen 09:00: open at 09:15, idle at
    09:15:01; seen every 10 min, too long at 20:00:01."""
    if now - created_at > limits.longest:
        return TOO_LONG
    if now - last_seen_at > limits.idle:
        return IDLE
    return None


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@use_case("session")
def start(session: Session, user: User, now: datetime) -> str:
    """A new session for `user`; returns the token for the cookie (only its hash is stored)."""
    token = secrets.token_urlsafe(32)
    session.add(UserSession(token_hash=hash_token(token), user_id=user.id, created_at=now, last_seen_at=now))
    return token


@dataclass(frozen=True)
class Found:
    """What a cookie's token opens: the user (None if refused), and why it was refused (None if open)."""

    user: User | None
    refused: str | None = None
    session_id: int | None = None


def resume(session: Session, token: str | None, user_id: str | None, now: datetime, limits: Limits) -> Found:
    """The user this cookie is signed in as, in one SELECT (session row and user together), or why not.

    An idle or too-old session is ended here, the first time it is refused. "Last seen" moves at most once a
    TOUCH_INTERVAL. Both writes go through a connection of their own and commit at once: committing the request's
    session would expire the user just loaded and cost a SELECT to reload it."""
    if not token:
        return Found(None, "missing")
    # The clinic's site scope rides along (tracker.policy.site_allows reads it on most pages): no statement more.
    scope = select(Setting.value).where(Setting.name == "site_scope").scalar_subquery()
    found = session.execute(
        select(UserSession, scope)
        .join(UserSession.user)
        .options(contains_eager(UserSession.user))
        .where(UserSession.token_hash == hash_token(token))
    ).first()
    row, site_scope = found if found is not None else (None, None)
    if row is None or str(row.user_id) != user_id:
        return Found(None, "missing")
    row.user.site_scope = int(site_scope) if site_scope is not None else DEFAULTS["site_scope"]
    if row.ended_at is not None:
        return Found(None, row.ended_reason)
    if not row.user.active:
        return Found(None, DEACTIVATED)
    reason = expiry(row.created_at, row.last_seen_at, now, limits)
    if reason:
        _write_aside(
            session,
            update(UserSession)
            .where(UserSession.id == row.id, UserSession.ended_at.is_(None))
            .values(ended_at=now, ended_reason=reason),
        )
        return Found(None, reason)
    if now - row.last_seen_at >= TOUCH_INTERVAL:
        _write_aside(session, update(UserSession).where(UserSession.id == row.id).values(last_seen_at=now))
    return Found(row.user, None, row.id)


def _write_aside(session: Session, statement) -> None:
    with Session(bind=session.get_bind()) as aside, aside.begin():  # commits at once, apart from the request's session
        aside.execute(statement)


@use_case("session")
def end(session: Session, session_id: int, now: datetime, reason: str) -> None:
    """End one session (signing out); ending an ended one changes nothing."""
    session.execute(
        update(UserSession)
        .where(UserSession.id == session_id, UserSession.ended_at.is_(None))
        .values(ended_at=now, ended_reason=reason)
    )


def end_all(session: Session, user_id: int, now: datetime, reason: str, keep: int | None = None) -> int:
    """End every open session of the user (but `keep`), without committing: part of the caller's change (a new
    password, a deactivation). Returns how many were open."""
    statement = update(UserSession).where(UserSession.user_id == user_id, UserSession.ended_at.is_(None))
    if keep is not None:
        statement = statement.where(UserSession.id != keep)
    return session.execute(statement.values(ended_at=now, ended_reason=reason)).rowcount


def open_sessions(session: Session, user_id: int, now: datetime, limits: Limits) -> list[UserSession]:
    """The user's sessions still open, newest first."""
    rows = session.scalars(
        select(UserSession)
        .where(
            UserSession.user_id == user_id,
            UserSession.ended_at.is_(None),
            UserSession.created_at >= now - limits.longest,
            UserSession.last_seen_at >= now - limits.idle,
        )
        .order_by(UserSession.created_at.desc(), UserSession.id.desc())
    )
    return list(rows)


@use_case("session")
def end_others(session: Session, actor: Actor, current_id: int, now: datetime) -> int:
    """ "Sign out my other sessions": every open session of the actor but this one; returns how many."""
    ended = end_all(session, actor.user_id, now, ENDED_BY_USER, keep=current_id)
    if ended:
        record(session, actor, "update", "user", actor.user_id, None, None, {"sessions": f"ended {ended} other"})
    return ended


@use_case("session")
def end_one(session: Session, actor: Actor, session_id: int, now: datetime) -> None:
    """End one of the actor's own sessions (another browser); someone else's is refused as not found."""
    row = session.get(UserSession, session_id)
    if row is None or row.user_id != actor.user_id:
        raise DomainError("That session was not found.")
    if row.ended_at is None:
        row.ended_at, row.ended_reason = now, ENDED_BY_USER
        record(session, actor, "update", "user", actor.user_id, None, None, {"sessions": "ended 1 other"})
