"""Rows copied back instead of built again: the fixtures' per-test cost.

`world` (tests/support/factories.py) builds five sites, the pump and drug catalogues and four users through the
services, about a hundred statements, and over a thousand tests ask for it. Built once per process on an empty
database, its rows are kept here and put back with one multi-row INSERT per table whenever a test starts from an
empty database again (tests/conftest.py empties it after each test), keeping their ids; a column whose default is
computed (created_at = now) is computed again, so a copy looks as if it had just been built."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Table, insert, literal, select

from tracker.extensions import db


def non_empty(session, tables: list[Table] | None = None) -> list[Table]:
    """The tables that hold at least one row (all of them when `tables` is None), found in one statement."""
    tables = list(db.metadata.sorted_tables if tables is None else tables)
    found = session.execute(select(*[select(literal(1)).select_from(t).exists() for t in tables])).one()
    return [table for table, has_rows in zip(tables, found, strict=True) if has_rows]


@dataclass(frozen=True)
class Rows:
    """Every row of some tables, parents first."""

    url: str
    tables: dict[Table, list[dict]]

    @classmethod
    def take(cls, session) -> Rows:
        """The rows of every non-empty table."""
        return cls(
            str(session.get_bind().url),
            {table: [dict(row) for row in session.execute(select(table)).mappings()] for table in non_empty(session)},
        )

    def fits(self, session) -> bool:
        """The same database, with none of these tables holding a row yet (else a copied id could collide)."""
        return str(session.get_bind().url) == self.url and not non_empty(session, list(self.tables))

    def restore(self, session) -> None:
        """Insert the rows again, parents first, with their computed defaults computed afresh."""
        for table, rows in self.tables.items():
            fresh = {c.name: c.default.arg for c in table.columns if c.default is not None and c.default.is_callable}
            session.execute(insert(table), [row | {name: make(None) for name, make in fresh.items()} for row in rows])
