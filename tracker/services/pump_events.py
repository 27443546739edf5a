"""Device events (domain.md 7): record an MRI or a catheter event on the patient's pump, record the work it opened
as done, and read a patient's events for the timeline. The rules are tracker.clinical.pump_events'."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session, joinedload

from tracker.clinic_zone import local_date, start_of_day
from tracker.clinical import pump_events
from tracker.clinical.errors import checked_text
from tracker.formats import fmt_date
from tracker.models import PumpEvent
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, use_case
from tracker.services.audit import record, snapshot
from tracker.services.refills import current_pump, recompute_schedule
from tracker.services.settings import all_settings, event_rules

EVENT_FIELDS = ["pump_id", "kind", "occurred_at", "notes", "volume_removed_ml", "empties_pump", "work", "work_due_on"]
DONE_FIELDS = ["done_at", "done_by_id", "done_note"]


@dataclass(frozen=True)
class EventEntry:
    kind: str | None  # None: not chosen (nothing is pre-selected)
    occurred_at: datetime
    notes: str = ""
    volume_removed_ml: Decimal | None = None


@use_case("pump event")
def record_event(
    session: Session, actor: Actor, patient_id: int, expected_pump_id: int | None, entry: EventEntry, now: datetime
) -> PumpEvent:
    """Save the event on the patient's pump in use, with what it means (pump_events.consequence): a pump emptied
    before an MRI has its schedule recomputed from empty in the same transaction; work falls due per the settings."""
    if not allowed(actor.role, "pump_event.record"):
        raise PermissionDenied("Your role may not record device events.")
    pump = current_pump(session, patient_id)
    if pump is None:
        raise DomainError("This patient has no pump in use.")
    if expected_pump_id is not None and pump.id != expected_pump_id:
        raise StaleEdit(
            "The patient's pump changed after you opened this form (a replacement was recorded); "
            "nothing was saved. Check the pump, then record the event again."
        )
    if entry.kind not in pump_events.KINDS:
        raise DomainError("Choose what happened.", "kind")
    if entry.occurred_at > now:
        raise DomainError("The event cannot be in the future; record it once it has happened.", "occurred_at")
    if entry.occurred_at < start_of_day(pump.implanted_on):
        raise DomainError(
            f"The event cannot be before this pump was implanted ({fmt_date(pump.implanted_on)}).", "occurred_at"
        )
    volume = entry.volume_removed_ml
    if volume is not None and not 0 <= volume <= pump.reservoir_ml:
        raise DomainError(
            f"Enter a volume from 0 to the {pump.reservoir_ml.normalize():f} mL reservoir.", "volume_removed_ml"
        )
    notes = checked_text(entry.notes, "notes")
    duplicate = session.scalar(
        select(PumpEvent.id).where(
            PumpEvent.pump_id == pump.id, PumpEvent.kind == entry.kind, PumpEvent.occurred_at == entry.occurred_at
        )
    )
    if duplicate is not None:  # a second click, or the same form saved in another tab
        raise StaleEdit("This event is already recorded (same pump, kind and time); nothing was saved.")
    settings = all_settings(session)
    try:
        consequence = pump_events.consequence(
            entry.kind, pump.model.mri_rule, local_date(entry.occurred_at), event_rules(settings)
        )
    except pump_events.UnknownMriRule:
        raise DomainError(
            f"The pump catalogue does not say what an MRI means for a {pump.model.name}: an "
            "administrator chooses it on the catalogue page first.",
            "kind",
        ) from None
    event = PumpEvent(
        pump_id=pump.id,
        patient_id=patient_id,
        kind=entry.kind,
        occurred_at=entry.occurred_at,
        notes=notes,
        volume_removed_ml=volume,
        empties_pump=consequence.empties_pump,
        work=consequence.work,
        work_due_on=consequence.work_due_on,
        recorded_by_id=actor.user_id,
    )
    session.add(event)
    session.flush()
    if consequence.empties_pump:
        recompute_schedule(session, pump, settings)
    record(session, actor, "create", "pump_event", event.id, patient_id, None, snapshot(event, EVENT_FIELDS))
    return event


@use_case("pump event")
def record_done(
    session: Session,
    actor: Actor,
    patient_id: int,
    event_id: int,
    work: str,
    note: str,
    expected_version: int,
    now: datetime,
) -> PumpEvent:
    """Record an event's open work done, once: a post-MRI pump check by a nurse or physician, a catheter event's
    review by a physician."""
    event = session.get(PumpEvent, event_id)
    if event is None or event.patient_id != patient_id or event.work != work:
        raise DomainError("No such check or review for this patient.")
    permission = "pump_event.review" if work in pump_events.DONE_BY_PHYSICIAN else "pump_event.record"
    if not allowed(actor.role, permission):
        raise PermissionDenied(
            f"Only a physician records the {pump_events.WORK_LABELS[work].lower()} done."
            if work in pump_events.DONE_BY_PHYSICIAN
            else "Your role may not record this check."
        )
    if event.done_at is not None or event.version != expected_version:
        raise StaleEdit(
            f"{pump_events.WORK_LABELS[work]} was already recorded done"
            + (f" by {event.done_by.full_name}" if event.done_by else "")
            + "; nothing was saved."
        )
    note = checked_text(note, "note", "Say what was found (for example: pump interrogated, motor running).")
    before = snapshot(event, DONE_FIELDS)
    event.done_at, event.done_by_id, event.done_note = now, actor.user_id, note
    session.flush()
    record(session, actor, "update", "pump_event", event.id, patient_id, before, snapshot(event, DONE_FIELDS))
    return event


def patient_events(session: Session, patient_id: int) -> list[PumpEvent]:
    """The patient's device events, newest first, with who recorded them and who did their work (one query)."""
    return list(
        session.scalars(
            select(PumpEvent)
            .where(PumpEvent.patient_id == patient_id)
            .options(joinedload(PumpEvent.recorded_by), joinedload(PumpEvent.done_by))
            .order_by(PumpEvent.occurred_at.desc(), PumpEvent.id.desc())
        )
    )


def event_for_done(session: Session, patient_id: int, event_id: int, work: str) -> PumpEvent | None:
    """The event whose work the done form records, if it belongs to the patient and opened that work."""
    event = session.get(PumpEvent, event_id)
    return event if event is not None and event.patient_id == patient_id and event.work == work else None
