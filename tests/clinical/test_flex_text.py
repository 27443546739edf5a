"""A flexible schedule as typed on the dose form and the calculator: one step a line, weekday sections."""

from datetime import time
from decimal import Decimal

import pytest

from tracker.clinical.flex_text import parse_steps, parse_week
from tracker.clinical.refill import FlexStep, InvalidFlexSchedule


def steps(*pairs) -> list[FlexStep]:
    return [FlexStep(time.fromisoformat(start), Decimal(rate)) for start, rate in pairs]


def test_the_dose_forms_format_keeps_the_rate_as_typed():
    assert parse_steps("00:00 10\n 07:00, 12.50 \n\n22:00 10") == [["00:00", "10"], ["07:00", "12.50"],
                                                                      ["22:00", "10"]]


def test_a_semicolon_ends_a_step_so_a_schedule_fits_on_one_line():
    assert parse_steps("00:00 10; 07:00 12.5") == parse_steps("00:00 10\n07:00 12.5")


def test_steps_before_any_day_are_every_other_days():
    default, by_day = parse_week("00:00 8\n07:00 12\nSat, Sun:\n00:00 8\n09:00 12")
    assert default == steps(("00:00", "8"), ("07:00", "12"))
    assert by_day == {5: steps(("00:00", "8"), ("09:00", "12")), 6: steps(("00:00", "8"), ("09:00", "12"))}


@pytest.mark.parametrize("header, days", [
    ("Mon-Fri", [0, 1, 2, 3, 4]), ("Fri - Mon", [4, 5, 6, 0]), ("saturday", [5]), ("SUN, wed", [6, 2]),
    ("Tue Thu", [1, 3]), ("Mon–Wed", [0, 1, 2]),
])
def test_days_are_named_short_or_long_alone_or_as_a_range(header, days):
    _, by_day = parse_week(f"00:00 5; {header}: 00:00 6")
    assert sorted(by_day) == sorted(days)


def test_a_whole_week_by_day_needs_no_default():
    default, by_day = parse_week("Mon-Sun: 00:00 5")
    assert default == [] and sorted(by_day) == list(range(7))


REFUSED = [
    ("nothing", "  \n ", "Enter at least one step, starting at 00:00."),
    ("three parts", "00:00 10 mcg", "Line 1: write the start time and the rate, e.g. 06:00 12.5"),
    ("NaN rate", "00:00 NaN", "Line 1: '00:00 NaN' is not HH:MM followed by a number."),
    ("negative rate", "00:00 -1", "Line 1: the rate must be 0-200 mcg/hour."),
    ("too fine a rate", "00:00 1.00001", "Line 1: the rate can have at most 4 decimal places."),
    ("a 40-digit rate", "00:00 " + "1" * 40, "is not HH:MM followed by a number"),
    ("not a day", "00:00 5; Funday: 00:00 5",
     "Line 2: 'Funday' is not a day; use Mon, Tue, Wed, Thu, Fri, Sat or Sun."),
    ("a day with no steps", "00:00 5\nSat:", "Line 2: Sat has no steps; add them after the colon."),
    ("a day twice", "00:00 5; Sat: 00:00 4; Fri-Sun: 00:00 3", "Line 3: Saturday has two schedules."),
    ("a day's steps out of order", "00:00 5; Sun: 00:00 4; 09:00 6; 08:00 2",
     "Sun: Flex steps must start later and later: 08:00 follows 09:00."),
    ("an essay", "00:00 5\n" * 400, "The schedule is too long: at most 2000 characters."),
]


@pytest.mark.parametrize("case, text, message", REFUSED, ids=[c[0] for c in REFUSED])
def test_a_schedule_that_cannot_be_read_is_refused_naming_the_line_or_day(case, text, message):
    with pytest.raises(InvalidFlexSchedule) as caught:
        parse_week(text)
    assert message in caught.value.message
    assert caught.value.field == "flex_schedule"


def test_the_dose_form_refuses_a_weekday_section_it_cannot_store():
    with pytest.raises(InvalidFlexSchedule, match="Line 2: write the start time and the rate"):
        parse_steps("00:00 5\nSat: 00:00 4")
