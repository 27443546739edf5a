"""Refill arithmetic for intrathecal baclofen pumps (domain.md sections 2-4).

Pure and exact: Fraction inside, Decimal out, never a float; no Flask, no database.

Time model, one rule everywhere: drug is consumed per elapsed second from the fill
instant; flex steps follow the clinic-local wall clock (so a DST day has 23 or 25
hours). A projected date is the clinic-local fill date plus the whole elapsed days,
rounded down, and never later than the local date of the exact instant: a refill may
come a day early, never a day late. A fill given as a date starts at local midnight.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_FLOOR, Decimal
from fractions import Fraction
from itertools import accumulate, pairwise
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from tracker.clinical.days import start_of_day
from tracker.clinical.errors import (
    InvalidConcentration,
    InvalidDays,
    InvalidDose,
    InvalidFlexSchedule,
    InvalidTime,
    InvalidVolume,
    OverfillRefused,
    RefillInputError,
)
from tracker.clinical.exact import Number, at_least_zero, exact, plain, rounded
from tracker.clinical.settings_spec import DEFAULT_ALARM_ML, DEFAULTS, STABILITY_DAYS
from tracker.formats import fmt_date, fmt_day_month

DAY_S = 86400
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


# The engine's own bounds (not clinic settings); the clinic-editable defaults are in settings_spec.
DEFAULT_TZ = "America/New_York"  # when a caller gives none; the app passes config.CLINIC_TIMEZONE
MAX_FLEX_STEPS = 13  # pumps allow up to 13 rate changes a day
HORIZON_DAYS = 1826  # 5 years: beyond any drug-stability limit


def _whole_days(value: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= HORIZON_DAYS:
        raise InvalidDays(f"{name} must be whole days from 0 to {HORIZON_DAYS}.", name)
    return value


def _seconds_of_day(t: time) -> Fraction:
    return Fraction(t.hour * 3600 + t.minute * 60 + t.second) + Fraction(t.microsecond, 10**6)


@dataclass(frozen=True)
class FlexStep:
    """Rate from `start` (clinic wall clock) until the next step's start."""

    start: time
    rate_mcg_per_hour: Number

    def __post_init__(self) -> None:
        at_least_zero(self.rate_mcg_per_hour, "rate_mcg_per_hour", InvalidDose)


@dataclass(frozen=True)
class DoseProgramme:
    """Simple (`daily_dose_mcg`) or flexible (steps; by weekday 0=Monday) + worst-case boluses."""

    daily_dose_mcg: Number | None = None
    flex_steps: Sequence[FlexStep] = ()  # days without their own entry in flex_by_weekday
    flex_by_weekday: Mapping[int, Sequence[FlexStep]] = field(default_factory=dict)
    bolus_dose_mcg: Number = 0
    max_boluses_per_day: int = 0

    def __post_init__(self) -> None:
        flexible = bool(self.flex_steps or self.flex_by_weekday)
        if flexible == (self.daily_dose_mcg is not None):
            raise InvalidDose("Give either a daily dose or a flexible schedule, not both or neither.", "daily_dose_mcg")
        if not flexible and exact(self.daily_dose_mcg, "daily_dose_mcg") <= 0:
            raise InvalidDose("The daily dose must be more than 0 mcg.", "daily_dose_mcg")
        if any(day not in range(7) for day in self.flex_by_weekday):
            raise InvalidFlexSchedule("Weekdays are numbered 0 (Monday) to 6 (Sunday).", "flex_by_weekday")
        for day in range(7) if flexible else ():
            if not self.steps_for(day):
                raise InvalidFlexSchedule(f"No flex steps for {_WEEKDAYS[day]}: add a default schedule.", "flex_steps")
            self._check_steps(self.steps_for(day), "flex_by_weekday" if day in self.flex_by_weekday else "flex_steps")
        at_least_zero(self.bolus_dose_mcg, "bolus_dose_mcg", InvalidDose)
        count = self.max_boluses_per_day
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise InvalidDose("max_boluses_per_day must be a whole number, 0 or more.", "max_boluses_per_day")

    def _check_steps(self, steps: Sequence[FlexStep], name: str) -> None:
        if len(steps) > MAX_FLEX_STEPS:
            raise InvalidFlexSchedule(f"At most {MAX_FLEX_STEPS} flex steps a day; got {len(steps)}.", name)
        if steps[0].start != time(0):
            raise InvalidFlexSchedule("The first flex step must start at 00:00 so the whole day is covered.", name)
        for before, after in pairwise(steps):
            if after.start <= before.start:
                raise InvalidFlexSchedule(
                    f"Flex steps must start later and later: {after.start:%H:%M} follows {before.start:%H:%M}.", name
                )
        if self._steps_dose(steps) <= 0:
            raise InvalidDose("Each day's flexible schedule must deliver more than 0 mcg.", name)

    def steps_for(self, weekday: int) -> Sequence[FlexStep]:
        """The flex steps for a weekday (0=Monday), falling back to `flex_steps`."""
        return self.flex_by_weekday.get(weekday, self.flex_steps)

    @staticmethod
    def _steps_dose(steps: Sequence[FlexStep]) -> Fraction:
        starts = [_seconds_of_day(s.start) for s in steps] + [Fraction(DAY_S)]
        rates = [exact(s.rate_mcg_per_hour, "rate_mcg_per_hour") for s in steps]
        return sum(rate * (b - a) for rate, (a, b) in zip(rates, pairwise(starts), strict=True)) / 3600

    def bolus_mcg_per_day(self) -> Fraction:
        """Worst case: every permitted bolus, every day."""
        return exact(self.bolus_dose_mcg, "bolus_dose_mcg") * self.max_boluses_per_day

    def average_daily_dose_mcg(self) -> Fraction:
        """Programmed dose per day (flex: mean of the 7 weekdays), plus worst-case boluses."""
        if self.daily_dose_mcg is not None:
            base = exact(self.daily_dose_mcg, "daily_dose_mcg")
        else:
            base = sum(self._steps_dose(self.steps_for(day)) for day in range(7)) / 7
        return base + self.bolus_mcg_per_day()


