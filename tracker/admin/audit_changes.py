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

from tracker.clinical.journey import EXIT_REASONS, STAGE_LABELS
from tracker.clinical.pump_events import KINDS as EVENT_KINDS
from tracker.clinical.pump_events import MRI_RULES, WORK_LABELS
from tracker.clinical.scales import DIAGNOSES, ORIGINS, ROLES, SEXES, TRIAL_OUTCOMES
from tracker.clinical.settings_spec import LABELS as SETTING_LABELS
from tracker.formats import fmt_date, fmt_datetime
from tracker.models.requests import KINDS as REQUEST_KINDS
from tracker.models.requests import STATUSES as REQUEST_STATUSES
from tracker.services.bookings import CONTACT_METHODS, CONTACT_OUTCOMES

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

APPOINTMENT_STATUSES = {"booked": "Booked", "rebooked": "Rebooked", "cancelled": "Cancelled", "completed": "Completed"}
PATIENT_STATUSES = {"active": "Active", "exited": "Exited"}
DOSE_MODES = {"simple": "Simple", "flex": "Flexible schedule"}
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Field:
    """How one stored value reads: its label, its kind of value, a unit or the labels of its codes."""

    label: str
    kind: str = "text"  # text number date moment bool choice ref entry flex fraction mapping list hidden
    unit: str = ""
    choices: dict | None = None
    ref: str = ""  # for kind "ref": the kind of name the id stands for


def _choice(label: str, choices: dict) -> Field:
    return Field(label, "choice", choices=choices)


def _number(label: str, unit: str = "") -> Field:
    return Field(label, "number", unit)


def _ref(label: str, kind: str) -> Field:
    return Field(label, "ref", ref=kind)


