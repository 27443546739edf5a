"""The audit trail in words: "Dose: 300 → 330 mcg/day", "Clinic: Kennesaw Clinic → Buckhead Clinic".

An audit row keeps what a service wrote: an action, an entity, and JSON before/after values with column names,
stored codes and ids. `describe_event` turns one row into labelled values a person can read; the ids it needs as
names (users, clinics, pump models, pumps, drug concentrations) are listed by `references` for the whole page and
looked up in one query by the caller (tracker.services.audit.names_for). Pure: no Flask, no database. The CSV
export keeps the raw values."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from tracker.admin.audit_fields import field_for, humane
from tracker.formats import fmt_date, fmt_datetime

Names = dict[str, dict[int, str]]  # kind ("user", "location", ...) -> id -> name

# What each kind of id is shown as; tracker.services.audit.names_for reads them.
NAMED_KINDS = ("user", "location", "pump_model", "pump", "drug_concentration", "patient")

ACTIONS = {"create": "Added", "update": "Changed", "void": "Voided", "view": "Viewed", "export": "Exported"}
ENTITIES = {
    "patient": "Patient",
    "stage_event": "Stage change",
    "trial_bolus": "Trial bolus",
    "pump": "Pump",
    "implantation": "Implantation",
    "dose_change": "Dose change",
    "refill_visit": "Refill",
    "refill_appointment": "Appointment",
    "contact_attempt": "Contact attempt",
    "physician_request": "Request to a physician",
    "pump_event": "Pump event",
    "advisory": "Device advisory",
    "advisory_follow_up": "Advisory follow-up",
    "drug_concentration": "Drug concentration",
    "pump_model": "Pump model",
    "location": "Location",
    "settings": "Clinic settings",
    "user": "Account",
    "patient_import": "Patient import",
    "audit_trail": "Audit trail",
    "calendar": "Calendar export",
    "calendar_events": "Calendar",
    "patient_list": "Patient list",
    "worklist": "Worklist",
    "emergency_summary": "Emergency summary",
    "patient_edit_form": "Patient edit form",
    "digest_message": "Daily e-mail",
}
# Records shown by their name rather than their number (the kind of id their entity_id is).
NAMED_RECORDS = {
    "user": "user",
    "location": "location",
    "pump_model": "pump_model",
    "pump": "pump",
    "drug_concentration": "drug_concentration",
}

WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Change:
    label: str
    before: str | None  # None: nothing to show before (an addition, or a value only the after side has)
    after: str


@dataclass(frozen=True)
class Described:
    """One audit row as the page shows it."""

    action: str
    record: str
    changes: list[Change]


def _plain_number(value) -> str:
    """300.00 -> 300, 14.50 -> 14.5, as entered values read elsewhere in the app."""
    try:
        return format(Decimal(str(value)).normalize(), "f")
    except InvalidOperation:
        return str(value)


def _id(value) -> int | None:
    """An id as stored (an int) or as a filter in a URL ("3")."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() and len(value) < 10 else None


def _when(kind: str, value: str) -> str:
    """An ISO date or time as every page shows them (tracker.formats); a time typed on a form (no zone) is the
    clinic's wall clock. Anything else (a filter typed into a URL) as it is."""
    try:
        return (
            fmt_date(date.fromisoformat(value[:10])) if kind == "date" else fmt_datetime(datetime.fromisoformat(value))
        )
    except ValueError:
        return value


def _flex(value) -> str:
    """A flexible schedule: steps "HH:MM rate" (mcg/h), then each weekday with steps of its own."""

    def steps(rows) -> str:
        return " · ".join(f"{start} {_plain_number(rate)}" for start, rate in rows)

    try:
        if isinstance(value, list):
            return f"{steps(value)} mcg/h"
        parts = [steps(value.get("default") or [])]
        for day, rows in sorted((value.get("by_weekday") or {}).items(), key=lambda item: int(item[0])):
            parts.append(f"{WEEKDAYS[int(day)]}: {steps(rows)}")
    except (AttributeError, IndexError, TypeError, ValueError):  # not a schedule the forms write: as stored
        return str(value)
    return "; ".join(part for part in parts if part) + " mcg/h"


