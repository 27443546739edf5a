"""A flexible dose schedule typed in one spreadsheet cell (the import's flex_schedule column).

    06:00 12; 18:00 10                              every day: 12 mcg/h from 06:00, 10 mcg/h from 18:00
    00:00 10; 08:00 14; Sat Sun: 00:00 10; 10:00 12  the same, but Saturday and Sunday have their own steps

A step is "HH:MM rate", the rate in mcg per hour as on the dose form; steps are separated by semicolons. A day
name and a colon ("Sat:", "Sat Sun:", "Mon-Fri:") start steps of those weekdays only; steps before any day name
are the everyday schedule. The everyday schedule may begin after 00:00: its last step runs on past midnight,
so the schedule is stored with a first step at 00:00 at that rate, as a nurse would type it on the dose form.
A weekday's own steps must begin at 00:00, so the hours after midnight belong to that day without doubt.

The result is the dose form's stored schedule ({"default": [["00:00", "10"], ...], "by_weekday": {"5": ...}})
with the refill engine's steps, checked by the engine's own rules (order, 13 steps a day, more than 0 mcg).
Pure: no Flask, no database.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from decimal import Decimal

from tracker.clinical import refill
from tracker.clinical.errors import DomainError

MAX_RATE_MCG_PER_HOUR = Decimal(200)  # the dose form's bound (tracker.refills.forms.parse_flex)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_STEP = re.compile(r"^(\d{1,2}):(\d{2})\s+(\d+(?:\.\d{1,3})?)$")
_DAYS = re.compile(r"^([a-z][a-z\s+&/\-]*?)\s*:\s*(.*)$", re.IGNORECASE)
MIDNIGHT = time(0)


class FlexTextError(DomainError):
    """The cell cannot be read as a schedule; the message says what to write instead."""


@dataclass(frozen=True)
class FlexSchedule:
    stored: dict  # as DoseChange.flex_schedule keeps it
    steps: tuple[refill.FlexStep, ...]
    by_weekday: dict[int, tuple[refill.FlexStep, ...]]

    def programme(self, bolus_dose_mcg: Decimal = Decimal(0), max_boluses_per_day: int = 0) -> refill.DoseProgramme:
        """The refill engine's programme (raises the engine's RefillInputError if a day's steps are wrong)."""
        return refill.DoseProgramme(
            flex_steps=self.steps,
            flex_by_weekday=self.by_weekday,
            bolus_dose_mcg=bolus_dose_mcg,
            max_boluses_per_day=max_boluses_per_day,
        )


def _day(word: str) -> int:
    folded = word.casefold()
    for index, (short, full) in enumerate(zip(DAY_NAMES, _FULL_NAMES, strict=True)):
        if folded in (short, full) or (len(folded) >= 3 and full.startswith(folded)):
            return index
    raise FlexTextError(f"{word!r} is not a day of the week: write Mon, Tue, Wed, Thu, Fri, Sat or Sun.")


def _days(text: str) -> list[int]:
    """'Sat Sun', 'Sat+Sun', 'Mon-Fri' -> weekday numbers (0 = Monday)."""
    days: list[int] = []
    for part in re.split(r"[\s+&/]+", text.strip()):
        if "-" in part:
            first, _, last = part.partition("-")
            start, stop = _day(first), _day(last)
            if stop < start:
                raise FlexTextError(f"{part!r}: write a range of days from Monday to Sunday, e.g. Mon-Fri.")
            days += range(start, stop + 1)
        elif part:
            days.append(_day(part))
    return days


def _step(text: str) -> tuple[time, Decimal]:
    match = _STEP.match(text.strip())
    if not match:
        raise FlexTextError(
            f"{text.strip()!r} is not a step: write the start time and the rate in mcg/hour, "
            "e.g. 06:00 12.5, and separate steps with semicolons."
        )
    hour, minute, rate = int(match.group(1)), int(match.group(2)), Decimal(match.group(3))
    if hour > 23 or minute > 59:
        raise FlexTextError(f"{match.group(1)}:{match.group(2)} is not a time: use 00:00 to 23:59.")
    if rate > MAX_RATE_MCG_PER_HOUR:
        raise FlexTextError(
            f"{_plain(rate)} mcg/hour is above the {_plain(MAX_RATE_MCG_PER_HOUR)} mcg/hour the dose form allows."
        )
    return time(hour, minute), rate


def _plain(value: Decimal) -> str:
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def parse_flex(text: str) -> FlexSchedule:
    """The cell's schedule; FlexTextError (or the engine's RefillInputError) says what is wrong."""
    everyday: list[tuple[time, Decimal]] = []
    own: dict[int, list[tuple[time, Decimal]]] = {}
    current: list[list[tuple[time, Decimal]]] = [everyday]
    for item in (part.strip() for part in text.split(";")):
        if not item:
            continue
        if (named := _DAYS.match(item)) and not item[0].isdigit():
            days = _days(named.group(1))
            if any(day in own for day in days):
                raise FlexTextError(f"{named.group(1).strip()}: a day is given twice.")
            current = [own.setdefault(day, []) for day in days]
            item = named.group(2).strip()
            if not item:
                continue
        if item[0].isalpha():
            raise FlexTextError(f"{item!r}: write the day names then a colon, e.g. Sat: 00:00 10; 08:00 14.")
        step = _step(item)
        for steps in current:
            steps.append(step)
    if not everyday and not own:
        raise FlexTextError("Write at least one step, e.g. 00:00 12.5.")
    if own and any(not steps for steps in own.values()):
        raise FlexTextError("A day name must be followed by its steps, e.g. Sat: 00:00 10; 08:00 14.")
    for day, steps in own.items():
        if steps[0][0] != MIDNIGHT:
            raise FlexTextError(
                f"{_FULL_NAMES[day].title()}'s own steps must begin at 00:00, so the hours after "
                "midnight belong to that day."
            )
    if everyday and everyday[0][0] != MIDNIGHT:
        everyday.insert(0, (MIDNIGHT, everyday[-1][1]))  # the last step runs on past midnight
    if not everyday and len(own) < 7:
        raise FlexTextError("Give an everyday schedule before the day names, or steps for all seven days.")

    def flex_steps(steps):
        return tuple(refill.FlexStep(start, rate) for start, rate in steps)

    def stored_steps(steps):
        return [[f"{start:%H:%M}", _plain(rate)] for start, rate in steps]

    stored = {"default": stored_steps(everyday)}
    if own:
        stored["by_weekday"] = {str(day): stored_steps(own[day]) for day in sorted(own)}
    schedule = FlexSchedule(stored, flex_steps(everyday), {day: flex_steps(own[day]) for day in sorted(own)})
    schedule.programme()  # the engine's rules: order, 13 steps a day, more than 0 mcg a day
    return schedule


def from_stored(stored: dict) -> FlexSchedule:
    """A schedule as DoseChange.flex_schedule keeps it (what parse_flex returns, or the dose form's)."""

    def steps(rows):
        return tuple(refill.FlexStep(time.fromisoformat(start), Decimal(rate)) for start, rate in rows)

    by_weekday = {int(day): steps(rows) for day, rows in (stored.get("by_weekday") or {}).items()}
    return FlexSchedule(stored, steps(stored.get("default") or []), by_weekday)


def same_schedule(a: dict | None, b: dict | None) -> bool:
    """Two stored schedules that deliver the same steps ("12" and "12.0" mcg/h are one rate)."""
    if not a or not b:
        return not a and not b
    first, second = from_stored(a), from_stored(b)
    return (first.steps, first.by_weekday) == (second.steps, second.by_weekday)
