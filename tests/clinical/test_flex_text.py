"""A flexible schedule typed in one spreadsheet cell (the import's flex_schedule column)."""

from __future__ import annotations

from datetime import time
from decimal import Decimal
from fractions import Fraction

import pytest

from tracker.clinical.errors import RefillInputError
from tracker.clinical.flex_text import FlexTextError, from_stored, parse_flex, same_schedule
from tracker.clinical.refill import FlexStep


def test_an_everyday_schedule_starting_at_six_runs_its_last_step_past_midnight():
    schedule = parse_flex("06:00 12; 18:00 10")
    # 00:00-06:00 at 10 (the 18:00 step carries on), 06:00-18:00 at 12, 18:00-24:00 at 10 mcg/h.
    assert schedule.stored == {"default": [["00:00", "10"], ["06:00", "12"], ["18:00", "10"]]}
    # 6 h x 10 + 12 h x 12 + 6 h x 10 = 60 + 144 + 60 = 264 mcg a day.
    assert schedule.programme().average_daily_dose_mcg() == 264


def test_weekday_variants_start_after_a_day_name_and_a_colon():
    schedule = parse_flex("06:00 12; 18:00 10; Sat Sun: 00:00 10; 09:00 14; 21:00 10")
    weekend = [["00:00", "10"], ["09:00", "14"], ["21:00", "10"]]
    assert schedule.stored["by_weekday"] == {"5": weekend, "6": weekend}
    assert schedule.by_weekday[5] == (
        FlexStep(time(0), Decimal(10)),
        FlexStep(time(9), Decimal(14)),
        FlexStep(time(21), Decimal(10)),
    )
    # Weekdays 264; weekend 9 h x 10 + 12 h x 14 + 3 h x 10 = 90 + 168 + 30 = 288; mean (5 x 264 + 2 x 288) / 7.
    assert schedule.programme().average_daily_dose_mcg() == Fraction(5 * 264 + 2 * 288, 7)


def test_day_ranges_and_full_names_are_understood():
    schedule = parse_flex("00:00 10; mon-fri: 00:00 8; 07:00 12; Saturday: 00:00 9")
    assert sorted(schedule.by_weekday) == [0, 1, 2, 3, 4, 5]
    assert schedule.stored["default"] == [["00:00", "10"]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("Sat: 08:00 10; 00:00 10", "Saturday's own steps must begin at 00:00"),
        ("00:00 10; Sat 00:00 12", "write the day names then a colon"),
        ("06:00 twelve", "is not a step"),
        ("24:00 10", "is not a time"),
        ("00:00 250", "above the 200 mcg/hour"),
        ("00:00 10; Sat: 00:00 1; Sat: 00:00 2", "a day is given twice"),
        ("Mon: 00:00 10", "Give an everyday schedule"),
        ("00:00 10; Funday: 00:00 1", "not a day of the week"),
        ("00:00 10; Sun-Mon: 00:00 1", "a range of days"),
        (" ; ", "at least one step"),
    ],
)
def test_a_schedule_that_cannot_be_read_says_what_to_write(text, message):
    with pytest.raises(FlexTextError, match=message):
        parse_flex(text)


@pytest.mark.parametrize(
    "text, message",
    [
        ("18:00 10; 06:00 12", "later and later"),
        ("00:00 0", "more than 0 mcg"),
        ("; ".join(f"{h:02d}:00 1" for h in range(14)), "At most 13"),
    ],
)
def test_the_refill_engines_own_rules_apply(text, message):
    with pytest.raises(RefillInputError, match=message):
        parse_flex(text)


def test_a_stored_schedule_reads_back_and_equal_rates_are_one_schedule():
    schedule = parse_flex("06:00 12; 18:00 10; Sat: 00:00 9")
    again = from_stored(schedule.stored)
    assert (again.steps, again.by_weekday) == (schedule.steps, schedule.by_weekday)
    assert same_schedule({"default": [["00:00", "12.0"]]}, {"default": [["00:00", "12"]]})
    assert not same_schedule({"default": [["00:00", "12"]]}, {"default": [["00:00", "12.5"]]})
    assert not same_schedule(None, {"default": [["00:00", "12"]]}) and same_schedule(None, None)
