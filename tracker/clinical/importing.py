"""Reading a patient CSV (issue #9): the template, decoding, delimiter, header mapping and per-row checks.

Pure: no Flask, no database. What the checks need from the database (locations, nurses, the pump and drug
catalogues, the clinic's buffer settings) comes in as a plain `Catalogue`, so the dry run and the import ask
the very same function. Every problem is an `Issue`: the file's line (header = line 1), the file's column
header, the value as typed, and what is wrong.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo

from tracker.clinical import refill as engine
from tracker.clinical import refill_risk
from tracker.clinical.booking import DEFAULT_BOOKING_TIME
from tracker.clinical.days import start_of_day
from tracker.clinical.flex_text import FlexSchedule, FlexTextError, from_stored, parse_flex
from tracker.clinical.import_checks import LastRefill, RefillChecks, RowWarning, row_warnings
from tracker.clinical.journey import ADJUSTMENT, EVALUATION, IMPLANTATION, STAGE_LABELS, STAGES, TRIAL
from tracker.clinical.scales import DIAGNOSES, ORIGINS, SEXES
from tracker.clinical.search import mrn_key
from tracker.clinical.settings_spec import ACCURACY_FRACTION
from tracker.formats import fmt_date

IMPLANTED = (IMPLANTATION, ADJUSTMENT)
MAX_ROWS = 50_000
MAX_COLUMNS = 200  # the template has about 40; a wider header is a mistake (a mapping page per column)
MAX_DAILY_DOSE_MCG = Decimal(3000)  # the implantation form's upper bound
MAX_BOLUS_MCG = Decimal(500)  # the dose form's bounds (tracker.refills.forms.DoseForm)
MAX_BOLUSES_PER_DAY = 24
MIN_FLEX_DOSE_MCG = Decimal(1)  # tracker.services.refills.MIN_DAILY_DOSE_MCG
DOSE_ROUNDING_MCG = Decimal("0.5")  # a daily dose written to the whole mcg still agrees with its schedule
DELIMITERS = ",;\t|"
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


def template_rows(today: date) -> list[list[str]]:
    """The template: the header and one example row whose dates fit around `today`."""
    example = {c.name: c.example for c in COLUMNS}
    example["last_refill_date"] = (today - timedelta(days=30)).isoformat()
    example["next_refill_date"] = (today + timedelta(days=14)).strftime("%m/%d/%Y")
    for name in PROGRAMME_AND_REFILL_CHECKS:  # the example pump: a simple dose, no PTM (the guide shows them)
        example[name] = ""
    return [[c.name for c in COLUMNS], [example[c.name] for c in COLUMNS]]


def template_csv(today: date) -> str:
    """The template as CSV text (the caller adds a BOM so Excel reads it as UTF-8)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(template_rows(today))
    return out.getvalue()


# Issues -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Issue:
    """A problem in the file: line (header = 1; None for the whole file), column as the file names it."""

    line: int | None
    column: str | None
    value: str
    message: str


# Decoding and splitting -------------------------------------------------------------------------------------

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Table:
    """A decoded, split file: its encoding and delimiter, header cells, and data rows with their line numbers."""

    encoding: str
    delimiter: str
    headers: list[str]
    rows: list[tuple[int, list[str]]]
    issues: list[Issue] = field(default_factory=list)  # file-level: nothing can be checked further


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes) -> tuple[str, str, list[Issue]]:
    """(text, encoding name, issues). UTF-8 (with or without BOM) first, then Windows-1252; UTF-16 and binary
    files are refused. Undecodable bytes become U+FFFD, found and reported cell by cell after splitting."""
    if not data.strip():
        return "", "", [Issue(None, None, "", "The file is empty.")]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        return (
            "",
            "",
            [
                Issue(
                    1,
                    None,
                    "",
                    "This file is not plain text: it looks like UTF-16 (Excel’s “Unicode "
                    "text”) or a binary file such as .xlsx. " + ENCODING_HELP,
                )
            ],
        )
    if b"\x00" in data:
        return (
            "",
            "",
            [
                Issue(
                    _line_of(data, data.index(b"\x00")),
                    None,
                    "",
                    "This line holds a NUL byte: the file is not plain text. " + ENCODING_HELP,
                )
            ],
        )
    try:
        return data.decode("utf-8-sig"), "UTF-8 with BOM" if data.startswith(b"\xef\xbb\xbf") else "UTF-8", []
    except UnicodeDecodeError:
        pass
    if data.startswith(b"\xef\xbb\xbf") or _UTF8_MULTIBYTE.search(data):
        # Mostly UTF-8 with a few stray bytes: two encodings mixed in one file (cells are reported one by one).
        return data.decode("utf-8-sig", errors="replace"), "UTF-8 (with invalid bytes)", []
    return data.decode("cp1252", errors="replace"), "Windows-1252", []


