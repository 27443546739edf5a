"""The import's writing primitives: bulk rows with their ids read back, and audit rows kept for one multi-row
insert a batch. tracker.services.import_write's ImportRun is one; the modules that build new and updated patients'
rows (import_new, import_update) take it as this type, so neither imports the run that calls them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from tracker.clinical.import_cells import PatientRow
from tracker.models import AuditEvent
from tracker.models.types import utcnow
from tracker.services import Actor


class BatchWriter:
    """Who writes, from which file, at what time; and the rows and audit entries of the batch being written."""

    def __init__(self, session: Session, actor: Actor, filename: str, now: datetime):
        self.session, self.actor, self.filename, self.now = session, actor, filename, now
        self._audit: list[dict] = []

    # audit and bulk rows --------------------------------------------------------------------------------------

    def record(
        self,
        action: str,
        entity: str,
        entity_id: int | None,
        patient_id: int | None,
        before: dict | None,
        after: dict | None,
    ) -> None:
        self._audit.append(
            {
                "at": utcnow(),
                "user_id": self.actor.user_id,
                "client_address": self.actor.address,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "patient_id": patient_id,
                "before": before,
                "after": after,
            }
        )

    def flush_audit(self) -> None:
        """The batch's audit rows in one multi-row insert (the ORM would add them one object at a time)."""
        self.session.flush()
        if self._audit:
            self.add_rows(AuditEvent, self._audit)
            self._audit = []

    def note(self, row: PatientRow) -> str:
        return f"Imported from {self.filename}, line {row.line}"

    def insert(self, model, rows: list[dict], key: tuple[str, ...]) -> list[int]:
        """Many rows in one executemany, then their ids read back in the rows' order, matched on `key`: columns
        whose values are unique among `rows` and name no older row (a new patient's MRN, a new pump's id).
        INSERT ... RETURNING would cost more on both databases: SQLite writes one row a statement when the ids
        must come back in order, and psycopg parses every multi-row statement's thousands of placeholders."""
        if not rows:
            return []
        table = model.__table__
        self.add_rows(model, rows)
        first = table.c[key[0]]
        found = self.session.execute(
            select(table.c.id, *(table.c[name] for name in key)).where(first.in_({row[key[0]] for row in rows}))
        )
        ids = {tuple(values): row_id for row_id, *values in found}
        return [ids[tuple(row[name] for name in key)] for row in rows]

    def add_rows(self, model, rows: list[dict]) -> None:
        """`rows` (each with the same columns) in one executemany straight to the driver: the columns' Python-side
        defaults filled in per row and every value through its column type's own bind processor, as SQLAlchemy's
        executemany does; its per-row parameter building cost more than the driver's own work. On PostgreSQL the
        rows go by COPY."""
        if not rows:
            return
        connection = self.session.connection()
        dialect = connection.dialect
        table, names = model.__table__, list(rows[0])
        compiled = insert(table).compile(dialect=dialect, column_keys=names)
        defaults = [(column.key, column.default) for column in compiled.insert_prefetch]
        if any(default is None or not (default.is_scalar or default.is_callable) for _, default in defaults):
            self.session.execute(insert(table), rows)  # a default SQLAlchemy computes otherwise
            return
        processors = {column.key: column.type.dialect_impl(dialect).bind_processor(dialect) for column in table.c}
        order = compiled.positiontup if compiled.positional else [*names, *(key for key, _ in defaults)]
        convert = [(key, processors[key]) for key in order]
        parameters = []
        for row in rows:
            if defaults:
                row = row | {key: default.arg if default.is_scalar else default.arg(None) for key, default in defaults}
            parameters.append(tuple([process(row[key]) if process else row[key] for key, process in convert]))
        if dialect.driver == "psycopg":
            # COPY: psycopg's executemany adapts and sends each row as its own statement (~45 us a row).
            quote = dialect.identifier_preparer.quote
            columns = ", ".join(quote(table.c[key].name) for key in order)
            with (
                connection.connection.cursor() as cursor,
                cursor.copy(f"COPY {quote(table.name)} ({columns}) FROM STDIN") as copy,
            ):
                for values in parameters:
                    copy.write_row(values)
            return
        if not compiled.positional:
            parameters = [dict(zip(order, values, strict=True)) for values in parameters]
        connection.exec_driver_sql(compiled.string, parameters)