@dataclass(frozen=True)
class DosePeriod:
    """A programme in force from `effective` (aware) until the next period."""

    effective: datetime
    programme: DoseProgramme

    def __post_init__(self) -> None:
        if self.effective.utcoffset() is None:
            raise InvalidTime("A dose change needs a time zone (aware datetime).", "effective")


@dataclass(frozen=True)
class RefillInputs:
    """Everything a refill projection depends on; validated on construction."""

    fill_time: datetime | date  # aware datetime, or a clinic-local date (starts at midnight)
    reservoir_after_fill_ml: Number
    concentration_mcg_per_ml: Number
    doses: DoseProgramme | Sequence[DosePeriod]  # one programme, or a dose ledger
    alarm_volume_ml: Number = DEFAULT_ALARM_ML.default
    buffer_days: int = DEFAULTS["safety_buffer_days"]
    stability_days: int = STABILITY_DAYS.default
    reservoir_capacity_ml: Number | None = None
    tz: str = DEFAULT_TZ
    # Drug used per drug programmed, when the last refill found more gone than the pump's accuracy allows
    # (measured_use): the interval is projected at that measured rate, so its dates come earlier.
    rate_factor: Number = 1
    notes: tuple[str, ...] = ()  # sentences the date's explanation must carry (measured rate, fill volume)

    def __post_init__(self) -> None:
        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise RefillInputError(f"Unknown time zone {self.tz!r}.", "tz") from None
        if isinstance(self.fill_time, datetime) and self.fill_time.utcoffset() is None:
            raise InvalidTime("The fill time needs a time zone (aware datetime).", "fill_time")
        fill_ml = at_least_zero(self.reservoir_after_fill_ml, "reservoir_after_fill_ml", InvalidVolume)
        if exact(self.concentration_mcg_per_ml, "concentration_mcg_per_ml") <= 0:
            raise InvalidConcentration("The concentration must be more than 0 mcg/mL.", "concentration_mcg_per_ml")
        at_least_zero(self.alarm_volume_ml, "alarm_volume_ml", InvalidVolume)
        _whole_days(self.buffer_days, "buffer_days")
        _whole_days(self.stability_days, "stability_days")
        if exact(self.rate_factor, "rate_factor") < 1:
            raise RefillInputError("The measured rate factor cannot be below 1 (never project later).", "rate_factor")
        if self.reservoir_capacity_ml is not None:
            capacity = exact(self.reservoir_capacity_ml, "reservoir_capacity_ml")
            if capacity <= 0:
                raise InvalidVolume("The reservoir capacity must be more than 0 mL.", "reservoir_capacity_ml")
            if fill_ml > capacity:
                raise OverfillRefused(
                    f"{plain(fill_ml)} mL is more than the {plain(capacity)} mL reservoir holds; never overfill.",
                    "reservoir_after_fill_ml",
                )
        if isinstance(self.doses, DoseProgramme):
            return
        times = [p.effective for p in self.doses]
        if len(set(times)) != len(times):
            raise InvalidTime("Two dose changes take effect at the same time.", "doses")
        if not any(t <= self.fill_instant() for t in times):
            raise InvalidTime("No dose programme is in force at the fill time.", "doses")

    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def fill_instant(self) -> datetime:
        """The fill as an aware UTC datetime."""
        if isinstance(self.fill_time, datetime):
            return self.fill_time.astimezone(UTC)
        return start_of_day(self.fill_time, self.zone()).astimezone(UTC)

    def fill_date(self) -> date:
        """The clinic-local date of the fill."""
        return self.fill_instant().astimezone(self.zone()).date()

    def periods(self) -> list[tuple[Fraction, DoseProgramme]]:
        """(seconds after the fill, programme) from the programme in force at the fill on."""
        if isinstance(self.doses, DoseProgramme):
            return [(Fraction(0), self.doses)]
        fill = self.fill_instant()
        ledger = sorted(self.doses, key=lambda p: p.effective)
        first = max(i for i, p in enumerate(ledger) if p.effective <= fill)
        return [(max(Fraction(0), _offset(p.effective, fill)), p.programme) for p in ledger[first:]]


