"""Writing an import (issue #9): all or nothing, in batches, with progress and the audit rows the forms write.

The plan comes from tracker.services.import_plan (planned again here, inside the transaction); new patients are
written in bulk by tracker.services.import_new, patients already here updated by tracker.services.import_update,
both with the row builders the forms use (tracker.clinical.row_values)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from tracker.clinical.import_columns import Issue
from tracker.clinical.import_rows import CheckedFile
from tracker.formats import plural
from tracker.imports.csv_file import Table
from tracker.models.types import utcnow
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied
from tracker.services.import_batch import BatchWriter
from tracker.services.import_new import create_patients
from tracker.services.import_plan import RowPlan, dry_run
from tracker.services.import_update import apply_update
from tracker.services.maintenance import refresh_planner_statistics
from tracker.services.settings import all_settings

BATCH = 2000  # rows written per flush, progress reported after each (500: ~15% slower on both databases)


class ImportRefused(DomainError):
    """The file has problems: nothing was written. `issues` lists every one."""

    def __init__(self, issues: list[Issue]):
        super().__init__(f"{plural(len(issues), 'problem')} in the file: nothing was imported.")
        self.issues = issues


class AcknowledgementNeeded(DomainError):
    """The last refills carry high-severity warnings nobody has said they read: nothing was written."""


@dataclass(frozen=True)
class Progress:
    phase: str  # check | write
    done: int
    total: int


@dataclass
class Summary:
    filename: str
    rows: int
    created: int
    updated: int
    unchanged: int
    booked: int
    due_unbooked: int  # implanted patients in the file already due for a refill with nothing booked
    seconds: float


class ImportRun(BatchWriter):
    """The all-or-nothing import. Iterate it for progress; `summary` is set once everything has committed.

    It plans again inside its own transaction against the patients here then (never trusting an earlier dry run's
    plan), refuses with ImportRefused if anything is wrong, and rolls back on any error: a partial import cannot
    happen. `checked`, the check page's lines checked on their own, spares checking every line again while it
    still holds (tracker.clinical.import_rows.still_holds); otherwise the lines are checked again."""

    def __init__(
        self,
        session: Session,
        actor: Actor,
        table: Table,
        mapping: dict[str, int | None],
        filename: str,
        today: date,
        now: datetime,
        batch: int | None = None,
        acknowledged: bool = False,
        checked: CheckedFile | None = None,
    ):
        super().__init__(session, actor, filename, now)
        self.table, self.mapping, self.today, self.batch = table, mapping, today, batch or BATCH
        self.acknowledged = acknowledged  # the high-severity refill warnings were read (as at the refill form)
        self.checked = checked
        self.summary: Summary | None = None

    def __iter__(self) -> Iterator[Progress]:
        if not allowed(self.actor.role, "patient.import"):
            raise PermissionDenied("Your role may not import patients.")
        started = utcnow()
        total = len(self.table.rows)
        yield Progress("check", 0, total)
        # The kept check and the plan are tens of thousands of long-lived objects: frozen, the cycle collector
        # stops walking them again at every full collection while the batches are built (unfrozen at the end).
        gc.freeze()
        try:
            dry = dry_run(self.session, self.actor, self.table, self.mapping, self.today, self.now, self.checked)
            gc.freeze()  # and the plan
            if not dry.ok:
                raise ImportRefused(dry.issues or [Issue(None, None, "", "There are no patients to import.")])
            if dry.needs_acknowledgement and not self.acknowledged:
                raise AcknowledgementNeeded(
                    "The last refills in this file carry high-severity warnings: tick the "
                    "box to say you have read them. Nothing was imported.",
                    "acknowledge",
                )
            yield Progress("check", total, total)
            self.settings = all_settings(self.session)
            done = 0
            plans = [p for p in dry.plans if p.action != "unchanged"]
            for start in range(0, len(plans), self.batch):
                batch = plans[start : start + self.batch]
                create_patients(self, [p for p in batch if p.action == "new"])
                for plan in (p for p in batch if p.action == "update"):
                    apply_update(self, plan)
                self.flush_audit()
                done += len(batch)
                yield Progress("write", done + dry.count("unchanged"), total)
            summary = Summary(
                self.filename,
                total,
                dry.count("new"),
                dry.count("update"),
                dry.count("unchanged"),
                sum(
                    1
                    for p in dry.plans
                    if p.row.next_refill_at is not None and (p.action == "new" or (p.update and p.update.book))
                ),
                sum(1 for p in dry.plans if _due_unbooked(p, self.today)),
                0.0,
            )
            if plans:  # a file with nothing new leaves no trace: nothing was imported
                self.record(
                    "create",
                    "patient_import",
                    None,
                    None,
                    None,
                    {
                        "file": self.filename,
                        "rows": total,
                        "created": summary.created,
                        "updated": summary.updated,
                        "unchanged": summary.unchanged,
                    },
                )
                self.flush_audit()
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        finally:
            gc.unfreeze()
        if plans:  # thousands of new rows: SQLite's planner would pick indexes on the old counts until tonight
            refresh_planner_statistics(self.session)
        summary.seconds = round((utcnow() - started).total_seconds(), 1)
        self.summary = summary
        yield Progress("write", total, total)


def _due_unbooked(plan: RowPlan, today: date) -> bool:
    """A pump already due for a refill after the import, with no booking in the file or the app."""
    booked = plan.row.next_refill_at is not None or (
        plan.existing and plan.existing.appointment and not (plan.update and plan.update.new_refill)
    )
    return plan.row.projection is not None and plan.row.projection.due_date <= today and not booked
