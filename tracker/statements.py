"""Counting the SQL statements an engine runs: the query-count tests and the benchmarks use it."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from sqlalchemy import event

T = TypeVar("T")


@contextmanager
def statements_run(engine) -> Iterator[list[str]]:
    """The SQL statements `engine` runs inside the block, in order: what the query-count tests and the benchmark
    count (a statement inside a loop shows as a count that grows with the data)."""
    seen: list[str] = []

    def count(conn, cursor, statement, *args):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", count)
