"""Use cases: one function per thing a user does. Each takes a session and plain values,
asks tracker.clinical for the rules, writes in one transaction and raises domain errors."""

import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from tracker.clinical.errors import DomainError

T = TypeVar("T")


@dataclass(frozen=True)
class Actor:
    """Who is acting, for permission checks and the audit trail."""

    user_id: int | None
    role: str
    address: str | None = None
    api_client_id: int | None = None  # a FHIR API client (tracker.models.api), for the audit trail


class StaleEdit(DomainError):
    """Someone else saved this record after the form was opened."""


class PermissionDenied(DomainError):
    pass


class NeedsPhysician(PermissionDenied):
    """Only a physician may do this; the user can ask one instead (tracker.services.escalation)."""


def lock_row(session, table, row_id: int) -> None:
    """Take the row's write lock before checking what a form was opened against: a no-op UPDATE, so PostgreSQL
    makes a racing writer wait here (then it sees this commit) and SQLite starts its write transaction here (one
    writer at a time). Without it two posts both pass the check and both write."""
    table = getattr(table, "__table__", table)
    session.execute(update(table).where(table.c.id == row_id).values(id=table.c.id))


STALE = "Someone else saved this {what} after you opened the form. Their values are shown; nothing of yours was saved."
_OPEN = "tracker.use_case"  # session.info key: a use case is running on this session


@contextmanager
def transaction(session, what: str = "entry") -> Iterator[None]:
    """The one owner of a use case's transaction: commit when the block ends, roll back on any exception.
    A version clash (StaleDataError) or a row another request wrote first (IntegrityError) becomes StaleEdit.
    Inside another use case's block it only runs the block (still turning those errors into StaleEdit, so the
    caller can say what clashed): the outermost one commits or rolls back."""
    if session.info.get(_OPEN):
        try:
            yield
        except (StaleDataError, IntegrityError):
            raise StaleEdit(STALE.format(what=what)) from None
        return
    session.info[_OPEN] = True
    try:
        yield
        session.flush()
        session.commit()
    except (StaleDataError, IntegrityError):
        session.rollback()
        raise StaleEdit(STALE.format(what=what)) from None
    except BaseException:
        session.rollback()
        raise
    finally:
        session.info.pop(_OPEN, None)


@contextmanager
def thrown_away(session) -> Iterator[None]:
    """Run a block in full and roll all of it back (a dry run: would these rules let this through?). Use cases
    called inside it do not commit. Only outside a use case, whose writes it would throw away too."""
    if session.info.get(_OPEN):
        raise RuntimeError("a dry run inside a use case would roll the use case back")
    session.info[_OPEN] = True
    try:
        yield
    finally:
        session.info.pop(_OPEN, None)
        session.rollback()


def use_case(what: str = "entry") -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Decorate a service function whose first argument is the session: it runs in `transaction`."""

    def wrap(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def run(session, *args, **kwargs) -> T:
            with transaction(session, what):
                return function(session, *args, **kwargs)

        return run

    return wrap
