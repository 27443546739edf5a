"""The import template's columns and limits (issue #9), and the shape of a problem in a file: pure.

What each column holds, whether a patient needs it, and the names a file may give it; the CSV mechanics
(tracker.imports) and the row checks (tracker.clinical.import_rows) both read this one table.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from tracker.clinical.journey import ADJUSTMENT, IMPLANTATION, STAGES
from tracker.clinical.scales import DIAGNOSES, ORIGINS, SEXES

IMPLANTED = (IMPLANTATION, ADJUSTMENT)
MAX_DAILY_DOSE_MCG = Decimal(3000)  # the implantation form's upper bound
MAX_BOLUS_MCG = Decimal(500)  # the dose form's bounds (tracker.refills.forms.DoseForm)
MAX_BOLUSES_PER_DAY = 24
MIN_FLEX_DOSE_MCG = Decimal(1)  # tracker.services.refills.MIN_DAILY_DOSE_MCG
DOSE_ROUNDING_MCG = Decimal("0.5")  # a daily dose written to the whole mcg still agrees with its schedule
ENCODING_HELP = "In Excel: Save As → “CSV UTF-8 (Comma delimited)”."

# The template --------------------------------------------------------------------------------------------------

ALWAYS, IMPLANTED_ONLY, OPTIONAL = "required", "implanted", "optional"


@dataclass(frozen=True)
class Column:
    name: str
    label: str
    need: str  # ALWAYS | IMPLANTED_ONLY (stage implantation or adjustment) | OPTIONAL
    format: str
    example: str
    synonyms: tuple[str, ...] = ()


def _choices(codes: dict[str, str]) -> str:
    return ", ".join(codes)


COLUMNS: tuple[Column, ...] = (
    Column(
        "mrn",
        "MRN",
        ALWAYS,
        "Text, up to 40 characters. The key: a patient already in the app with this MRN "
        "(ignoring case and spaces) is updated, never duplicated.",
        "MRN100234",
        ("medical_record_number", "record_number", "mrn_number", "patient_mrn"),
    ),
    Column(
        "first_name", "First name", ALWAYS, "Text, up to 80 characters.", "Rosa", ("first", "given_name", "forename")
    ),
    Column("last_name", "Last name", ALWAYS, "Text, up to 80 characters.", "Peña", ("last", "surname", "family_name")),
    Column(
        "date_of_birth",
        "Date of birth",
        ALWAYS,
        "Date: YYYY-MM-DD or MM/DD/YYYY.",
        "1968-04-12",
        ("dob", "birth_date", "birthdate", "born"),
    ),
    Column("sex", "Sex", ALWAYS, f"One of: {_choices(SEXES)} (F and M are understood).", "female", ("gender",)),
    Column(
        "diagnosis",
        "Diagnosis",
        ALWAYS,
        f"One of: {_choices(DIAGNOSES)} (or the full name, e.g. Multiple sclerosis).",
        "ms",
        ("primary_diagnosis", "dx"),
    ),
    Column(
        "spasticity_origin",
        "Spasticity origin",
        ALWAYS,
        f"One of: {_choices(ORIGINS)}.",
        "spinal",
        ("origin", "spasticity"),
    ),
    Column(
        "location",
        "Home location",
        ALWAYS,
        "The name of an active location, as on the Settings pages.",
        "Kennesaw Clinic",
        ("home_location", "clinic", "site", "location_name"),
    ),
    Column(
        "primary_nurse_email",
        "Primary nurse e-mail",
        OPTIONAL,
        "The e-mail of an active nurse account; empty for none.",
        "nurse@example.org",
        ("nurse", "nurse_email", "primary_nurse"),
    ),
    Column("phone", "Phone", OPTIONAL, "Text, up to 40 characters.", "(770) 555-0199", ("phone_number", "telephone")),
    Column(
        "withdrawal_risk",
        "High withdrawal risk",
        OPTIONAL,
        "yes or no (empty means no).",
        "no",
        ("high_withdrawal_risk", "high_risk"),
    ),
    Column(
        "withdrawal_risk_reason",
        "Why (high withdrawal risk)",
        OPTIONAL,
        "Required when withdrawal risk is yes; up to 300 characters.",
        "",
        ("risk_reason",),
    ),
    Column(
        "referral_date",
        "Referral date",
        ALWAYS,
        "Date the patient was referred; the journey starts here.",
        "2019-02-01",
        ("referred_on", "referral", "date_referred"),
    ),
    Column(
        "stage",
        "Current stage",
        ALWAYS,
        f"One of: {', '.join(STAGES)}. Only patients in the programme: record exits in the app.",
        "adjustment",
        ("current_stage", "journey_stage"),
    ),
    Column(
        "stage_since",
        "Stage since",
        OPTIONAL,
        "Date the current stage began. Required for trial; otherwise "
        "defaults to the referral date (evaluation) or the implant date.",
        "2019-05-20",
        ("stage_date", "in_stage_since", "stage_start"),
    ),
    Column(
        "pump_model",
        "Pump model",
        IMPLANTED_ONLY,
        "The catalogue name, e.g. SynchroMed II 40 mL.",
        "SynchroMed II 40 mL",
        ("pump", "model", "pump_type"),
    ),
    Column(
        "pump_serial",
        "Pump serial",
        IMPLANTED_ONLY,
        "Text, up to 40 characters.",
        "NGP123456",
        ("serial", "serial_number", "pump_serial_number"),
    ),
    Column(
        "implanted_on",
        "Implant date",
        IMPLANTED_ONLY,
        "Date the current pump was placed.",
        "2019-05-20",
        ("implant_date", "implantation_date", "date_implanted"),
    ),
    Column(
        "surgery_centre",
        "Surgery centre",
        IMPLANTED_ONLY,
        "The name of a surgery-centre location.",
        "Snellville Surgery Center",
        ("surgery_center", "implant_centre", "implant_center"),
    ),
    Column("surgeon", "Surgeon", OPTIONAL, "Text, up to 120 characters.", "Dr Shaw", ("implanting_surgeon",)),
    Column(
        "catheter_tip_level",
        "Catheter tip level",
        IMPLANTED_ONLY,
        "Text, up to 10 characters.",
        "T10",
        ("catheter_tip", "tip_level"),
    ),
    Column(
        "alarm_volume_ml",
        "Low-reservoir alarm (mL)",
        OPTIONAL,
        "Number of mL; empty means the pump model's default (2 mL SynchroMed, 3 mL Prometra). Not above the reservoir.",
        "2",
        ("alarm_volume", "low_reservoir_alarm", "alarm_ml"),
    ),
    Column(
        "last_refill_date",
        "Last refill date",
        IMPLANTED_ONLY,
        "Date of the last refill (or the fill at implantation); not in the future.",
        "",
        ("last_refill", "refill_date", "last_fill_date"),
    ),
    Column(
        "last_refill_volume_ml",
        "Volume after last refill (mL)",
        IMPLANTED_ONLY,
        "The reservoir volume after the refill, in mL; never above the pump's reservoir.",
        "40",
        ("resulting_volume_ml", "resulting_volume", "volume_after_refill", "reservoir_volume", "fill_volume"),
    ),
    Column(
        "concentration_mcg_per_ml",
        "Concentration (mcg/mL)",
        IMPLANTED_ONLY,
        "A pump concentration from the drug catalogue, e.g. 500, 1000, 2000.",
        "2000",
        ("concentration", "drug_concentration"),
    ),
    Column(
        "daily_dose_mcg",
        "Daily dose (mcg/day)",
        IMPLANTED_ONLY,
        "The programmed dose per day since the last "
        "refill, in mcg, without boluses; more than 0. With a flexible schedule it may be left empty; if given, "
        "it must be the schedule's dose per day (the week's average).",
        "400",
        ("daily_dose", "dose", "dose_mcg_per_day"),
    ),
    Column(
        "flex_schedule",
        "Flexible schedule",
        OPTIONAL,
        "For a pump on a flexible schedule: steps “HH:MM rate” "
        "(rate in mcg/hour) separated by semicolons; a day name and a colon start that weekday’s own steps, "
        "which begin at 00:00 (see the guide). Empty for a simple continuous dose.",
        "06:00 12; 18:00 10",
        ("flex", "flexible_schedule", "flex_dosing", "schedule"),
    ),
    Column(
        "bolus_dose_mcg",
        "Patient-activated bolus (mcg)",
        OPTIONAL,
        "The dose of one patient-activated bolus "
        f"(PTM), in mcg, 0 to {MAX_BOLUS_MCG}; with the maximum per day. Empty or 0 for none.",
        "25",
        ("bolus", "ptm_bolus_mcg", "ptm_dose", "bolus_mcg", "ptm_bolus"),
    ),
    Column(
        "max_boluses_per_day",
        "Maximum boluses per day",
        OPTIONAL,
        "How many boluses the patient may give a "
        f"day, 0 to {MAX_BOLUSES_PER_DAY}; the refill dates count every one of them.",
        "4",
        ("max_boluses", "boluses_per_day", "ptm_max_per_day", "ptm_boluses_per_day"),
    ),
    Column(
        "expected_residual_ml",
        "Expected residual at the last refill (mL)",
        OPTIONAL,
        "What the programmer "
        "expected in the reservoir before the last refill; with the actual residual, checked as at a refill "
        "visit.",
        "4",
        ("expected_residual", "expected_ml"),
    ),
    Column(
        "actual_residual_ml",
        "Actual residual at the last refill (mL)",
        OPTIONAL,
        "What was aspirated before the last refill.",
        "3.8",
        ("actual_residual", "aspirated_ml", "residual_ml", "aspirated_residual"),
    ),
    Column(
        "volume_added_ml",
        "Volume added at the last refill (mL)",
        OPTIONAL,
        "What went into the pump at the "
        "last refill; compared with the volume after it (a pocket fill). Empty: the same as the volume after "
        "the refill.",
        "40",
        ("volume_added", "added_ml", "fill_added_ml"),
    ),
    Column(
        "previous_refill_volume_ml",
        "Volume after the refill before (mL)",
        OPTIONAL,
        "The reservoir volume "
        "after the refill before the last one: the pump's accuracy is judged on what was programmed since.",
        "40",
        ("previous_volume_ml", "previous_fill_volume_ml", "prior_refill_volume_ml"),
    ),
    Column(
        "previous_concentration_mcg_per_ml",
        "Concentration before the last refill (mcg/mL)",
        OPTIONAL,
        "The concentration in the pump before the last refill; a change needs a bridge bolus.",
        "2000",
        ("previous_concentration", "prior_concentration", "old_concentration"),
    ),
    Column(
        "next_refill_date",
        "Next booked refill",
        OPTIONAL,
        "Date of the refill already booked, in the future; booked at the patient's home location.",
        "",
        ("next_refill", "next_appointment", "booked_refill"),
    ),
    Column(
        "next_refill_time",
        "Next refill time",
        OPTIONAL,
        "HH:MM, 24-hour clinic time; empty means 09:00.",
        "10:30",
        ("appointment_time",),
    ),
    Column(
        "next_refill_late_reason",
        "Why booked after the due date",
        OPTIONAL,
        "Required only when the booked refill falls after the refill due date.",
        "",
        ("late_reason",),
    ),
)
COLUMN_BY_NAME = {c.name: c for c in COLUMNS}
PROGRAMME_AND_REFILL_CHECKS = (
    "flex_schedule",
    "bolus_dose_mcg",
    "max_boluses_per_day",
    "expected_residual_ml",
    "actual_residual_ml",
    "volume_added_ml",
    "previous_refill_volume_ml",
    "previous_concentration_mcg_per_ml",
)
REQUIRED_ALWAYS = tuple(c.name for c in COLUMNS if c.need == ALWAYS)


# Issues -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """A problem in the file: line (header = 1; None for the whole file), column as the file names it."""

    line: int | None
    column: str | None
    value: str
    message: str