FIELDS: dict[str, Field] = {
    # patient
    "mrn": Field("MRN"),
    "first_name": Field("First name"),
    "last_name": Field("Last name"),
    "date_of_birth": Field("Date of birth", "date"),
    "sex": _choice("Sex", SEXES),
    "diagnosis": _choice("Diagnosis", DIAGNOSES),
    "spasticity_origin": _choice("Spasticity origin", ORIGINS),
    "location_id": _ref("Clinic", "location"),
    "nurse_id": _ref("Primary nurse", "user"),
    "withdrawal_risk": Field("High withdrawal risk", "bool"),
    "withdrawal_risk_reason": Field("Withdrawal risk reason"),
    "phone": Field("Phone"),
    "stage": _choice("Stage", STAGE_LABELS),
    "stage_since": Field("In this stage since", "date"),
    "status": _choice("Status", PATIENT_STATUSES),
    "exit_reason": _choice("Exit reason", {k: v[0] for k, v in EXIT_REASONS.items()}),
    "journey_started": Field("Journey started", "date"),
    "version": Field("Version", "hidden"),
    "imported_from": Field("Imported from"),
    "line": _number("Line of the file"),
    # stage changes
    "from_stage": _choice("From", STAGE_LABELS),
    "to_stage": _choice("To", STAGE_LABELS | {"exited": "Exited"}),
    "effective_date": Field("Effective", "date"),
    "reason": Field("Reason"),
    "override": Field("Physician override", "bool"),
    # corrections and voids
    "void_reason": Field("Why voided"),
    "corrected_by": Field("Replaced by", "entry"),
    "corrects_id": Field("Corrects", "entry"),
    "correction_reason": Field("Why corrected"),
    "due_date": Field("Refill due", "date"),
    "alarm_date": Field("Alarm date", "date"),
    # trial boluses
    "given_on": Field("Given on", "date"),
    "dose_mcg": _number("Dose", "mcg"),
    "concentration_mcg_per_ml": _number("Concentration", "mcg/mL"),
    "concentration": _number("Concentration", "mcg/mL"),
    "ashworth_before": Field("Ashworth before"),
    "ashworth_after": Field("Ashworth after"),
    "penn_frequency_before": _number("Penn frequency before"),
    "penn_severity_before": _number("Penn severity before"),
    "penn_frequency_after": _number("Penn frequency after"),
    "penn_severity_after": _number("Penn severity after"),
    "hours_of_effect": _number("Effect lasted", "h"),
    "outcome": _choice("Outcome", TRIAL_OUTCOMES),
    "notes": Field("Notes"),
    "warnings": Field("Warnings shown", "list"),
    # pumps and implantation
    "model_id": _ref("Pump model", "pump_model"),
    "serial": Field("Serial"),
    "reservoir_ml": _number("Reservoir", "mL"),
    "implanted_on": Field("Implanted on", "date"),
    "catheter_tip_level": Field("Catheter tip"),
    "alarm_volume_ml": _number("Alarm volume", "mL"),
    "battery_replacement_due": Field("Battery replacement due", "date"),
    "eri_on": Field("Battery ERI shown on", "date"),
    "explanted_on": Field("Explanted on", "date"),
    "surgery_centre_id": _ref("Surgery centre", "location"),
    "surgeon": Field("Surgeon"),
    "fill_volume_ml": _number("First fill", "mL"),
    "start_guide": Field("Starting dose guide"),
    "signed_off_by_id": _ref("Signed off by", "user"),
    # dose changes
    "effective_at": Field("Programmed", "moment"),
    "mode": _choice("Mode", DOSE_MODES),
    "daily_dose_mcg": _number("Dose", "mcg/day"),
    "flex_schedule": Field("Flexible schedule", "flex"),
    "bolus_dose_mcg": _number("Bolus dose", "mcg"),
    "max_boluses_per_day": _number("Boluses a day, at most"),
    "warnings_acknowledged": Field("Warnings acknowledged", "list"),
    "last_dose_id": Field("Last dose", "entry"),
    # refills
    "visit_at": Field("Refilled", "moment"),
    "expected_residual_ml": _number("Expected residual", "mL"),
    "actual_residual_ml": _number("Residual found", "mL"),
    "lot": Field("Lot"),
    "volume_added_ml": _number("Volume added", "mL"),
    "resulting_volume_ml": _number("Volume after the refill", "mL"),
    "bridge_bolus_mcg": _number("Bridge bolus", "mcg"),
    "bridge_bolus_reason": Field("No bridge bolus because"),
    "ashworth": Field("Ashworth"),
    "penn_frequency": _number("Penn frequency"),
    "complications": Field("Complications"),
    "acknowledged_by_id": _ref("Warnings acknowledged by", "user"),
    "due_date_in_force": Field("Due date then", "date"),
    # bookings and contacts
    "starts_at": Field("Appointment", "moment"),
    "clinician_id": _ref("Clinician", "user"),
    "late_reason": Field("Why booked late"),
    "override_by_id": _ref("Override by", "user"),
    "close_reason": Field("Why closed"),
    "method": _choice("How", CONTACT_METHODS),
    # requests to a physician
    "kind": _choice("Kind", REQUEST_KINDS),
    "pump_id": _ref("Pump", "pump"),
    "note": Field("Note"),
    "payload": Field("Details", "mapping"),
    "answered_by_id": _ref("Answered by", "user"),
    "answered_at": Field("Answered", "moment"),
    "answer_note": Field("Answer"),
    # pump events
    "occurred_at": Field("When", "moment"),
    "volume_removed_ml": _number("Volume removed", "mL"),
    "empties_pump": Field("Empties the pump", "bool"),
    "work": _choice("Work", WORK_LABELS),
    "work_due_on": Field("Work due", "date"),
    "done_at": Field("Done", "moment"),
    "done_by_id": _ref("Done by", "user"),
    "done_note": Field("Finding"),
    # catalogue
    "stability_days": _number("Stability", "days"),
    "trial_only": Field("Trial only", "bool"),
    "active": Field("Active", "bool"),
    "default_alarm_ml": _number("Default alarm volume", "mL"),
    "battery_life_months": _number("Battery life", "months"),
    "eri_to_stop_days": _number("ERI to stop", "days"),
    "accuracy_fraction": Field("Accuracy", "fraction"),
    "mri_rule": _choice("MRI", MRI_RULES),
    "address": Field("Address"),
    "emergency_phone": Field("24-hour phone"),
    # accounts
    "email": Field("E-mail"),
    "full_name": Field("Name"),
    "role": _choice("Role", ROLES),
    "password": Field("Password"),
    "must_change_password": Field("Must change password", "bool"),
    "sessions": Field("Sessions"),
    "sessions_ended": _number("Sessions ended"),
    "sign_in": Field("Sign-in"),
    "calendar_token": Field("Calendar feed link"),
    # reads and imports
    "filters": Field("Filters", "mapping"),
    "rows": _number("Rows"),
    "names": Field("With names", "bool"),
    "file": Field("File"),
    "created": _number("Added"),
    "updated": _number("Updated"),
    "unchanged": _number("Unchanged"),
    # the lists' filters, as their URLs name them
    "location": _ref("Clinic", "location"),
    "nurse": _ref("Nurse", "user"),
    "start": Field("From", "date"),
    "end": Field("To", "date"),
    "q": Field("Search"),
} | {name: _number(label) for name, label in SETTING_LABELS.items()}

# The same column name meaning something else in one entity.
ENTITY_FIELDS: dict[tuple[str, str], Field] = {
    ("refill_appointment", "status"): _choice("Status", APPOINTMENT_STATUSES),
    ("physician_request", "status"): _choice("Status", REQUEST_STATUSES),
    ("physician_request", "outcome"): Field("Outcome"),
    ("contact_attempt", "outcome"): _choice("Outcome", CONTACT_OUTCOMES),
    ("pump_event", "kind"): _choice("Event", EVENT_KINDS),
    ("pump_model", "active"): Field("In use", "bool"),
    ("drug_concentration", "active"): Field("In use", "bool"),
    ("user", "location_id"): _ref("Home location", "location"),
}


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


def field_for(entity: str, name: str) -> Field:
    return ENTITY_FIELDS.get((entity, name)) or FIELDS.get(name) or Field(_humane(name))


def _humane(name: str) -> str:
    return name.removesuffix("_id").replace("_", " ").capitalize()


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
    label = ENTITIES.get(entity, _humane(entity))
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
