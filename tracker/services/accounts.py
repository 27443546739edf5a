"""Staff accounts: argon2id password hashes, creation, editing, deactivation, password change and reset, and
unlocking an account the sign-in limits slow (tracker.auth.throttle)."""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from tracker.clinical.scales import ROLES
from tracker.models import Location, User
from tracker.services import Actor, DomainError, StaleEdit, sessions, transaction, use_case
from tracker.services.audit import record, snapshot

if TYPE_CHECKING:
    from tracker.auth.throttle import SignInLimits

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 12
# A dummy hash so unknown e-mails cost as much time as wrong passwords.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


@cache
def _common_passwords() -> frozenset[str]:
    """tracker/common_passwords.txt: often-used passwords and words, lower case, one a line."""
    text = (Path(__file__).resolve().parent.parent / "common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


_EDGES = re.compile(r"^[\W\d_]+|[\W\d_]+$")
_SEQUENCES = ("0123456789012345678901234567890", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm")


def is_common_password(password: str) -> bool:
    """A listed password, or one padded with digits and symbols ("Password1234!"), or a run ("aaaa...", "1234...")."""
    text = password.lower()
    squeezed = re.sub(r"[\W_]+", "", text)
    candidates = {text, squeezed, _EDGES.sub("", text), _EDGES.sub("", squeezed), re.sub(r"\d+", "", squeezed)}
    if candidates & _common_passwords():
        return True
    return len(set(text)) <= 3 or any(squeezed in run or squeezed in run[::-1] for run in _SEQUENCES)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DomainError(f"Use at least {MIN_PASSWORD_LENGTH} characters.", "password")
    if is_common_password(password):
        raise DomainError("This password is too common or too easy to guess; choose another.", "password")


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None (the same answer whatever was wrong). Repeated
    failures are slowed down before this is called (tracker.auth.throttle), not by locking the account."""
    user = find_user(session, email)
    try:
        # Verified even for an unknown e-mail, so the answer takes as long either way.
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerifyMismatchError, InvalidHashError):
        return None
    if user is None or not user.active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        with transaction(session, "account"):
            user.password_hash = hash_password(password)
    return user


def _check_account(session: Session, user_id: int | None, email: str, role: str, location_id: int | None) -> None:
    if role not in ROLES:
        raise DomainError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.", "role")
    other = find_user(session, email)
    if other is not None and other.id != user_id:
        raise DomainError("A user with this e-mail already exists.", "email")
    if location_id is not None and session.get(Location, location_id) is None:
        raise DomainError("Unknown location.", "location_id")


@use_case("account")
def create_user(
    session: Session,
    actor: Actor,
    email: str,
    full_name: str,
    role: str,
    password: str,
    location_id: int | None = None,
) -> User:
    email = email.strip()
    _check_account(session, None, email, role, location_id)
    check_password_strength(password)
    user = User(
        email=email,
        full_name=full_name.strip(),
        role=role,
        location_id=location_id,
        password_hash=hash_password(password),
    )
    session.add(user)
    session.flush()
    record(
        session,
        actor,
        "create",
        "user",
        user.id,
        None,
        after={"email": email, "role": role, "location_id": location_id},
    )
    return user


LAST_ADMIN = (
    "{name} is the last active administrator: make another user an administrator first, or nobody could "
    "manage accounts."
)


def _lock_account(session: Session, user_id: int, guard_admins: bool) -> User | None:
    """Take the account's write lock (and, when the change could leave no administrator, every active
    administrator's too, in the same statement), then read it afresh. On SQLite the no-op UPDATE starts the one
    write transaction; on PostgreSQL two administrators demoting each other at once are taken one after the other,
    the second then counting the first's change."""
    table = User.__table__
    condition = table.c.id == user_id
    if guard_admins:
        condition = or_(condition, and_(table.c.role == "admin", table.c.active.is_(True)))
    session.execute(update(table).where(condition).values(id=table.c.id))
    return session.get(User, user_id, populate_existing=True)


def _keep_an_admin(session: Session, user: User, role: str, active: bool) -> None:
    """Refuse a change that leaves no active administrator (the rule for both the edit form and deactivation)."""
    if user.role != "admin" or not user.active or (role == "admin" and active):
        return
    others = session.scalar(
        select(func.count()).select_from(User).where(User.role == "admin", User.active.is_(True), User.id != user.id)
    )
    if not others:
        raise DomainError(LAST_ADMIN.format(name=user.full_name), "role")


ACCOUNT_FIELDS = ["email", "full_name", "role", "location_id"]


@use_case("account")
def update_user(session: Session, actor: Actor, user_id: int, expected_version: int, values: dict) -> list[str]:
    """An administrator's edit of an account's e-mail, name, role and home clinic, as the form was opened against
    `expected_version`; returns the names of the fields changed (audited with their values before and after)."""
    clean = {
        "email": values["email"].strip(),
        "full_name": " ".join(values["full_name"].split()),
        "role": values["role"],
        "location_id": values["location_id"],
    }

    user = _lock_account(session, user_id, guard_admins=clean["role"] != "admin")
    if user is None:
        raise DomainError("No such user.")
    if user.version != expected_version:
        raise StaleEdit(
            "Someone else saved this account after you opened the form. Their values are shown "
            "below; nothing of yours was saved."
        )
    _check_account(session, user.id, clean["email"], clean["role"], clean["location_id"])
    _keep_an_admin(session, user, clean["role"], user.active)
    changed = [name for name in ACCOUNT_FIELDS if clean[name] != getattr(user, name)]
    before = snapshot(user, changed)
    for name in changed:
        setattr(user, name, clean[name])
    if changed:
        record(session, actor, "update", "user", user.id, None, before, snapshot(user, changed))
    return changed


@use_case("account")
def set_active(session: Session, actor: Actor, user: User, active: bool, now: datetime) -> None:
    if user.id == actor.user_id and not active:
        raise DomainError("You cannot deactivate your own account.")
    _lock_account(session, user.id, guard_admins=not active)
    _keep_an_admin(session, user, user.role, active)
    before = {"active": user.active}
    user.active = active
    if not active:
        sessions.end_all(session, user.id, now, sessions.DEACTIVATED)
    record(session, actor, "update", "user", user.id, None, before, {"active": active})


@use_case("account")
def change_password(session: Session, actor: Actor, user: User, current: str, new: str, now: datetime) -> None:
    """A new password ends every session of the user, this one too (a copy of its cookie may be why the password
    is changed); the caller signs this browser in again with a new session. It ends a change an administrator's
    reset asked for."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerifyMismatchError, InvalidHashError):
        raise DomainError("The current password is not correct.", "current_password") from None
    if new == current:
        raise DomainError("Choose a password different from the current one.", "password")
    check_password_strength(new)
    user.password_hash = hash_password(new)
    user.must_change_password = False
    sessions.end_all(session, user.id, now, sessions.PASSWORD_CHANGED)
    record(session, actor, "update", "user", user.id, None, None, {"password": "changed"})  # nosec B105


# Letters and digits that cannot be mistaken for one another when read aloud or from a screen (no 0 o 1 l i).
_ONE_TIME_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"


def one_time_password() -> str:
    """Four groups of four, e.g. "k7qm-x2ve-9hnd-ra4p": about 79 bits, told to the user in person or by phone."""
    return "-".join("".join(secrets.choice(_ONE_TIME_ALPHABET) for _ in range(4)) for _ in range(4))


def reset_password(
    session: Session,
    actor: Actor,
    user: User,
    now: datetime,
    limits: SignInLimits | None = None,
    password: str | None = None,
    must_change: bool = True,
) -> str:
    """Give the account a new password (a one-time one unless `password` is given) and return it, to be shown once.
    Every session of the user ends and their sign-in counts start afresh (the forgotten password is usually why
    they were slowed). With `must_change`, every page sends them to choose their own at the next sign-in. The
    trail records the reset, never the password."""
    if user.id == actor.user_id:
        raise DomainError("This is your own account: change your password on the Change password page.")
    if password is None:
        password = one_time_password()
    else:
        check_password_strength(password)
    with transaction(session, "account"):
        user.password_hash = hash_password(password)
        user.must_change_password = must_change
        ended = sessions.end_all(session, user.id, now, sessions.PASSWORD_CHANGED)
        done = {"password": "reset", "must_change_password": must_change, "sessions_ended": ended}  # nosec B105
        record(session, actor, "update", "user", user.id, None, None, done)
    if limits is not None:
        limits.unlock(user.email.lower())  # a store that cannot be reached is logged there; the reset stands
    return password


def _locked(limits: SignInLimits | None, users: list[tuple[int, str]], now: datetime) -> dict[int, datetime]:
    if limits is None:
        return {}
    ids = {email.lower(): user_id for user_id, email in users}
    found = limits.locked(list(ids), now.timestamp())
    return {ids[email]: datetime.fromtimestamp(until, UTC) for email, until in found.items()}


def locked_users(session: Session, limits: SignInLimits | None, now: datetime) -> dict[int, datetime]:
    """Active accounts the sign-in limits now slow (tracker.auth.throttle: some browser must wait before trying
    again), each with when that is forgotten unless unlocked or more wrong passwords come. One query. Nothing when
    the limits are off; `limits` is the app's `extensions.get("sign_in_limits")`."""
    users = session.execute(select(User.id, User.email).where(User.active.is_(True))).tuples().all()
    return _locked(limits, list(users), now)


def locked_until(limits: SignInLimits | None, user: User, now: datetime) -> datetime | None:
    """When this account's lock is forgotten, or None when it is not locked."""
    return _locked(limits, [(user.id, user.email)], now).get(user.id)


@use_case("account")
def unlock(session: Session, actor: Actor, user: User, limits: SignInLimits | None) -> None:
    """Start the account's sign-in counts afresh: the user signs in at once from any browser or address."""
    if limits is None:
        raise DomainError("Sign-in limits are off in this installation: no account is locked.")
    if not limits.unlock(user.email.lower()):
        raise DomainError("The sign-in counts cannot be reached just now; nothing was unlocked. Try again.")
    record(session, actor, "update", "user", user.id, None, None, {"sign_in": "unlocked"})
