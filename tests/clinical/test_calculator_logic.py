"""The what-if calculator's logic: domain.md worked examples, warnings and the inputs it refuses."""

from datetime import date
from decimal import Decimal

import pytest

from tracker.calculator.logic import calculate, check, what_if
from tracker.clinical.refill import (
    InvalidConcentration,
    InvalidDays,
    InvalidDose,
    InvalidTime,
    InvalidVolume,
    OverfillRefused,
)

TZ = "America/New_York"
FILL = date(2027, 1, 1)


def calc(**overrides):
    values = dict(reservoir_ml="20", fill_volume_ml="20", concentration_mcg_per_ml="500", dose_mcg_per_day="300",
                  alarm_volume_ml="2", buffer_days="7", stability_days="180", fill_date=FILL, tz=TZ)
    return calculate(**(values | overrides))


def test_stability_limit_binds_for_a_40_ml_pump_at_2000_mcg_per_ml_and_400_mcg():
    result = calc(reservoir_ml="40", fill_volume_ml="40", concentration_mcg_per_ml="2000", dose_mcg_per_day="400")
    assert result["daily_volume_ml"] == "0.2"
    assert result["days_to_alarm"] == 190
    assert result["alarm_date"] == "2027-07-10"
    assert result["stability_date"] == result["due_date"] == "2027-06-30"  # fill + 180 days
    assert result["binding_rule"] == "stability"
    assert result["warnings"] == []


def test_alarm_minus_buffer_binds_for_a_20_ml_pump_at_300_mcg():
    result = calc()
    assert result["daily_volume_ml"] == "0.6"
    assert result["days_to_alarm"] == 30
    assert result["alarm_date"] == "2027-01-31"
    assert result["empty_date"] == "2027-02-03"  # 20 / 0.6 = 33.3 days
    assert result["due_date"] == "2027-01-24"  # day 23
    assert result["binding_rule"] == "alarm"
    assert result["explanation"].startswith("Due 24 Jan 2027: the low-reservoir alarm (2 mL) falls on 31 Jan")


def test_the_answer_is_plain_json_data():
    result = calc()
    assert set(result) == {"fill_date", "daily_volume_ml", "days_to_alarm", "alarm_date", "empty_date",
                           "stability_date", "due_date", "binding_rule", "explanation", "warnings"}
    assert all(isinstance(v, (str, int, list)) for v in result.values())


def test_same_answer_from_typed_text_and_from_exact_numbers():
    typed = calc()
    exact = calc(reservoir_ml=Decimal(20), fill_volume_ml=Decimal("20.0"), concentration_mcg_per_ml=500,
                 dose_mcg_per_day=Decimal(300), alarm_volume_ml=Decimal(2), buffer_days=7, stability_days=180,
                 fill_date="2027-01-01")
    assert typed == exact


def test_alarm_within_the_buffer_makes_the_refill_due_on_the_fill_date_with_a_high_warning():
    result = calc(fill_volume_ml="5")  # 3 mL above the alarm at 0.6 mL/day: alarm on day 5, buffer 7
    assert result["due_date"] == "2027-01-01"
    assert result["binding_rule"] == "alarm"
    assert [(w["code"], w["severity"]) for w in result["warnings"]] == [("due_at_fill", "high")]
    assert "falls within the 7-day buffer" in result["warnings"][0]["message"]


def test_a_fill_at_or_below_the_alarm_volume_is_due_at_once():
    result = calc(fill_volume_ml="2")
    assert result["alarm_date"] == result["due_date"] == "2027-01-01"
    assert result["days_to_alarm"] == 0
    assert "at or below the alarm volume" in result["warnings"][0]["message"]


def test_alarm_exactly_buffer_days_after_the_fill_is_due_on_the_fill_date():
    result = calc(fill_volume_ml="6.2")  # 4.2 mL / 0.6 = day 7
    assert result["alarm_date"] == "2027-01-08"
    assert result["due_date"] == "2027-01-01"
    assert result["warnings"][0]["code"] == "due_at_fill"


def test_a_day_of_margin_has_no_due_warning():
    assert calc(fill_volume_ml="6.8")["warnings"] == []  # alarm day 8, due day 1


