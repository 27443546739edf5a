"""How each stored audit value reads: its label, its kind, a unit or the labels of its codes (one Field per column
name, a few per entity where a name means something else there). tracker.admin.audit_changes words the rows with
them. Pure: no Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.clinical.advisory import FOLLOW_UP_KINDS
from tracker.clinical.advisory import STATUSES as ADVISORY_STATUSES
from tracker.clinical.journey import EXIT_REASONS, STAGE_LABELS
from tracker.clinical.pump_events import KINDS as EVENT_KINDS
from tracker.clinical.pump_events import MRI_RULES, WORK_LABELS
from tracker.clinical.scales import DIAGNOSES, ORIGINS, ROLES, SEXES, TRIAL_OUTCOMES
from tracker.clinical.settings_spec import LABELS as SETTING_LABELS
from tracker.models.requests import KINDS as REQUEST_KINDS
from tracker.models.requests import STATUSES as REQUEST_STATUSES
from tracker.services.bookings import CONTACT_METHODS, CONTACT_OUTCOMES

APPOINTMENT_STATUSES = {"booked": "Booked", "rebooked": "Rebooked", "cancelled": "Cancelled", "completed": "Completed"}
PATIENT_STATUSES = {"active": "Active", "exited": "Exited"}
DOSE_MODES = {"simple": "Simple", "flex": "Flexible schedule"}


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
    # device advisories
    "source": Field("Source"),
    "issued_on": Field("Issued", "date"),
    "model_ids": Field("Pump models"),
    "serials_text": Field("Serials"),
    "implanted_from": Field("Implanted from", "date"),
    "implanted_to": Field("Implanted up to", "date"),
    "distributed_from": Field("Distributed from", "date"),
    "distributed_to": Field("Distributed up to", "date"),
    "concentrations": Field("Concentrations"),
    "lots_text": Field("Lots"),
    "recommended_action": Field("Recommended action"),
    "follow_up": _choice("Follow-up", FOLLOW_UP_KINDS),
    "call_days": _number("Call within", "days"),
    "closed_at": Field("Closed", "moment"),
    "closed_by_id": _ref("Closed by", "user"),
    "close_note": Field("Why closed"),
    "advisory_id": Field("Advisory"),
    "status_at": Field("Recorded", "moment"),
    "status_by_id": _ref("Recorded by", "user"),
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
    ("advisory_follow_up", "status"): _choice("Follow-up", ADVISORY_STATUSES),
    ("pump_model", "active"): Field("In use", "bool"),
    ("drug_concentration", "active"): Field("In use", "bool"),
    ("user", "location_id"): _ref("Home location", "location"),
}


def field_for(entity: str, name: str) -> Field:
    return ENTITY_FIELDS.get((entity, name)) or FIELDS.get(name) or Field(humane(name))


def humane(name: str) -> str:
    """A stored name as words: "location_id" -> "Location"."""
    return name.removesuffix("_id").replace("_", " ").capitalize()
