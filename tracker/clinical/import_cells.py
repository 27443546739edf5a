"""Reading one line of an import file (issue #9): typed cells, each problem an Issue under the file's own header,
and what a valid line becomes (`PatientRow`), with the catalogue names are looked up in. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from tracker.clinical import refill
from tracker.clinical.import_checks import RefillChecks, RowWarning
from tracker.clinical.import_columns import COLUMN_BY_NAME, Issue
from tracker.clinical.settings_spec import ACCURACY_FRACTION


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
    projection: refill.RefillProjection | None = None
    stability_days: int | None = None
    headers: dict[str, str] = field(default_factory=dict)  # template column -> the file's header (shared)
    warnings: list[RowWarning] = field(default_factory=list)  # the refill visit's checks on the last refill


_ISO = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")
_US = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")
TIME = re.compile(r"^(\d{1,2}):(\d{2})$")
EARLIEST = date(1900, 1, 1)
YES = {"yes", "y", "true", "1", "x"}
NO = {"no", "n", "false", "0", ""}
SEX_ALIASES = {"f": "female", "m": "male", "u": "unknown"}


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


class LineReader:
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
        # Each mapped cell stripped once: the checks read most cells several times.
        self.values = {
            name: cells[index].strip() for name, index in mapping.items() if index is not None and index < len(cells)
        }
        self.names = names or {}  # template column -> the file's header, one dict for every line
        self.issues: list[Issue] = []

    def header(self, name: str) -> str:
        index = self.mapping.get(name)
        return self.headers[index] if index is not None else COLUMN_BY_NAME[name].name

    def raw(self, name: str) -> str:
        return self.values.get(name, "")

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


def location_cell(r: LineReader, name: str, cat: Catalogue, kind: str | None) -> LocationInfo | None:
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
