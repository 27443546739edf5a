"""The refill what-if calculator: typed inputs in, one projection out, for the page and `flask refill-calc`.

Pure: no Flask, no database. The arithmetic and the warnings are tracker.clinical.refill's; this module only
checks the calculator's input ranges (once, for both the form and the CLI), builds the engine's inputs (a simple
or flexible schedule, patient-activated boluses, a fill time) and shapes the answer.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime, time
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.clinical.errors import (
    InvalidConcentration,
    InvalidDays,
    InvalidDose,
    InvalidFlexSchedule,
    InvalidTime,
    InvalidVolume,
    RefillInputError,
)
from tracker.clinical.flex_text import FlexSchedule, FlexTextError, parse_flex
from tracker.clinical.refill import DoseProgramme, RefillInputs, RefillProjection, project_refill
from tracker.clinical.refill_checks import RefillWarning, bridge_bolus_warning, dose_range_warning
from tracker.clinical.settings_spec import DEFAULT_ALARM_ML, DEFAULTS, STABILITY_DAYS
from tracker.formats import fmt_date

Number = Decimal | int | str
MAX_DECIMAL_PLACES = 4  # finer than any pump programmer; also keeps exact arithmetic small
# ITB pumps date from the 1990s; a date outside this window is a typo, and the projection must
# stay inside the calendar (date.max).
FIRST_FILL_DATE = date(1990, 1, 1)
MAX_SCHEDULE_TEXT = 2000  # seven days of 13 steps fit easily
LAST_FILL_DATE = date(2100, 12, 31)


@dataclass(frozen=True)
class Limit:
    """The accepted range of one calculator input."""

    label: str
    unit: str
    low: Decimal
    high: Decimal
    error: type[RefillInputError]
    whole: bool = False


# Wide enough for any real pump (20 and 40 mL reservoirs, 50-2000 mcg/mL) and compounded drugs.
LIMITS: dict[str, Limit] = {
    "reservoir_ml": Limit("Reservoir", "mL", Decimal("0.1"), Decimal(60), InvalidVolume),
    "fill_volume_ml": Limit("Fill volume", "mL", Decimal(0), Decimal(60), InvalidVolume),
    "concentration_mcg_per_ml": Limit(
        "Concentration", "mcg/mL", Decimal(1), Decimal(5000), InvalidConcentration, whole=True
    ),
    "previous_concentration_mcg_per_ml": Limit(
        "Previous concentration", "mcg/mL", Decimal(1), Decimal(5000), InvalidConcentration, whole=True
    ),
    "dose_mcg_per_day": Limit("Daily dose", "mcg/day", Decimal("0.01"), Decimal(5000), InvalidDose),
    # As the dose form: a bolus up to 500 mcg, up to 24 a day.
    "bolus_dose_mcg": Limit("Bolus dose", "mcg", Decimal(0), Decimal(500), InvalidDose),
    "max_boluses_per_day": Limit("Boluses a day", "", Decimal(0), Decimal(24), InvalidDose, whole=True),
    "alarm_volume_ml": Limit("Alarm volume", "mL", Decimal(0), Decimal(10), InvalidVolume),
    "buffer_days": Limit("Safety buffer", "days", Decimal(0), Decimal(60), InvalidDays, whole=True),
    "stability_days": Limit("Drug stability", "days", Decimal(1), Decimal(365), InvalidDays, whole=True),
}

# The refill core names its inputs after the pump; the calculator after what the user types.
_CORE_FIELDS = {
    "reservoir_capacity_ml": "reservoir_ml",
    "reservoir_after_fill_ml": "fill_volume_ml",
    "daily_dose_mcg": "dose_mcg_per_day",
    "flex_steps": "flex_schedule",
    "flex_by_weekday": "flex_schedule",
    "rate_mcg_per_hour": "flex_schedule",
    "fill_time": "fill_time",
}
_SEVERITY_ORDER = {"high": 0, "medium": 1, "low": 2}


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _mcg(value: Fraction) -> str:
    """A dose in mcg as a clinician writes it: 100, 12.5, 171.43."""
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return _text(exact.quantize(Decimal("0.01")))


def _day(d: date) -> str:
    return fmt_date(d)


def _unit(limit: Limit, before: str) -> str:
    return f"{before}{limit.unit}" if limit.unit else ""


def _given(value) -> bool:
    return value is not None and not (isinstance(value, str) and not value.strip())


def check(name: str, value: Number) -> Decimal | int:
    """One calculator input as an exact number inside its range; RefillInputError naming `name` otherwise."""
    limit = LIMITS[name]
    if isinstance(value, str):
        text = value.strip()
        try:
            # The length cap keeps a pasted essay from becoming a million-digit number.
            number = Decimal(text) if len(text) <= 30 else None
        except InvalidOperation:
            number = None
        if number is None:
            raise limit.error(f"{limit.label} is not a number: {value[:30]!r}.", name)
    elif isinstance(value, (Decimal, int)) and not isinstance(value, bool):
        number = Decimal(value)
    else:  # floats too: 0.1 as a float is not 0.1
        raise limit.error(f"{limit.label} must be an exact number, not {type(value).__name__}.", name)
    if not number.is_finite():
        raise limit.error(f"{limit.label} is not a number: {value!s}.", name)
    if not limit.low <= number <= limit.high:
        if number <= 0 < limit.low:
            raise limit.error(f"{limit.label} must be more than 0{_unit(limit, ' ')}.", name)
        raise limit.error(
            f"{limit.label} must be from {_text(limit.low)} to {_text(limit.high)}{_unit(limit, ' ')}.", name
        )
    if limit.whole:
        if number != number.to_integral_value():
            raise limit.error(f"{limit.label} must be a whole number{_unit(limit, ' of ')}.", name)
        return int(number)
    if number.normalize().as_tuple().exponent < -MAX_DECIMAL_PLACES:
        raise limit.error(f"{limit.label} can have at most {MAX_DECIMAL_PLACES} decimal places.", name)
    return number


def _optional(name: str, value: Number | None) -> Decimal | int | None:
    return check(name, value) if _given(value) else None


def check_fill_date(value: date | str) -> date:
    """The fill date as a date inside the plausible window; InvalidTime otherwise."""
    if isinstance(value, str):
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise InvalidTime(f"Fill date {value[:30]!r} is not a date: use YYYY-MM-DD.", "fill_date")
        try:
            value = date.fromisoformat(value.strip())
        except ValueError:
            raise InvalidTime(f"Fill date {value.strip()} is not a real date.", "fill_date") from None
    if not isinstance(value, date) or isinstance(value, datetime):
        raise InvalidTime("The fill date must be a date (YYYY-MM-DD).", "fill_date")
    if not FIRST_FILL_DATE <= value <= LAST_FILL_DATE:
        raise InvalidTime(
            f"Fill date must be from {FIRST_FILL_DATE.isoformat()} to {LAST_FILL_DATE.isoformat()}.", "fill_date"
        )
    return value


def check_fill_time(value: time | str | None) -> time | None:
    """The clinic's wall-clock time of the fill, or None (a date alone counts from midnight, as everywhere)."""
    if not _given(value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d{2}:\d{2}", text):
            raise InvalidTime(f"Fill time {value[:30]!r} is not a time: use HH:MM (24-hour clock).", "fill_time")
        try:
            value = time.fromisoformat(text)
        except ValueError:
            raise InvalidTime(f"Fill time {text} is not a real time of day.", "fill_time") from None
    if not isinstance(value, time) or value.tzinfo is not None:
        raise InvalidTime("The fill time must be a clinic wall-clock time (HH:MM).", "fill_time")
    return value


def read_schedule(text: str) -> FlexSchedule:
    """A flexible schedule in the import's format (tracker.clinical.flex_text), one step a line as on the dose form
    or separated by ";"; InvalidFlexSchedule (or the engine's own error) on the flex_schedule field otherwise."""
    if len(text) > MAX_SCHEDULE_TEXT:
        raise InvalidFlexSchedule(f"The schedule is too long: at most {MAX_SCHEDULE_TEXT} characters.", "flex_schedule")
    try:
        return parse_flex(re.sub(r"[\r\n]+", ";", text))
    except FlexTextError as error:
        raise InvalidFlexSchedule(str(error), "flex_schedule") from None
    except RefillInputError as error:
        raise type(error)(error.message, "flex_schedule") from None


def default_inputs(fill_date: date, buffer_days: int) -> dict:
    """Where the page starts: a 20 mL pump filled with 500 mcg/mL (the usual start) at 300 mcg/day."""
    return {
        "reservoir_ml": Decimal(20),
        "fill_volume_ml": Decimal(20),
        "concentration_mcg_per_ml": 500,
        "dose_mcg_per_day": Decimal(300),
        "alarm_volume_ml": DEFAULT_ALARM_ML.default,
        "buffer_days": buffer_days,
        "stability_days": STABILITY_DAYS.default,
        "fill_date": fill_date,
    }


def usual_dose(settings: dict) -> tuple[int, int]:
    """The clinic's usual daily dose range, for the engine's dose-range warning (the page's and the command's)."""
    return settings["usual_dose_min_mcg_per_day"], settings["usual_dose_max_mcg_per_day"]


@dataclass(frozen=True)
class WhatIf:
    """A projection plus the calculator's warnings; `as_dict()` is the JSON the CLI prints."""

    projection: RefillProjection
    warnings: tuple[RefillWarning, ...]

    @property
    def days_to_alarm(self) -> int | None:
        """Whole days from the fill date to the alarm date (None: beyond the horizon)."""
        alarm = self.projection.alarm_date
        return None if alarm is None else (alarm - self.projection.fill_date).days

    @property
    def days_to_due(self) -> int:
        return (self.projection.due_date - self.projection.fill_date).days

    @property
    def daily_volume_ml(self) -> str:
        """mL/day without trailing zeros: "0.6", not "0.6000"."""
        return _text(self.projection.daily_volume_ml)

    @property
    def fill_clock(self) -> str | None:
        """The fill's wall-clock time ("14:30") when one was given."""
        inputs = self.projection.inputs
        if not isinstance(inputs.fill_time, datetime):
            return None
        return f"{inputs.fill_time.astimezone(inputs.zone()):%H:%M}"

    def as_dict(self) -> dict:
        p = self.projection
        return {
            "fill_date": p.fill_date.isoformat(),
            "daily_volume_ml": self.daily_volume_ml,
            "days_to_alarm": self.days_to_alarm,
            "alarm_date": p.alarm_date.isoformat() if p.alarm_date else None,
            "empty_date": p.empty_date.isoformat() if p.empty_date else None,
            "stability_date": p.stability_date.isoformat(),
            "due_date": p.due_date.isoformat(),
            "binding_rule": p.binding_rule,
            "explanation": p.explanation,
            "warnings": [asdict(w) for w in self.warnings],
        }


def _due_at_fill_warning(projection: RefillProjection) -> RefillWarning | None:
    if projection.due_date > projection.fill_date:
        return None
    alarm = projection.alarm_date
    if projection.binding_rule == "stability":
        reason = "the drug stability limit ends on the fill date"
    elif alarm == projection.fill_date:
        reason = "the fill is already at or below the alarm volume"
    else:
        reason = f"the alarm on {_day(alarm)} falls within the {projection.inputs.buffer_days}-day buffer"
    return RefillWarning("due_at_fill", "high", f"A refill would be due on the fill date itself: {reason}.")


def _boluses_note(programme: DoseProgramme, programmed_mcg: Fraction) -> RefillWarning | None:
    """Say that the dates count every permitted bolus (the engine's worst case), so nobody reads them as the
    programmed dose alone."""
    bolus_mcg = programme.bolus_mcg_per_day()
    if not bolus_mcg:
        return None
    schedule = "the flexible schedule's" if programme.daily_dose_mcg is None else "the programmed"
    mean = " (mean over the week)" if programme.daily_dose_mcg is None else ""
    return RefillWarning(
        "boluses_included",
        "low",
        f"The dates include every permitted bolus (up to {programme.max_boluses_per_day} of "
        f"{_mcg(Fraction(programme.bolus_dose_mcg))} mcg a day): {_mcg(bolus_mcg)} mcg/day on top of {schedule} "
        f"{_mcg(programmed_mcg)} mcg/day{mean}, {_mcg(programme.average_daily_dose_mcg())} mcg/day in all.",
    )


def _fill(day: date, clock: time | None, tz: str) -> date | datetime:
    if clock is None:
        return day  # the engine counts a date from the clinic's midnight
    try:
        return datetime.combine(day, clock, ZoneInfo(tz))
    except (ZoneInfoNotFoundError, ValueError):
        raise RefillInputError(f"Unknown time zone {tz!r}.", "tz") from None


def _boluses(bolus_dose_mcg: Number | None, max_boluses_per_day: Number | None) -> tuple[Decimal, int]:
    """Both halves of a bolus programme, or neither: a dose without a count would silently count no boluses."""
    dose, count = _optional("bolus_dose_mcg", bolus_dose_mcg), _optional("max_boluses_per_day", max_boluses_per_day)
    if dose and count is None:
        raise InvalidDose(
            "Enter the maximum boluses a day too (0 if the patient may take none).", "max_boluses_per_day"
        )
    if count and dose is None:
        raise InvalidDose("Enter the bolus dose too.", "bolus_dose_mcg")
    return dose or Decimal(0), count or 0


def what_if(
    reservoir_ml: Number,
    fill_volume_ml: Number,
    concentration_mcg_per_ml: Number,
    dose_mcg_per_day: Number | None,
    alarm_volume_ml: Number,
    buffer_days: Number,
    stability_days: Number,
    fill_date: date | str,
    tz: str,
    *,
    fill_time: time | str | None = None,
    flex_schedule: str | None = None,
    bolus_dose_mcg: Number | None = None,
    max_boluses_per_day: Number | None = None,
    previous_concentration_mcg_per_ml: Number | None = None,
    usual_dose_mcg: tuple[Number, Number] = (
        DEFAULTS["usual_dose_min_mcg_per_day"],
        DEFAULTS["usual_dose_max_mcg_per_day"],
    ),
) -> WhatIf:
    """Check the inputs, project the refill with the engine and collect the engine's warnings.

    Give `dose_mcg_per_day` or `flex_schedule` (see `read_schedule`), not both. A bolus dose and
    a maximum a day count every permitted bolus, every day, as the engine does for a patient."""
    values = {
        name: check(name, value)
        for name, value in (
            ("reservoir_ml", reservoir_ml),
            ("fill_volume_ml", fill_volume_ml),
            ("concentration_mcg_per_ml", concentration_mcg_per_ml),
            ("alarm_volume_ml", alarm_volume_ml),
            ("buffer_days", buffer_days),
            ("stability_days", stability_days),
        )
    }
    dose = _optional("dose_mcg_per_day", dose_mcg_per_day)
    previous = _optional("previous_concentration_mcg_per_ml", previous_concentration_mcg_per_ml)
    bolus_mcg, boluses = _boluses(bolus_dose_mcg, max_boluses_per_day)
    fill = _fill(check_fill_date(fill_date), check_fill_time(fill_time), tz)
    try:
        flex = read_schedule(flex_schedule) if _given(flex_schedule) else None
        programme = DoseProgramme(
            daily_dose_mcg=dose,
            flex_steps=flex.steps if flex else (),
            flex_by_weekday=flex.by_weekday if flex else {},
            bolus_dose_mcg=bolus_mcg,
            max_boluses_per_day=boluses,
        )
        projection = project_refill(
            RefillInputs(
                fill_time=fill,
                reservoir_after_fill_ml=values["fill_volume_ml"],
                reservoir_capacity_ml=values["reservoir_ml"],
                concentration_mcg_per_ml=values["concentration_mcg_per_ml"],
                doses=programme,
                alarm_volume_ml=values["alarm_volume_ml"],
                buffer_days=values["buffer_days"],
                stability_days=values["stability_days"],
                tz=tz,
            )
        )
    except RefillInputError as error:
        # Same error class (OverfillRefused stays OverfillRefused), blamed on the calculator's field.
        raise type(error)(error.message, _CORE_FIELDS.get(error.field, error.field)) from error
    # The usual range is about the programmed dose, as at a refill visit or a dose change (boluses apart).
    programmed_mcg = replace(programme, bolus_dose_mcg=0, max_boluses_per_day=0).average_daily_dose_mcg()
    found = (
        bridge_bolus_warning(previous, values["concentration_mcg_per_ml"]) if previous is not None else None,
        _due_at_fill_warning(projection),
        dose_range_warning(programmed_mcg, *usual_dose_mcg),
        _boluses_note(programme, programmed_mcg),
    )
    warnings = sorted((w for w in found if w is not None), key=lambda w: _SEVERITY_ORDER[w.severity])
    return WhatIf(projection, tuple(warnings))


def calculate(*args, **kwargs) -> dict:
    """The what-if answer as JSON-able data (what_if's arguments): ISO dates, Decimals as strings, warnings as
    dicts."""
    return what_if(*args, **kwargs).as_dict()