def _offset(when: datetime, fill: datetime) -> Fraction:
    # Subtract in UTC: aware datetimes sharing a tzinfo subtract as wall-clock time.
    delta = when.astimezone(UTC) - fill
    return Fraction(delta.days * DAY_S + delta.seconds) + Fraction(delta.microseconds, 10**6)


def _after(fill: datetime, seconds: Fraction) -> datetime:
    return fill + timedelta(microseconds=math.floor(seconds * 10**6))  # floor: never later


def _rates(inputs: RefillInputs, end: Fraction) -> Iterator[tuple[Fraction, Fraction, Fraction]]:
    """(start, stop, mL per second) pieces in seconds after the fill, up to `end`."""
    # A measured over-infusion scales every rate: mL per second = mcg per second x factor / concentration.
    concentration = exact(inputs.concentration_mcg_per_ml, "concentration_mcg_per_ml") / exact(
        inputs.rate_factor, "rate_factor"
    )
    fill, zone, periods = inputs.fill_instant(), inputs.zone(), inputs.periods()
    for i, (start, programme) in enumerate(periods):
        stop = min(periods[i + 1][0] if i + 1 < len(periods) else end, end)
        if start >= stop:
            continue
        # Boluses are spread over the day: at day resolution this equals their daily total.
        bolus = programme.bolus_mcg_per_day() / DAY_S
        if programme.daily_dose_mcg is not None:
            yield start, stop, (exact(programme.daily_dose_mcg, "daily_dose_mcg") / DAY_S + bolus) / concentration
            continue
        day = _after(fill, start).astimezone(zone).date() - timedelta(days=1)
        while True:
            steps = programme.steps_for(day.weekday())
            starts = [datetime.combine(day, s.start, zone) for s in steps]
            starts.append(datetime.combine(day + timedelta(days=1), time(0), zone))
            # max() keeps boundaries ordered when a step start falls in a spring-forward gap.
            bounds = list(accumulate((_offset(t, fill) for t in starts), max))
            for step, (a, b) in zip(steps, pairwise(bounds), strict=True):
                a, b = max(a, start), min(b, stop)
                if a < b:
                    mcg_per_s = exact(step.rate_mcg_per_hour, "rate_mcg_per_hour") / 3600
                    yield a, b, (mcg_per_s + bolus) / concentration
            if bounds[-1] >= stop:
                break
            day += timedelta(days=1)


def _seconds_until(inputs: RefillInputs, level_ml: Fraction, end: Fraction) -> Fraction | None:
    """Seconds after the fill when the reservoir first falls to `level_ml`; None if after `end`."""
    remaining = exact(inputs.reservoir_after_fill_ml, "reservoir_after_fill_ml")
    if remaining <= level_ml:
        return Fraction(0)  # at or below the level already: it is reached at the fill
    for a, b, rate in _rates(inputs, end):
        if remaining - rate * (b - a) <= level_ml:
            return a + (remaining - level_ml) / rate
        remaining -= rate * (b - a)
    return None


def _date_after(inputs: RefillInputs, seconds: Fraction) -> date:
    by_days = inputs.fill_date() + timedelta(days=math.floor(seconds / DAY_S))
    by_clock = _after(inputs.fill_instant(), seconds).astimezone(inputs.zone()).date()
    return min(by_days, by_clock)  # the earlier day wins, even across a DST change


def _day(d: date, due: date) -> str:
    return fmt_day_month(d) if d.year == due.year else fmt_date(d)


