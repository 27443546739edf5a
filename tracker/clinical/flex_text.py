"""A flexible schedule as clinicians type it, for the dose form and the what-if calculator.

One step per line, "HH:MM rate-in-mcg-per-hour", first step 00:00 (a ";" also ends a step, so a schedule fits on
one command line). For a week that differs by day, a line naming days and ending in ":" starts that day's
schedule; the steps before any such line are every other day's:

    00:00 8
    07:00 12
    Sat, Sun: 00:00 8
    09:00 12

Pure: the text becomes the refill engine's FlexSteps, and the engine checks order, coverage and the step limit.
"""

from __future__ import annotations

import re
from datetime import time
from decimal import Decimal, InvalidOperation

from tracker.clinical.refill import DoseProgramme, FlexStep, InvalidFlexSchedule, RefillInputError

FIELD = "flex_schedule"
MAX_RATE_MCG_PER_HOUR = Decimal(200)  # 4800 mcg/day: beyond any maintenance dose (domain.md 4)
MAX_RATE_PLACES = 4  # finer than any programmer; keeps the exact arithmetic small
MAX_TEXT = 2000  # seven days of 13 steps fit easily
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_HEADER = re.compile(r"^\s*([A-Za-z][A-Za-z ,\-–]*?)\s*:\s*(.*)$")


def _lines(text: str) -> list[tuple[int, str]]:
    """(line number, text) of each non-blank step or header, ";" counting as a line end."""
    if len(text) > MAX_TEXT:
        raise InvalidFlexSchedule(f"The schedule is too long: at most {MAX_TEXT} characters.", FIELD)
    pieces = (piece.strip() for line in text.splitlines() for piece in line.split(";"))
    return [(number, piece) for number, piece in enumerate(filter(None, pieces), start=1)]


def _step(number: int, line: str) -> tuple[str, str]:
    parts = line.replace(",", " ").split()
    if len(parts) != 2:
        raise InvalidFlexSchedule(f"Line {number}: write the start time and the rate, e.g. 06:00 12.5", FIELD)
    try:
        start = time.fromisoformat(parts[0])
        rate = Decimal(parts[1]) if len(parts[1]) <= 30 else None
    except (ValueError, InvalidOperation):
        rate = None
    if rate is None or not rate.is_finite():
        raise InvalidFlexSchedule(f"Line {number}: {line[:40]!r} is not HH:MM followed by a number.", FIELD)
    if not 0 <= rate <= MAX_RATE_MCG_PER_HOUR:
        raise InvalidFlexSchedule(f"Line {number}: the rate must be 0-{MAX_RATE_MCG_PER_HOUR} mcg/hour.", FIELD)
    if rate.normalize().as_tuple().exponent < -MAX_RATE_PLACES:
        raise InvalidFlexSchedule(f"Line {number}: the rate can have at most {MAX_RATE_PLACES} decimal places.",
                                  FIELD)
    return start.strftime("%H:%M"), parts[1]


def parse_steps(text: str) -> list[list[str]]:
    """Lines "HH:MM rate" -> [["HH:MM", "rate"], ...], the rate as typed (the dose form stores these)."""
    steps = [list(_step(number, line)) for number, line in _lines(text)]
    if not steps:
        raise InvalidFlexSchedule("Enter at least one step, starting at 00:00.", FIELD)
    return steps


def _days(number: int, names: str) -> list[int]:
    """"Sat, Sun" or "Mon-Fri" (a range may wrap: "Fri-Mon") -> weekday numbers, 0=Monday."""
    days: list[int] = []
    for token in filter(None, re.split(r"[\s,]+", re.sub(r"\s*[-–]\s*", "-", names))):
        first, _, last = token.partition("-")
        try:
            start = _day_number(first)
            days += [start] if not last else [(start + i) % 7 for i in range((_day_number(last) - start) % 7 + 1)]
        except KeyError as unknown:
            raise InvalidFlexSchedule(
                f"Line {number}: {unknown.args[0]!r} is not a day; use Mon, Tue, Wed, Thu, Fri, Sat or Sun.", FIELD
            ) from None
    return days


def _day_number(name: str) -> int:
    for names in (DAY_NAMES, _FULL_NAMES):
        if name.lower() in names:
            return names.index(name.lower())
    raise KeyError(name)


def _engine_steps(rows: list[tuple[str, str]]) -> list[FlexStep]:
    return [FlexStep(time.fromisoformat(start), Decimal(rate)) for start, rate in rows]


def parse_week(text: str) -> tuple[list[FlexStep], dict[int, list[FlexStep]]]:
    """The schedule as the engine takes it: (every other day's steps, {weekday 0=Monday: steps})."""
    sections: list[tuple[int, str, list[int] | None, list[tuple[str, str]]]] = [(0, "Every day", None, [])]
    for number, line in _lines(text):
        header = _HEADER.match(line)
        if header:
            sections.append((number, header.group(1).strip(), _days(number, header.group(1)), []))
            line = header.group(2).strip()
            if not line:
                continue
        sections[-1][3].append(_step(number, line))
    default, by_day = _engine_steps(sections[0][3]), {}
    for number, label, days, rows in sections[1:]:
        if not rows:
            raise InvalidFlexSchedule(f"Line {number}: {label} has no steps; add them after the colon.", FIELD)
        for day in days:
            if day in by_day:
                raise InvalidFlexSchedule(f"Line {number}: {_FULL_NAMES[day].title()} has two schedules.", FIELD)
            by_day[day] = _engine_steps(rows)
    if not default and not by_day:
        raise InvalidFlexSchedule("Enter at least one step, starting at 00:00.", FIELD)
    for _, label, days, rows in sections:
        if rows:
            _check_day(label if days is not None else "", _engine_steps(rows))
    return default, by_day


def _check_day(label: str, steps: list[FlexStep]) -> None:
    """The engine's own checks (order, 00:00, the step limit), one section at a time, so the message says which."""
    try:
        DoseProgramme(flex_steps=steps)
    except RefillInputError as error:
        raise type(error)(f"{label}: {error.message}" if label else error.message, FIELD) from None