def sniff_delimiter(text: str) -> str:
    """The delimiter, from csv.Sniffer on the first lines; else whichever candidate the header line holds most."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = text.splitlines()[0] if text else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_table(data: bytes) -> Table:
    """Decode and split the file. Blank lines are skipped; a malformed line stops the reading with an issue."""
    text, encoding, issues = decode(data)
    if issues:
        return Table(encoding, ",", [], [], issues)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1  # a quoted cell may span several physical lines
            if not any(cell.strip() for cell in cells):
                continue
            if headers is None:
                headers = [cell.strip() for cell in cells]
                while headers and not headers[-1]:  # a spreadsheet's trailing empty columns are not columns
                    headers.pop()
                if len(headers) > MAX_COLUMNS:
                    issues.append(
                        Issue(
                            start,
                            None,
                            "",
                            f"The header line has {len(headers):,} columns; the "
                            f"tracker reads at most {MAX_COLUMNS}. Delete the columns it does not "
                            "need (see the guide), then upload the file again.",
                        )
                    )
                    return Table(encoding, delimiter, [], [], issues)
                continue
            rows.append((start, cells))
            if len(rows) > MAX_ROWS:
                issues.append(Issue(start, None, "", f"More than {MAX_ROWS:,} patients: split the file."))
                break
    except csv.Error as error:
        issues.append(Issue(line, None, "", f"This line cannot be read as CSV ({error}). Check its quotes."))
    if headers is None:
        issues.append(Issue(None, None, "", "The file holds no header line."))
        return Table(encoding, delimiter, [], [], issues)
    if not rows and not issues:
        issues.append(Issue(None, None, "", "The file holds only a header line: there are no patients to import."))
    return Table(encoding, delimiter, headers, rows, issues)


# Header mapping ----------------------------------------------------------------------------------------------


def normalise_header(text: str) -> str:
    """'Date of birth', ' DATE_OF_BIRTH ' and 'date-of-birth' all become 'date_of_birth'."""
    text = text.replace("\ufeff", "").strip().casefold()
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


_KNOWN = {}
for _column in COLUMNS:
    for _name in (_column.name, normalise_header(_column.label), *_column.synonyms):
        _KNOWN.setdefault(_name, _column.name)


def guess_mapping(headers: list[str]) -> dict[str, int | None]:
    """Template column -> index of the file column that looks like it (first match wins), or None."""
    mapping: dict[str, int | None] = {c.name: None for c in COLUMNS}
    for index, header in enumerate(headers):
        name = _KNOWN.get(normalise_header(header))
        if name and mapping[name] is None:
            mapping[name] = index
    return mapping


def headers_match_exactly(headers: list[str]) -> bool:
    """Every file header is a template column name and none is missing that is always required: no mapping step."""
    names = [normalise_header(h) for h in headers]
    return (
        all(n in COLUMN_BY_NAME for n in names) and len(set(names)) == len(names) and set(REQUIRED_ALWAYS) <= set(names)
    )


# Rows --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LocationInfo:
    id: int
    kind: str
    active: bool


@dataclass(frozen=True)
class PumpModelInfo:
    id: int
    name: str
    reservoir_ml: Decimal
    default_alarm_ml: Decimal
    battery_life_months: int | None
    active: bool
    accuracy_fraction: Decimal = ACCURACY_FRACTION.default


@dataclass(frozen=True)
class DrugInfo:
    stability_days: int
    trial_only: bool
    active: bool


@dataclass
class Catalogue:
    """What the checks look names up in; keys are case-folded names, lower-case e-mails, concentrations."""

    locations: dict[str, LocationInfo]
    nurses: dict[str, int]  # active nurses only
    pump_models: dict[str, PumpModelInfo]
    drugs: dict[int, DrugInfo]
    buffer_days: int
    high_risk_buffer_days: int
    tz: str
    checks: RefillChecks = field(default_factory=RefillChecks)  # the refill visit's warning thresholds


@dataclass
class PatientRow:
    """One valid line, typed. Pump fields are set for implantation and adjustment only."""

    line: int
    mrn: str
    mrn_key: str
    first_name: str
    last_name: str
    date_of_birth: date
    sex: str
    diagnosis: str
    spasticity_origin: str
    location_id: int
    location_is_clinic: bool
    nurse_id: int | None
    phone: str
    withdrawal_risk: bool
    withdrawal_risk_reason: str
    referral_date: date
    stage: str
    stage_since: date
    given: frozenset[str]  # the columns with a value on this line (empty optional cells leave the app's value)
    pump_model: PumpModelInfo | None = None
    pump_serial: str = ""
    implanted_on: date | None = None
    surgery_centre_id: int | None = None
    surgeon: str = ""
    catheter_tip_level: str = ""
    alarm_volume_ml: Decimal | None = None
    last_refill_date: date | None = None
    last_refill_volume_ml: Decimal | None = None
    concentration_mcg_per_ml: int | None = None
    daily_dose_mcg: Decimal | None = None  # programmed per day without boluses (flex: the week's mean)
    flex_schedule: dict | None = None  # as DoseChange.flex_schedule keeps it
    bolus_dose_mcg: Decimal | None = None  # None: not in the file (a new patient has none)
    max_boluses_per_day: int | None = None
    expected_residual_ml: Decimal | None = None
    actual_residual_ml: Decimal | None = None
    volume_added_ml: Decimal | None = None
    previous_refill_volume_ml: Decimal | None = None
    previous_concentration_mcg_per_ml: int | None = None
    next_refill_at: datetime | None = None
    next_refill_late_reason: str = ""
    projection: engine.RefillProjection | None = None
    stability_days: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # template column -> the file's header (shared)
    warnings: list[RowWarning] = field(default_factory=list)  # the refill visit's checks on the last refill


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
EARLIEST = date(1900, 1, 1)
YES = {"yes", "y", "true", "1", "x"}
NO = {"no", "n", "false", "0", ""}
_SEX_ALIASES = {"f": "female", "m": "male", "u": "unknown"}


def parse_date(text: str) -> date:
    """ISO (YYYY-MM-DD) or US (MM/DD/YYYY); ValueError with the reason otherwise."""
    if match := _ISO.match(text):
        year, month, day = (int(g) for g in match.groups())
    elif match := _US.match(text):
        month, day, year = (int(g) for g in match.groups())
    else:
        raise ValueError("is not a date: use YYYY-MM-DD or MM/DD/YYYY.")
    try:
        value = date(year, month, day)
    except ValueError:
        raise ValueError("is not a real date (check the day and month).") from None
    if value < EARLIEST:
        raise ValueError(f"is before {EARLIEST.year}.")
    return value


def plain(value: Decimal) -> str:
    """20.000 -> '20', 2.50 -> '2.5': numbers as a person writes them."""
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _code(text: str, codes: dict[str, str], aliases: dict[str, str] | None = None) -> str | None:
    folded = text.strip().casefold()
    for code, label in codes.items():
        if folded in (code, label.casefold()):
            return code
    return (aliases or {}).get(folded)


class _Line:
    """Reads one line's cells through the mapping, collecting issues with the file's own column names."""

    def __init__(
        self,
        line: int,
        cells: list[str],
        mapping: dict[str, int | None],
        headers: list[str],
        names: dict[str, str] | None = None,
    ):
        self.line, self.cells, self.mapping, self.headers = line, cells, mapping, headers
        self.names = names or {}  # template column -> the file's header, one dict for every line
        self.issues: list[Issue] = []

    def header(self, name: str) -> str:
        index = self.mapping.get(name)
        return self.headers[index] if index is not None else COLUMN_BY_NAME[name].name

    def raw(self, name: str) -> str:
        index = self.mapping.get(name)
        if index is None or index >= len(self.cells):
            return ""
        return self.cells[index].strip()

    def fail(self, name: str, message: str, value: str | None = None) -> None:
        self.issues.append(Issue(self.line, self.header(name), self.raw(name) if value is None else value, message))

    def text(self, name: str, required: bool, max_chars: int, why: str = "") -> str:
        value = self.raw(name)
        if not value and required:
            if self.mapping.get(name) is None:
                self.fail(name, f"Required{why}, and the file has no column for it.")
            else:
                self.fail(name, f"Required{why}.")
        elif len(value) > max_chars:
            self.fail(name, f"Too long: at most {max_chars} characters.", value[:60] + "…")
        return value

    def date(self, name: str, required: bool, why: str = "") -> date | None:
        value = self.text(name, required, 40, why)
        if not value:
            return None
        try:
            return parse_date(value)
        except ValueError as error:
            self.fail(name, f"{value!r} {error}")
            return None

    def number(self, name: str, required: bool, places: int, unit: str, why: str = "") -> Decimal | None:
        value = self.text(name, required, 40, why)
        if not value:
            return None
        if not _NUMBER.match(value):
            self.fail(name, f"Not a number: write {unit} as digits, e.g. 18.5.")
            return None
        number = Decimal(value)
        if number < 0:
            self.fail(name, "Cannot be negative.")
            return None
        try:
            exact = number == number.quantize(Decimal(1).scaleb(-places))
        except InvalidOperation:  # more digits than any volume or dose
            self.fail(name, "Too large.")
            return None
        if not exact:
            self.fail(name, f"At most {places} decimal places." if places else "Write a whole number.")
            return None
        return number

    def choice(self, name: str, codes: dict[str, str], aliases: dict[str, str] | None = None) -> str:
        value = self.text(name, True, 60)
        if not value:
            return ""
        code = _code(value, codes, aliases)
        if code is None:
            self.fail(name, f"Unknown value: use one of {', '.join(codes)}.")
            return ""
        return code


def check_rows(
    table: Table, mapping: dict[str, int | None], catalogue: Catalogue, today: date, now: datetime
) -> tuple[list[PatientRow], list[Issue]]:
    """Every line checked on its own and against the file (duplicate MRNs); issues in line order."""
    issues: list[Issue] = []
    for name in REQUIRED_ALWAYS:
        if mapping.get(name) is None:
            issues.append(
                Issue(
                    1,
                    COLUMN_BY_NAME[name].name,
                    "",
                    f"Missing column: the file has no column for "
                    f"{COLUMN_BY_NAME[name].label} ({name}), which every patient needs.",
                )
            )
    if issues:
        return [], issues  # every line would repeat it
    rows: list[PatientRow] = []
    first_line: dict[str, int] = {}
    headers = {name: table.headers[index] for name, index in mapping.items() if index is not None}
    for line, cells in table.rows:
        reader = _Line(line, cells, mapping, table.headers, headers)
        row = _check_line(reader, catalogue, today, now)
        key = mrn_key(reader.raw("mrn"))
        if key:
            if key in first_line:
                reader.fail("mrn", f"Duplicate MRN: also on line {first_line[key]}. Each patient appears once.")
                row = None
            else:
                first_line[key] = line
        issues += reader.issues
        if row is not None and not reader.issues:
            rows.append(row)
    return rows, issues


def _check_line(r: _Line, cat: Catalogue, today: date, now: datetime) -> PatientRow | None:
    for index, cell in enumerate(r.cells):
        if "\ufffd" in cell or _CONTROL.search(cell):
            header = r.headers[index] if index < len(r.headers) else f"column {index + 1}"
            what = "characters that are not text" if _CONTROL.search(cell) else "bytes that are not valid text"
            r.issues.append(
                Issue(r.line, header, cell[:60], f"Wrong encoding: this cell holds {what}. " + ENCODING_HELP)
            )
    if r.issues:
        return None
    mrn = r.text("mrn", True, 40)
    if mrn and len(mrn) <= 40 and len(mrn_key(mrn)) > 40:  # ß -> ss
        r.fail("mrn", "Too long once case-folded: at most 40 characters.")
    first_name, last_name = r.text("first_name", True, 80), r.text("last_name", True, 80)
    birth = r.date("date_of_birth", True)
    if birth and birth > today:
        r.fail("date_of_birth", "The date of birth cannot be in the future.")
    sex = r.choice("sex", SEXES, _SEX_ALIASES)
    diagnosis = r.choice("diagnosis", DIAGNOSES)
    origin = r.choice("spasticity_origin", ORIGINS)
    location = _location(r, "location", cat, None)
    nurse_id = None
    if email := r.text("primary_nurse_email", False, 254):
        nurse_id = cat.nurses.get(email.casefold())
        if nurse_id is None:
            r.fail("primary_nurse_email", "No active nurse has this e-mail.")
    phone = r.text("phone", False, 40)
    risk_text = r.raw("withdrawal_risk").casefold()
    risk = risk_text in YES
    if not risk and risk_text not in NO:
        r.fail("withdrawal_risk", "Write yes or no.")
    reason = r.text("withdrawal_risk_reason", risk, 300, " when withdrawal risk is yes")
    referral = r.date("referral_date", True)
    if referral and (referral > today or (birth and referral < birth)):
        r.fail("referral_date", "The referral date must be between birth and today.")
    stage = r.choice("stage", {s: STAGE_LABELS[s] for s in STAGES})
    if not stage and r.raw("stage").casefold() in ("exited", "exit"):
        r.issues[-1] = Issue(
            r.line,
            r.header("stage"),
            r.raw("stage"),
            "Only patients in the programme are "
            "imported (evaluation, trial, implantation, adjustment): record exits in the app.",
        )
    stage_since = r.date("stage_since", stage == TRIAL, " for a patient in trial")
    implanted = stage in IMPLANTED
    why = f" for a patient in {stage}"
    row = None
    if not r.issues:
        row = PatientRow(
            line=r.line,
            mrn=mrn,
            mrn_key=mrn_key(mrn),
            first_name=first_name,
            last_name=last_name,
            date_of_birth=birth,
            sex=sex,
            diagnosis=diagnosis,
            spasticity_origin=origin,
            location_id=location.id,
            location_is_clinic=location.kind == "clinic",
            nurse_id=nurse_id,
            phone=phone,
            withdrawal_risk=risk,
            withdrawal_risk_reason=reason,
            referral_date=referral,
            stage=stage,
            stage_since=stage_since or referral,
            given=frozenset(c.name for c in COLUMNS if r.raw(c.name)),
            headers=r.names,
        )
    if implanted:
        _check_pump(r, row, cat, today, why)
    elif row is not None:
        for name in (
            "pump_model",
            "pump_serial",
            "implanted_on",
            "last_refill_date",
            "next_refill_date",
            *PROGRAMME_AND_REFILL_CHECKS,
        ):
            if r.raw(name):
                r.fail(name, f"Only for a patient with a pump (implantation or adjustment), not {stage}.")
    if row is not None and stage_since and stage_since < referral:
        r.fail("stage_since", "The stage cannot begin before the referral.")
    if row is not None and stage_since and stage_since > today:
        r.fail("stage_since", "The stage cannot begin in the future.")
    if row is not None and stage == EVALUATION and stage_since and stage_since != referral:
        r.fail("stage_since", "In evaluation, the stage begins on the referral date.")
    if row is not None and implanted and row.implanted_on and not r.issues:
        if stage == IMPLANTATION and stage_since and stage_since != row.implanted_on:
            r.fail("stage_since", "In implantation, the stage begins on the implant date.")
        elif stage_since and stage_since < row.implanted_on:
            r.fail("stage_since", "Adjustment cannot begin before the implant date.")
        row.stage_since = stage_since or row.implanted_on
    if row is not None and implanted and not r.issues:
        _check_booking(r, row, cat, now)
    return row if not r.issues else None


def _location(r: _Line, name: str, cat: Catalogue, kind: str | None) -> LocationInfo | None:
    value = r.text(name, True, 120, "" if kind is None else " for a patient with a pump")
    if not value:
        return None
    found = cat.locations.get(value.casefold())
    if found is None or not found.active:
        r.fail(name, "No active location has this name.")
        return None
    if kind and found.kind != kind:
        r.fail(name, "This location is not a surgery centre.")
        return None
    return found


def _check_pump(r: _Line, row: PatientRow | None, cat: Catalogue, today: date, why: str) -> None:
    model = None
    if model_name := r.text("pump_model", True, 80, why):
        model = cat.pump_models.get(model_name.casefold())
        if model is None or not model.active:
            known = sorted(m.name for m in cat.pump_models.values() if m.active)
            r.fail("pump_model", f"Unknown pump model: use one of {', '.join(known)}.")
            model = None
    serial = r.text("pump_serial", True, 40, why)
    implanted_on = r.date("implanted_on", True, why)
    centre = _location(r, "surgery_centre", cat, "surgery_centre")
    surgeon = r.text("surgeon", False, 120)
    tip = r.text("catheter_tip_level", True, 10, why)
    alarm = r.number("alarm_volume_ml", False, 3, "mL")
    refill_on = r.date("last_refill_date", True, why)
    volume = r.number("last_refill_volume_ml", True, 3, "mL", why)
    concentration_dec = r.number("concentration_mcg_per_ml", True, 0, "mcg/mL", why)
    drug = None
    if concentration_dec is not None:
        drug = _pump_drug(r, "concentration_mcg_per_ml", concentration_dec, cat)
    dose, flex, bolus, boluses = _programme(r, why)
    fill = _fill_figures(r, model, cat)
    if model is not None:
        if volume is not None and volume > model.reservoir_ml:
            r.fail(
                "last_refill_volume_ml",
                f"{plain(volume)} mL is more than the {plain(model.reservoir_ml)} mL "
                f"reservoir of a {model.name} holds; never overfill.",
            )
        if volume is not None and volume <= 0:
            r.fail("last_refill_volume_ml", "The volume after a refill must be more than 0 mL.")
        if alarm is not None and alarm >= model.reservoir_ml:
            r.fail("alarm_volume_ml", f"The alarm volume must be below the {plain(model.reservoir_ml)} mL reservoir.")
    if implanted_on and row is not None:
        if implanted_on > today or implanted_on < row.referral_date:
            r.fail("implanted_on", "The implant date must be between the referral and today.")
    if refill_on:
        if refill_on > today:
            r.fail("last_refill_date", "The last refill cannot be in the future.")
        elif implanted_on and refill_on < implanted_on:
            r.fail("last_refill_date", "The last refill cannot be before the implant date.")
    if row is None or r.issues:
        return
    row.pump_model, row.pump_serial, row.implanted_on = model, serial, implanted_on
    row.surgery_centre_id, row.surgeon, row.catheter_tip_level = centre.id, surgeon, tip
    row.alarm_volume_ml = alarm if alarm is not None else model.default_alarm_ml
    row.last_refill_date, row.last_refill_volume_ml = refill_on, volume
    row.concentration_mcg_per_ml, row.daily_dose_mcg = int(concentration_dec), dose
    row.flex_schedule = flex.stored if flex is not None else None
    row.bolus_dose_mcg, row.max_boluses_per_day = bolus, boluses
    (
        row.expected_residual_ml,
        row.actual_residual_ml,
        row.volume_added_ml,
        row.previous_refill_volume_ml,
        row.previous_concentration_mcg_per_ml,
    ) = fill
    row.stability_days = drug.stability_days
    try:
        row.projection = engine.project_refill(refill_inputs(row, cat))
    except engine.RefillInputError as error:
        r.fail("last_refill_volume_ml", error.message)
        return
    row.warnings = last_refill_warnings(row, cat)


def _pump_drug(r: _Line, name: str, concentration: Decimal, cat: Catalogue) -> DrugInfo | None:
    drug = cat.drugs.get(int(concentration))
    if drug is None or not drug.active or drug.trial_only:
        pump_drugs = sorted(c for c, d in cat.drugs.items() if d.active and not d.trial_only)
        r.fail(
            name,
            f"Not a pump concentration in the drug catalogue: use one of {', '.join(map(str, pump_drugs))} mcg/mL.",
        )
        return None
    return drug


def _programme(r: _Line, why: str) -> tuple[Decimal | None, FlexSchedule | None, Decimal | None, int | None]:
    """(programmed mcg/day, flexible schedule, bolus mcg, boluses a day) as the dose form takes them."""
    flex = None
    if text := r.text("flex_schedule", False, 1000):
        try:
            flex = parse_flex(text)
        except (FlexTextError, engine.RefillInputError) as error:
            r.fail("flex_schedule", str(error))
    # With a schedule the dose per day is the schedule's own; a simple dose is required without one.
    dose = r.number("daily_dose_mcg", not text, 2, "mcg/day", why + " (or a flexible schedule)")
    if flex is not None:
        mean = programmed_mcg_per_day(flex.programme())
        if dose is not None and abs(dose - mean) > DOSE_ROUNDING_MCG:
            r.fail(
                "daily_dose_mcg",
                f"The flexible schedule gives {plain(mean)} mcg/day (the week's average), not "
                f"{plain(dose)}: leave daily_dose_mcg empty or make them agree.",
            )
        dose = mean
        if not (MIN_FLEX_DOSE_MCG <= dose <= MAX_DAILY_DOSE_MCG):
            r.fail(
                "flex_schedule",
                f"The schedule gives {plain(dose)} mcg/day: it must be {MIN_FLEX_DOSE_MCG} to "
                f"{MAX_DAILY_DOSE_MCG} mcg.",
            )
    elif dose is not None and not (0 < dose <= MAX_DAILY_DOSE_MCG):
        r.fail("daily_dose_mcg", f"The daily dose must be more than 0 and at most {MAX_DAILY_DOSE_MCG} mcg.")
    bolus = r.number("bolus_dose_mcg", False, 2, "mcg")
    boluses = r.number("max_boluses_per_day", False, 0, "boluses")
    if bolus is not None and bolus > MAX_BOLUS_MCG:
        r.fail("bolus_dose_mcg", f"A bolus is at most {MAX_BOLUS_MCG} mcg.")
    if boluses is not None and boluses > MAX_BOLUSES_PER_DAY:
        r.fail("max_boluses_per_day", f"At most {MAX_BOLUSES_PER_DAY} boluses a day.")
    # Half a PTM programme would leave the worst case out of the refill dates: both, or neither.
    if bolus and not r.raw("max_boluses_per_day"):
        r.fail("max_boluses_per_day", "Required with a bolus dose: how many boluses the patient may give a day.")
    if boluses and not r.raw("bolus_dose_mcg"):
        r.fail("bolus_dose_mcg", "Required with a maximum number of boluses: the dose of one bolus, in mcg.")
    return dose, flex, bolus, int(boluses) if boluses is not None else None


def _fill_figures(r: _Line, model: PumpModelInfo | None, cat: Catalogue) -> tuple:
    """The last refill's figures the refill form asks for: residuals, volume added, what the refill before left,
    the concentration before."""
    volumes = {
        name: r.number(name, False, 3, "mL")
        for name in ("expected_residual_ml", "actual_residual_ml", "volume_added_ml", "previous_refill_volume_ml")
    }
    previous = r.number("previous_concentration_mcg_per_ml", False, 0, "mcg/mL")
    if previous is not None and _pump_drug(r, "previous_concentration_mcg_per_ml", previous, cat) is None:
        previous = None
    expected, actual = volumes["expected_residual_ml"], volumes["actual_residual_ml"]
    if (expected is None) != (actual is None):
        missing = "expected_residual_ml" if expected is None else "actual_residual_ml"
        r.fail(missing, "Give both residuals, expected (from the programmer) and actual (aspirated), or neither.")
    for name, value in volumes.items():
        if model is not None and value is not None and value > model.reservoir_ml:
            r.fail(name, f"{plain(value)} mL is more than the {plain(model.reservoir_ml)} mL reservoir holds.")
    return (*volumes.values(), int(previous) if previous is not None else None)


def programmed_mcg_per_day(programme: engine.DoseProgramme) -> Decimal:
    """The programmed dose per day without boluses (flex: the week's mean) to 0.01 mcg, as the dose form
    stores it (tracker.services.refills.programmed_daily_dose)."""
    mean = programme.average_daily_dose_mcg() - programme.bolus_mcg_per_day()
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(Decimal("0.01"))


def last_refill_warnings(
    row: PatientRow,
    cat: Catalogue,
    previous_volume_ml: Decimal | None = None,
    previous_concentration: int | None = None,
) -> list[RowWarning]:
    """The refill visit's warnings on the row's last refill, each with its line and the file's column. What the
    refill before left and its concentration come from the file, else from the app (`previous_*`)."""
    at_implant = row.last_refill_date == row.implanted_on  # the first fill: no residual, no drug before it
    fill = LastRefill(
        reservoir_ml=row.pump_model.reservoir_ml,
        accuracy_fraction=row.pump_model.accuracy_fraction,
        resulting_volume_ml=row.last_refill_volume_ml,
        concentration_mcg_per_ml=row.concentration_mcg_per_ml,
        daily_dose_mcg=row.daily_dose_mcg,
        expected_residual_ml=None if at_implant else row.expected_residual_ml,
        actual_residual_ml=None if at_implant else row.actual_residual_ml,
        volume_added_ml=row.volume_added_ml,
        previous_volume_ml=_first(row.previous_refill_volume_ml, previous_volume_ml),
        previous_concentration_mcg_per_ml=None
        if at_implant
        else _first(row.previous_concentration_mcg_per_ml, previous_concentration),
    )
    columns = {"daily_dose_mcg": "flex_schedule"} if row.flex_schedule and "daily_dose_mcg" not in row.given else {}
    return row_warnings(
        row.line,
        fill,
        cat.checks,
        lambda name: row.headers.get(columns.get(name, name), name),
        lambda name: shown_value(row, columns.get(name, name)),
    )


def _first(*values):
    return next((v for v in values if v is not None), None)


def shown_value(row: PatientRow, name: str) -> str:
    """The row's figure for a column, written as a person would (warnings and update refusals show it)."""
    value = getattr(row, name, None)
    if name == "flex_schedule":
        return f"{plain(row.daily_dose_mcg)} mcg/day"
    return plain(value) if isinstance(value, Decimal) else ("" if value is None else str(value))


def programme_of(row: PatientRow) -> engine.DoseProgramme:
    """The row's dose programme for the refill engine: the simple dose or the schedule, plus every permitted
    bolus (domain.md 2: consumption is the programmed pattern plus the maximum boluses)."""
    boluses = {"bolus_dose_mcg": row.bolus_dose_mcg or Decimal(0), "max_boluses_per_day": row.max_boluses_per_day or 0}
    if row.flex_schedule:
        return from_stored(row.flex_schedule).programme(**boluses)
    return engine.DoseProgramme(daily_dose_mcg=row.daily_dose_mcg, **boluses)


def refill_inputs(row: PatientRow, cat: Catalogue) -> engine.RefillInputs:
    """The projection inputs for the row's last refill, as tracker.services.refills.projection_inputs builds
    them for a stored pump (the import test checks both agree)."""
    filled_at = start_of_day(row.last_refill_date, ZoneInfo(cat.tz))  # a date-only fill
    return engine.RefillInputs(
        fill_time=filled_at,
        reservoir_after_fill_ml=row.last_refill_volume_ml,
        concentration_mcg_per_ml=row.concentration_mcg_per_ml,
        doses=[engine.DosePeriod(filled_at, programme_of(row))],
        alarm_volume_ml=row.alarm_volume_ml,
        buffer_days=cat.high_risk_buffer_days if row.withdrawal_risk else cat.buffer_days,
        stability_days=row.stability_days,
        reservoir_capacity_ml=row.pump_model.reservoir_ml,
        tz=cat.tz,
    )


def _check_booking(r: _Line, row: PatientRow, cat: Catalogue, now: datetime) -> None:
    booked_on = r.date("next_refill_date", False)
    time_text = r.raw("next_refill_time")
    at = DEFAULT_BOOKING_TIME
    if time_text:
        match = _TIME.match(time_text)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            r.fail("next_refill_time", "Not a time: use HH:MM (24-hour), e.g. 14:30.")
            return
        at = time(int(match.group(1)), int(match.group(2)))
    row.next_refill_late_reason = r.text("next_refill_late_reason", False, 300)
    if booked_on is None:
        return
    if not row.location_is_clinic:
        r.fail("next_refill_date", "Refills are booked at the patient's home location, which is not a clinic.")
        return
    row.next_refill_at = datetime.combine(booked_on, at, ZoneInfo(cat.tz))
    check_booking_date(r, row, row.projection, now)


def check_booking_date(
    r: _Line | None, row: PatientRow, projection: engine.RefillProjection, now: datetime
) -> str | None:
    """The booking rules of tracker.services.bookings for a booked date: in the future, not after the alarm date
    (that needs a physician's override in the app), after the due date only with a reason. Returns the message."""
    booked_on = row.next_refill_at.date()
    verdict = refill_risk.booking_verdict(
        refill_risk.RefillDates(projection.due_date, projection.alarm_date, projection.empty_date),
        refill_risk.Booking(booked_on),
    )  # the same judgement as the booking form's
    message = None
    if row.next_refill_at <= now:
        message = "The next booked refill must be in the future."
    elif verdict in refill_risk.NEEDS_PHYSICIAN:
        message = (
            f"Booked on or after the pump's low-reservoir alarm ({fmt_date(projection.alarm_date)}): book it "
            "in the app, where a physician can override."
        )
    elif verdict != refill_risk.ON_TIME and not row.next_refill_late_reason:
        message = (
            f"Booked after the refill due date ({fmt_date(projection.due_date)}): say why in next_refill_late_reason."
        )
    if message and r is not None:
        r.fail("next_refill_date", message)
    return message


def unused_headers(headers: Iterable[str], mapping: dict[str, int | None]) -> list[str]:
    """File columns no template column reads (shown on the mapping and check pages, never imported)."""
    used = {i for i in mapping.values() if i is not None}
    return [h for i, h in enumerate(headers) if i not in used]