@dataclass(frozen=True)
class RefillProjection:
    """When the pump alarms, empties, and must be refilled, and why, in one sentence."""

    fill_date: date
    daily_volume_ml: Decimal  # programme in force at the fill; flex: mean of its 7 weekdays
    alarm_date: date | None  # None: beyond the simulation horizon (stability binds)
    empty_date: date | None
    stability_date: date
    due_date: date
    binding_rule: Literal["alarm", "stability"]
    explanation: str
    inputs: RefillInputs = field(repr=False)

    def days_left(self, today: date) -> int:
        """Days from `today` until the refill is due (negative when overdue)."""
        return (self.due_date - today).days

    def volume_at(self, when: datetime) -> Decimal:
        """Projected reservoir mL at `when` (aware), for plots; before the fill, the fill volume."""
        if when.utcoffset() is None:
            raise InvalidTime("The time needs a time zone (aware datetime).", "when")
        remaining = exact(self.inputs.reservoir_after_fill_ml, "reservoir_after_fill_ml")
        for a, b, rate in _rates(self.inputs, _offset(when, self.inputs.fill_instant())):
            remaining -= rate * (b - a)
            if remaining <= 0:
                break
        return rounded(max(remaining, Fraction(0)), 3, ROUND_FLOOR)


def volumes_at(projection: RefillProjection, times: Sequence[datetime]) -> list[Decimal]:
    """`volume_at` for many ascending times in one walk over the dose pieces (for plots)."""
    inputs = projection.inputs
    fill_ml = exact(inputs.reservoir_after_fill_ml, "reservoir_after_fill_ml")
    offsets = [_offset(t, inputs.fill_instant()) for t in times]
    out: list[Fraction] = []
    i, remaining = 0, fill_ml
    while i < len(offsets) and offsets[i] <= 0:
        out.append(fill_ml)
        i += 1
    if i < len(offsets):
        for a, b, rate in _rates(inputs, offsets[-1]):
            while i < len(offsets) and offsets[i] <= b:
                out.append(remaining - rate * (offsets[i] - a))
                i += 1
            remaining -= rate * (b - a)
    out += [remaining] * (len(offsets) - len(out))
    return [rounded(max(v, Fraction(0)), 3, ROUND_FLOOR) for v in out]


def project_refill(inputs: RefillInputs) -> RefillProjection:
    """Alarm, empty, drug-stability and due dates: due = min(alarm - buffer, fill + stability)."""
    fill_date = inputs.fill_date()
    # Far enough that an alarm beyond it cannot bind: stability <= horizon (validated).
    end = Fraction((HORIZON_DAYS + inputs.buffer_days + 2) * DAY_S)
    alarm_ml = exact(inputs.alarm_volume_ml, "alarm_volume_ml")
    alarm_s = _seconds_until(inputs, alarm_ml, end)
    empty_s = _seconds_until(inputs, Fraction(0), end) if alarm_s is not None else None
    alarm_date = _date_after(inputs, alarm_s) if alarm_s is not None else None
    empty_date = _date_after(inputs, empty_s) if empty_s is not None else None
    stability_date = fill_date + timedelta(days=inputs.stability_days)
    binding: Literal["alarm", "stability"] = "stability"
    due = stability_date
    if alarm_date is not None:
        # Alarm within the buffer (or at/below it at the fill): due now, never before the fill.
        by_alarm = max(alarm_date - timedelta(days=inputs.buffer_days), fill_date)
        if by_alarm <= stability_date:  # a tie names the alarm: it is the one that can move
            binding, due = "alarm", by_alarm
    programme = inputs.periods()[0][1]
    concentration = exact(inputs.concentration_mcg_per_ml, "concentration_mcg_per_ml")
    explanation = " ".join([_explain(inputs, due, binding, alarm_date, stability_date), *inputs.notes])
    return RefillProjection(
        fill_date=fill_date,
        daily_volume_ml=rounded(programme.average_daily_dose_mcg() / concentration, 4),
        alarm_date=alarm_date,
        empty_date=empty_date,
        stability_date=stability_date,
        due_date=due,
        binding_rule=binding,
        explanation=explanation,
        inputs=inputs,
    )


def _explain(inputs: RefillInputs, due: date, binding: str, alarm: date | None, stability: date) -> str:
    alarm_rule = f"the low-reservoir alarm ({plain(inputs.alarm_volume_ml)} mL)"
    limit = f"the {inputs.stability_days}-day drug limit"
    buffer = f"the {inputs.buffer_days}-day buffer"
    head = f"Due {fmt_date(due)}"
    if alarm is None:
        return f"{head}: {limit}; {alarm_rule} is more than {HORIZON_DAYS} days away."
    if binding == "stability":
        return f"{head}: {limit}; {alarm_rule}, {_day(alarm, due)}, minus {buffer} would be later."
    within = alarm - timedelta(days=inputs.buffer_days) < inputs.fill_date()
    if within:
        head = f"Due now, {fmt_date(due)}"
    alarm_part = f"{alarm_rule} falls on {_day(alarm, due)}, {'within' if within else 'minus'} {buffer}"
    limit_part = f"{limit} falls on the same day" if stability == due else f"{limit}, {_day(stability, due)}, is later"
    return f"{head}: {alarm_part}; {limit_part}."
