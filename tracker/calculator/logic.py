"""The refill what-if calculator: typed inputs in, one projection out, for the page and `flask refill-calc`.

Pure: no Flask, no database. The arithmetic is tracker.clinical.refill's; this module only checks the
calculator's input ranges (once, for both the form and the CLI) and shapes the answer.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from tracker.clinical.refill import (
    DEFAULTS,
    DoseProgramme,
    InvalidConcentration,
    InvalidDays,
    InvalidDose,
    InvalidTime,
    InvalidVolume,
    RefillInputError,
    RefillInputs,
    RefillProjection,
    RefillWarning,
    dose_range_warning,
    project_refill,
)

Number = Decimal | int | str
MAX_DECIMAL_PLACES = 4  # finer than any pump programmer; also keeps exact arithmetic small
# ITB pumps date from the 1990s; a date outside this window is a typo, and the projection must
# stay inside the calendar (date.max).
FIRST_FILL_DATE = date(1990, 1, 1)
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
    "dose_mcg_per_day": Limit("Daily dose", "mcg/day", Decimal("0.01"), Decimal(5000), InvalidDose),
    "alarm_volume_ml": Limit("Alarm volume", "mL", Decimal(0), Decimal(10), InvalidVolume),
    "buffer_days": Limit("Safety buffer", "days", Decimal(0), Decimal(60), InvalidDays, whole=True),
    "stability_days": Limit("Drug stability", "days", Decimal(1), Decimal(365), InvalidDays, whole=True),
}

# The refill core names its inputs after the pump; the calculator after what the user types.
_CORE_FIELDS = {
    "reservoir_capacity_ml": "reservoir_ml",
    "reservoir_after_fill_ml": "fill_volume_ml",
    "daily_dose_mcg": "dose_mcg_per_day",
    "fill_time": "fill_date",
}


def _text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def _day(d: date) -> str:
    return f"{d.day} {d:%b %Y}"


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
            raise limit.error(f"{limit.label} must be more than 0 {limit.unit}.", name)
        raise limit.error(
            f"{limit.label} must be from {_text(limit.low)} to {_text(limit.high)} {limit.unit}.", name
        )
    if limit.whole:
        if number != number.to_integral_value():
            raise limit.error(f"{limit.label} must be a whole number of {limit.unit}.", name)
        return int(number)
    if number.normalize().as_tuple().exponent < -MAX_DECIMAL_PLACES:
        raise limit.error(f"{limit.label} can have at most {MAX_DECIMAL_PLACES} decimal places.", name)
    return number


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


def default_inputs(fill_date: date, buffer_days: int) -> dict:
    """Where the page starts: a 20 mL pump filled with 500 mcg/mL (the usual start) at 300 mcg/day."""
    return {
        "reservoir_ml": Decimal(20),
        "fill_volume_ml": Decimal(20),
        "concentration_mcg_per_ml": 500,
        "dose_mcg_per_day": Decimal(300),
        "alarm_volume_ml": DEFAULTS.alarm_volume_ml,
        "buffer_days": buffer_days,
        "stability_days": DEFAULTS.stability_days,
        "fill_date": fill_date,
    }


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


def what_if(
    reservoir_ml: Number,
    fill_volume_ml: Number,
    concentration_mcg_per_ml: Number,
    dose_mcg_per_day: Number,
    alarm_volume_ml: Number,
    buffer_days: Number,
    stability_days: Number,
    fill_date: date | str,
    tz: str,
) -> WhatIf:
    """Check the inputs, project the refill and collect its warnings."""
    values = {
        name: check(name, value)
        for name, value in (
            ("reservoir_ml", reservoir_ml),
            ("fill_volume_ml", fill_volume_ml),
            ("concentration_mcg_per_ml", concentration_mcg_per_ml),
            ("dose_mcg_per_day", dose_mcg_per_day),
            ("alarm_volume_ml", alarm_volume_ml),
            ("buffer_days", buffer_days),
            ("stability_days", stability_days),
        )
    }
    try:
        projection = project_refill(
            RefillInputs(
                fill_time=check_fill_date(fill_date),
                reservoir_after_fill_ml=values["fill_volume_ml"],
                reservoir_capacity_ml=values["reservoir_ml"],
                concentration_mcg_per_ml=values["concentration_mcg_per_ml"],
                doses=DoseProgramme(daily_dose_mcg=values["dose_mcg_per_day"]),
                alarm_volume_ml=values["alarm_volume_ml"],
                buffer_days=values["buffer_days"],
                stability_days=values["stability_days"],
                tz=tz,
            )
        )
    except RefillInputError as error:
        # Same error class (OverfillRefused stays OverfillRefused), blamed on the calculator's field.
        raise type(error)(error.message, _CORE_FIELDS.get(error.field, error.field)) from error
    warnings = (dose_range_warning(values["dose_mcg_per_day"]), _due_at_fill_warning(projection))
    return WhatIf(projection, tuple(w for w in warnings if w is not None))


def calculate(
    reservoir_ml: Number,
    fill_volume_ml: Number,
    concentration_mcg_per_ml: Number,
    dose_mcg_per_day: Number,
    alarm_volume_ml: Number,
    buffer_days: Number,
    stability_days: Number,
    fill_date: date | str,
    tz: str,
) -> dict:
    """The what-if answer as JSON-able data: ISO dates, Decimals as strings, warnings as dicts."""
    return what_if(
        reservoir_ml, fill_volume_ml, concentration_mcg_per_ml, dose_mcg_per_day, alarm_volume_ml,
        buffer_days, stability_days, fill_date, tz,
    ).as_dict()