def show(entity: str, name: str, value, names: Names) -> str:
    """One stored value as words ("—" for nothing), without its unit."""
    spec = field_for(entity, name)
    if value is None or value == "" or value == [] or value == {}:
        return "—"
    if spec.kind == "bool":
        return "Yes" if value else "No"
    if spec.kind == "choice":
        return spec.choices.get(value, str(value))
    if spec.kind == "ref":
        return names.get(spec.ref, {}).get(_id(value)) or f"#{value}"
    if spec.kind == "entry":
        return f"#{value}"
    if spec.kind == "number":
        return _plain_number(value)
    if spec.kind == "fraction":
        return f"±{_plain_number(Decimal(str(value)) * 100)}%"
    if spec.kind in ("date", "moment") and isinstance(value, str):
        return _when(spec.kind, value)
    if spec.kind == "flex":
        return _flex(value)
    if isinstance(value, dict):
        return "; ".join(
            f"{field_for(entity, key).label}: {_with_unit(entity, key, item, names)}"
            for key, item in value.items()
            if field_for(entity, key).kind != "hidden"
        )
    if isinstance(value, list):
        return "; ".join(item.get("message", str(item)) if isinstance(item, dict) else str(item) for item in value)
    return str(value)


def _empty(value) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _with_unit(entity: str, name: str, value, names: Names) -> str:
    text, unit = show(entity, name, value, names), field_for(entity, name).unit
    return f"{text} {unit}" if unit and not _empty(value) else text


def describe_event(
    action: str, entity: str, entity_id: int | None, before: dict | None, after: dict | None, names: Names
) -> Described:
    """One audit row in words. An addition lists the values it was given (the empty ones left out), each with
    what it replaced when the row says so (a correction, a dose change's previous dose); a change or a void lists
    what differs, and what only one side holds. Example: a dose change added with before {"daily_dose_mcg":
    "300.00"} and after {"daily_dose_mcg": "330.00", "mode": "simple"} -> Dose: 300 → 330 mcg/day; Mode: Simple."""
    before, after = before or {}, after or {}
    changes = []
    for name in [*after, *(key for key in before if key not in after)]:
        spec = field_for(entity, name)
        old, new = before.get(name), after.get(name)
        if spec.kind == "hidden":
            continue
        was, now = show(entity, name, old, names), show(entity, name, new, names)
        if name not in before or name not in after or (action == "create" and was == now):
            value = new if name in after else old
            if not _empty(value):
                changes.append(Change(spec.label, None, _with_unit(entity, name, value, names)))
        elif was != now:
            # The unit once, after the new value ("300 → 330 mcg/day"), unless that side is empty.
            changes.append(
                Change(
                    spec.label,
                    was if not _empty(new) else _with_unit(entity, name, old, names),
                    _with_unit(entity, name, new, names),
                )
            )
    return Described(ACTIONS.get(action, action.capitalize()), _record(entity, entity_id, names), changes)


def _record(entity: str, entity_id: int | None, names: Names) -> str:
    label = ENTITIES.get(entity, humane(entity))
    if entity_id is None:
        return label
    kind = NAMED_RECORDS.get(entity)
    name = names.get(kind, {}).get(entity_id) if kind else None
    return f"{label}: {name}" if name else f"{label} #{entity_id}"


def references(events: Iterable[tuple[str, int | None, dict | None, dict | None]]) -> dict[str, set[int]]:
    """The ids a page of audit rows (entity, entity id, before, after) shows as names, by kind."""
    found: dict[str, set[int]] = {kind: set() for kind in NAMED_KINDS}

    def walk(entity: str, values: dict) -> None:
        for name, value in values.items():
            spec = field_for(entity, name)
            if spec.kind == "ref" and _id(value) is not None:
                found[spec.ref].add(_id(value))
            elif isinstance(value, dict) and spec.kind == "mapping":
                walk(entity, value)

    for entity, entity_id, before, after in events:
        if entity_id is not None and entity in NAMED_RECORDS:
            found[NAMED_RECORDS[entity]].add(entity_id)
        for values in (before, after):
            if values:
                walk(entity, values)
    return found
