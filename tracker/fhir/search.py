"""FHIR date search parameters (`date=ge2026-07-01&date=le2026-07-31`) as a range of clinic-local days."""

from __future__ import annotations

from datetime import date, timedelta

from tracker.clinical.errors import DomainError

PREFIXES = ("eq", "ge", "gt", "le", "lt")
MAX_DAYS = 92  # a quarter at most per search: the API does not page


class BadSearch(DomainError):
    """A search parameter the API cannot answer (400, as an OperationOutcome)."""


def day_range(values: list[str]) -> tuple[date, date]:
    """[first day, day after the last) from `date` values, each a prefix (eq when none) and YYYY-MM-DD. Both ends
    must be bounded (ge/gt and le/lt, or eq) and at most MAX_DAYS apart."""
    if not values:
        raise BadSearch("Give a date range: date=geYYYY-MM-DD&date=leYYYY-MM-DD.", "date")
    start: date | None = None
    end: date | None = None
    for value in values:
        prefix, text = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
        try:
            day = date.fromisoformat(text)
        except ValueError:
            raise BadSearch(
                f"date: {value[:40]!r} is not a day (YYYY-MM-DD, after ge, gt, le, lt or eq).", "date"
            ) from None
        if len(text) != 10:
            raise BadSearch(f"date: {value[:40]!r} is not a day (YYYY-MM-DD).", "date")
        low = {"eq": day, "ge": day, "gt": day + timedelta(days=1)}.get(prefix)
        high = {"eq": day + timedelta(days=1), "le": day + timedelta(days=1), "lt": day}.get(prefix)
        start = max(start, low) if start and low else (low or start)
        end = min(end, high) if end and high else (high or end)
    if start is None or end is None:
        raise BadSearch("Give both ends of the date range (ge and le, or eq).", "date")
    if (end - start).days > MAX_DAYS:
        raise BadSearch(f"A search covers at most {MAX_DAYS} days.", "date")
    return start, max(start, end)
