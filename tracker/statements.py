"""Statements built once per thread and reused, with every value a bound parameter.

Building a statement (and SQLAlchemy working out its cache key) often costs more than running it. But a statement
fills in parts of itself lazily (column collections, memoized attributes, ORM adaptation) the first time it is
compiled, and threads compiling one shared construct at once can race there: shared ORM aliases once left a
gunicorn worker compiling the calendar's query without its table aliases, failing every request until a restart
(tracker/services/worklist.py). So each thread builds and keeps its own (a few threads per process, a handful of
shapes each)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import TypeVar

from sqlalchemy import event

T = TypeVar("T")


def per_thread(builder: Callable[..., T]) -> Callable[..., T]:
    """Memoize `builder(*shape)` per thread; `shape` is a few booleans and names, so the cache stays small."""
    local = threading.local()

    @wraps(builder)
    def cached(*shape) -> T:
        built = local.__dict__.setdefault("built", {})
        if shape not in built:
            built[shape] = builder(*shape)
        return built[shape]

    return cached


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