def test_a_dose_outside_the_usual_range_gets_a_soft_warning():
    result = calc(dose_mcg_per_day="10")
    assert [(w["code"], w["severity"]) for w in result["warnings"]] == [("dose_range", "low")]
    assert "below the usual 20-2000 mcg/day" in result["warnings"][0]["message"]


def test_an_alarm_beyond_the_horizon_leaves_the_alarm_and_empty_dates_empty():
    result = calc(reservoir_ml="40", fill_volume_ml="40", concentration_mcg_per_ml="5000", dose_mcg_per_day="1")
    assert result["alarm_date"] is None and result["empty_date"] is None and result["days_to_alarm"] is None
    assert result["binding_rule"] == "stability" and result["due_date"] == "2027-06-30"


def test_whole_result_keeps_dates_as_dates_for_the_page():
    result = what_if("20", "20", "500", "300", "2", "7", "180", FILL, TZ)
    assert result.projection.due_date == date(2027, 1, 24)
    assert result.days_to_due == 23


REFUSED = [
    ("overfill", {"fill_volume_ml": "20.5"}, OverfillRefused, "fill_volume_ml",
     "20.5 mL is more than the 20 mL reservoir holds; never overfill."),
    ("dose 0", {"dose_mcg_per_day": "0"}, InvalidDose, "dose_mcg_per_day", "Daily dose must be more than 0 mcg/day."),
    ("negative dose", {"dose_mcg_per_day": "-5"}, InvalidDose, "dose_mcg_per_day", "more than 0"),
    ("concentration 0", {"concentration_mcg_per_ml": "0"}, InvalidConcentration, "concentration_mcg_per_ml",
     "Concentration must be more than 0 mcg/mL."),
    ("fractional concentration", {"concentration_mcg_per_ml": "500.5"}, InvalidConcentration,
     "concentration_mcg_per_ml", "whole number"),
    ("impossible date", {"fill_date": "2027-02-31"}, InvalidTime, "fill_date", "2027-02-31 is not a real date"),
    ("not a date", {"fill_date": "next tuesday"}, InvalidTime, "fill_date", "use YYYY-MM-DD"),
    ("date at the end of the calendar", {"fill_date": "9999-12-31"}, InvalidTime, "fill_date", "must be from"),
    ("not a number", {"reservoir_ml": "twenty"}, InvalidVolume, "reservoir_ml", "Reservoir is not a number"),
    ("NaN", {"alarm_volume_ml": "NaN"}, InvalidVolume, "alarm_volume_ml", "not a number"),
    ("infinity", {"dose_mcg_per_day": "Infinity"}, InvalidDose, "dose_mcg_per_day", "not a number"),
    ("a float", {"reservoir_ml": 20.0}, InvalidVolume, "reservoir_ml", "exact number"),
    ("huge reservoir", {"reservoir_ml": "1e9"}, InvalidVolume, "reservoir_ml", "from 0.1 to 60 mL"),
    ("tiny fraction", {"fill_volume_ml": "1e-99999"}, InvalidVolume, "fill_volume_ml", "at most 4 decimal places"),
    ("buffer over 60", {"buffer_days": "61"}, InvalidDays, "buffer_days", "from 0 to 60 days"),
    ("stability 0", {"stability_days": "0"}, InvalidDays, "stability_days", "more than 0 days"),
    ("half a day", {"stability_days": "90.5"}, InvalidDays, "stability_days", "whole number of days"),
    ("alarm over 10 mL", {"alarm_volume_ml": "11"}, InvalidVolume, "alarm_volume_ml", "from 0 to 10 mL"),
]


@pytest.mark.parametrize("case, changes, error, field, message", REFUSED, ids=[c[0] for c in REFUSED])
def test_bad_input_is_refused_with_a_message_naming_the_field(case, changes, error, field, message):
    with pytest.raises(error) as caught:
        calc(**changes)
    assert caught.value.field == field
    assert message in caught.value.message


def test_trailing_zeros_and_spaces_are_fine():
    assert check("fill_volume_ml", " 20.000000 ") == Decimal(20)
    assert check("buffer_days", "7.0") == 7
