"""Staff accounts: argon2id password hashes, creation, deactivation, password change."""

import re
from datetime import datetime
from functools import cache
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.clinical.scales import ROLES
from tracker.models import Location, User
from tracker.services import Actor, ServiceError, sessions
from tracker.services.audit import record

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
        raise ServiceError(f"Use at least {MIN_PASSWORD_LENGTH} characters.", "password")
    if is_common_password(password):
        raise ServiceError("This password is too common or too easy to guess; choose another.", "password")


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
        user.password_hash = hash_password(password)
        session.commit()
    return user


def create_user(
    session: Session, actor: Actor, email: str, full_name: str, role: str, password: str,
    location_id: int | None = None,
) -> User:
    email = email.strip()
    if role not in ROLES:
        raise ServiceError(f"Unknown role {role!r}; choose one of {', '.join(ROLES)}.", "role")
    if find_user(session, email):
        raise ServiceError("A user with this e-mail already exists.", "email")
    if location_id is not None and session.get(Location, location_id) is None:
        raise ServiceError("Unknown location.", "location_id")
    check_password_strength(password)
    user = User(email=email, full_name=full_name.strip(), role=role, location_id=location_id,
                password_hash=hash_password(password))
    session.add(user)
    session.flush()
    record(session, actor, "create", "user", user.id, None,
           after={"email": email, "role": role, "location_id": location_id})
    session.commit()
    return user


def set_active(session: Session, actor: Actor, user: User, active: bool, now: datetime) -> None:
    if user.id == actor.user_id and not active:
        raise ServiceError("You cannot deactivate your own account.")
    before = {"active": user.active}
    user.active = active
    if not active:
        sessions.end_all(session, user.id, now, sessions.DEACTIVATED)
    record(session, actor, "update", "user", user.id, None, before, {"active": active})
    session.commit()


def change_password(session: Session, actor: Actor, user: User, current: str, new: str, now: datetime) -> None:
    """A new password ends every session of the user, this one too (a copy of its cookie may be why the password
    is changed); the caller signs this browser in again with a new session."""
    try:
        _hasher.verify(user.password_hash, current)
    except (VerifyMismatchError, InvalidHashError):
        raise ServiceError("The current password is not correct.", "current_password") from None
    check_password_strength(new)
    user.password_hash = hash_password(new)
    sessions.end_all(session, user.id, now, sessions.PASSWORD_CHANGED)
    record(session, actor, "update", "user", user.id, None, None, {"password": "changed"})  # nosec B105
    session.commit()
