"""Staff accounts: argon2id password hashes, creation, deactivation, password change."""

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.clinical.scales import ROLES
from tracker.models import Location, User
from tracker.services import Actor, ServiceError
from tracker.services.audit import record

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
MIN_PASSWORD_LENGTH = 12
# A dummy hash so unknown e-mails cost as much time as wrong passwords.
_DUMMY_HASH = _hasher.hash("not-a-real-password-for-timing")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password_strength(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ServiceError(f"Use at least {MIN_PASSWORD_LENGTH} characters.", "password")


def find_user(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == email.strip().lower()))


def authenticate(session: Session, email: str, password: str) -> User | None:
    """The active user with this e-mail and password, or None."""
    user = find_user(session, email)
    try:
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


def set_active(session: Session, actor: Actor, user: User, active: bool) -> None:
    if user.id == actor.user_id and not active:
        raise ServiceError("You cannot deactivate your own account.")
    before = {"active": user.active}
    user.active = active
    user.session_epoch += 1  # ends the user's open sessions
    record(session, actor, "update", "user", user.id, None, before, {"active": active})
    session.commit()


def change_password(session: Session, actor: Actor, user: User, current: str, new: str) -> None:
    try:
        _hasher.verify(user.password_hash, current)
    except (VerifyMismatchError, InvalidHashError):
        raise ServiceError("The current password is not correct.", "current_password") from None
    check_password_strength(new)
    user.password_hash = hash_password(new)
    user.session_epoch += 1  # other sessions end; the caller logs this one in again
    record(session, actor, "update", "user", user.id, None, None, {"password": "changed"})
    session.commit()
