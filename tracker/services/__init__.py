"""Use cases: one function per thing a user does. Each takes a session and plain values,
asks tracker.clinical for the rules, writes in one transaction and raises domain errors."""

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.orm.exc import StaleDataError

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who is acting, for permission checks and the audit trail."""

    user_id: int | None
    role: str
    address: str | None = None


class ServiceError(ValueError):
    """A refusal the user can act on; `field` names the form field to show it beside."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field


class StaleEdit(ServiceError):
    """Someone else saved this record after the form was opened."""


class PermissionDenied(ServiceError):
    pass


class NeedsPhysician(PermissionDenied):
    """Only a physician may do this; the user can ask one instead (tracker.services.escalation)."""


def lock_row(session, table, row_id: int) -> None:
    """Take the row's write lock before checking what a form was opened against: a no-op UPDATE, so PostgreSQL
    makes a racing writer wait here (then it sees this commit) and SQLite starts its write transaction here (one
    writer at a time). Without it two posts both pass the check and both write."""
    table = getattr(table, "__table__", table)
    session.execute(update(table).where(table.c.id == row_id).values(id=table.c.id))


def in_one_transaction(session, work: Callable[[], T], what: str = "entry") -> T:
    """Run the change and commit it; on any error nothing is written. A version clash at the flush (someone saved
    `what` after the form was opened) becomes StaleEdit."""
    try:
        result = work()
        session.flush()
    except StaleDataError:
        session.rollback()
        raise StaleEdit(
            f"Someone else saved this {what} after you opened the form. Their values are shown; "
            "nothing of yours was saved."
        ) from None
    except Exception:
        session.rollback()
        raise
    session.commit()
    return result
