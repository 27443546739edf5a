"""The what-if calculator's logic: domain.md worked examples, warnings and the inputs it refuses."""

from datetime import date
from decimal import Decimal

import pytest

from tracker.clinical.errors import (
    InvalidConcentration,
    InvalidDays,
    InvalidDose,
    InvalidFlexSchedule,
    InvalidTime,
    InvalidVolume,
    OverfillRefused,
)
from tracker.clinical.refill import DoseProgramme, RefillInputs, project_refill
from tracker.clinical.what_if import calculate, check, what_if

TZ = "America/New_York"
FILL = date(2027, 1, 1)


# A patient-therapy-manager (PTM) patient: 200 mcg/day programmed plus up to 4 boluses of 25 mcg a day.
PTM = {"dose_mcg_per_day": "200", "bolus_dose_mcg": "25", "max_boluses_per_day": "4"}
WEEKEND_HEAVY = "00:00 10\nSat Sun: 00:00 20"  # 240 mcg on weekdays, 480 mcg on Saturday and Sunday
SATURDAY = date(2027, 1, 9)


def codes(result) -> list[str]:
    return [w["code"] for w in result["warnings"]]


def calc(**overrides):
    values = dict(
        reservoir_ml="20",
        fill_volume_ml="20",
        concentration_mcg_per_ml="500",
        dose_mcg_per_day="300",
        alarm_volume_ml="2",
        buffer_days="7",
        stability_days="180",
        fill_date=FILL,
        tz=TZ,
    )
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
    assert set(result) == {
        "fill_date",
        "daily_volume_ml",
        "days_to_alarm",
        "alarm_date",
        "empty_date",
        "stability_date",
        "due_date",
        "binding_rule",
        "explanation",
        "warnings",
    }
    assert all(isinstance(v, (str, int, list)) for v in result.values())


def test_same_answer_from_typed_text_and_from_exact_numbers():
    typed = calc()
    exact = calc(
        reservoir_ml=Decimal(20),
        fill_volume_ml=Decimal("20.0"),
        concentration_mcg_per_ml=500,
        dose_mcg_per_day=Decimal(300),
        alarm_volume_ml=Decimal(2),
        buffer_days=7,
        stability_days=180,
        fill_date="2027-01-01",
    )
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


def test_a_ptm_patient_is_due_when_every_permitted_bolus_is_counted():
    # 200 mcg/day + 4 x 25 mcg = 300 mcg/day; / 500 mcg/mL = 0.6 mL/day.
    # (20 - 2) mL / 0.6 mL/day = 30 days to the alarm: 31 Jan. Minus the 7-day buffer: due day 23, 24 Jan.
    # Empty: 20 / 0.6 = 33.3 days, 3 Feb.
    result = calc(**PTM)
    assert result["daily_volume_ml"] == "0.6"
    assert (result["days_to_alarm"], result["alarm_date"], result["due_date"], result["empty_date"]) == (
        30,
        "2027-01-31",
        "2027-01-24",
        "2027-02-03",
    )


def test_the_same_ptm_patient_entered_as_200_mcg_a_day_alone_comes_out_15_days_late():
    # 200 / 500 = 0.4 mL/day; 18 / 0.4 = 45 days to the alarm: 15 Feb; due day 38, 8 Feb: 15 days after 24 Jan.
    result = calc(dose_mcg_per_day="200")
    assert (result["daily_volume_ml"], result["days_to_alarm"], result["due_date"]) == ("0.4", 45, "2027-02-08")
    assert (date.fromisoformat(result["due_date"]) - date.fromisoformat(calc(**PTM)["due_date"])).days == 15


def test_the_calculator_gives_what_the_engine_gives_for_the_same_programme():
    engine = project_refill(
        RefillInputs(
            fill_time=FILL,
            reservoir_after_fill_ml=Decimal(20),
            reservoir_capacity_ml=Decimal(20),
            concentration_mcg_per_ml=500,
            alarm_volume_ml=Decimal(2),
            buffer_days=7,
            stability_days=180,
            tz=TZ,
            doses=DoseProgramme(daily_dose_mcg=Decimal(200), bolus_dose_mcg=Decimal(25), max_boluses_per_day=4),
        )
    )
    result = what_if(
        "20",
        "20",
        "500",
        PTM["dose_mcg_per_day"],
        "2",
        "7",
        "180",
        FILL,
        TZ,
        bolus_dose_mcg="25",
        max_boluses_per_day="4",
    )
    assert result.projection == engine


def test_the_answer_says_the_boluses_were_counted():
    note = [w for w in calc(**PTM)["warnings"] if w["code"] == "boluses_included"]
    assert note == [
        {
            "code": "boluses_included",
            "severity": "low",
            "message": "The dates include every permitted bolus (up to 4 of 25 mcg a day): 100 mcg/day on top of the "
            "programmed 200 mcg/day, 300 mcg/day in all.",
        }
    ]


@pytest.mark.parametrize(
    "boluses",
    [
        {},
        {"bolus_dose_mcg": "", "max_boluses_per_day": ""},
        {"bolus_dose_mcg": "25", "max_boluses_per_day": "0"},
        {"bolus_dose_mcg": "0", "max_boluses_per_day": "4"},
    ],
    ids=["not given", "blank", "none a day", "a 0 mcg bolus"],
)
def test_without_boluses_nothing_is_said_about_them(boluses):
    result = calc(dose_mcg_per_day="200", **boluses)
    assert result["due_date"] == "2027-02-08" and "bolus" not in str(result)


def test_a_flexible_day_is_the_sum_of_its_steps():
    # 6 h x 10 + 16 h x 15 + 2 h x 10 = 60 + 240 + 20 = 320 mcg/day; / 500 = 0.64 mL/day.
    # 18 / 0.64 = 28.1 days to the alarm: 29 Jan; due 22 Jan.
    result = calc(dose_mcg_per_day=None, flex_schedule="00:00 10\n06:00 15\n22:00 10")
    assert (result["daily_volume_ml"], result["alarm_date"], result["due_date"]) == ("0.64", "2027-01-29", "2027-01-22")
    assert codes(result) == []


def test_a_schedule_typed_as_on_the_dose_form_reads_as_the_imports_one_line():
    typed = calc(dose_mcg_per_day=None, flex_schedule="00:00 10\r\n06:00 15\r\n\r\n22:00 10\nSat Sun:\n00:00 12")
    one_line = calc(dose_mcg_per_day=None, flex_schedule="00:00 10; 06:00 15; 22:00 10; Sat Sun: 00:00 12")
    assert typed == one_line
    # (5 x 320 + 2 x 288) / 7 = 310.86 mcg/day; / 500 = 0.6217 mL/day.
    assert typed["daily_volume_ml"] == "0.6217"


def test_a_week_that_differs_at_the_weekend_is_followed_day_by_day_from_the_fill_time():
    # Weekdays 240 mcg = 0.48 mL, Saturday and Sunday 480 mcg = 0.96 mL; a week 4.32 mL. 18 mL filled on Saturday
    # 9 Jan, 16 mL above the 2 mL alarm.
    # At 00:00: 3 weeks use 12.96 mL (3.04 left on Sat 30 Jan); Sat, Sun -> 1.12; Mon, Tue -> 0.16 on Wed 3 Feb;
    # 0.16 / 0.48 = 8 h: the alarm is Wed 3 Feb 08:00, day 25.
    # At 18:00 Saturday's first 18 h (0.72 mL) were never in the pump: 16.72 mL from Sat 00:00 runs out on
    # Thu 4 Feb at 20:00, 26 days 2 h after the fill: 4 Feb, a day later.
    midnight = calc(fill_volume_ml="18", dose_mcg_per_day=None, flex_schedule=WEEKEND_HEAVY, fill_date=SATURDAY)
    evening = calc(
        fill_volume_ml="18", dose_mcg_per_day=None, flex_schedule=WEEKEND_HEAVY, fill_date=SATURDAY, fill_time="18:00"
    )
    assert (midnight["alarm_date"], midnight["days_to_alarm"], midnight["due_date"]) == ("2027-02-03", 25, "2027-01-27")
    assert (evening["alarm_date"], evening["days_to_alarm"], evening["due_date"]) == ("2027-02-04", 26, "2027-01-28")
    assert midnight["daily_volume_ml"] == "0.6171"  # 4.32 / 7, the week's mean, as the engine shows it


def test_a_flexible_schedule_with_boluses_says_so_with_the_weeks_mean():
    # (5 x 240 + 2 x 480) / 7 = 308.57 mcg/day; + 2 x 50 = 408.57.
    result = calc(dose_mcg_per_day=None, flex_schedule=WEEKEND_HEAVY, bolus_dose_mcg="50", max_boluses_per_day="2")
    assert result["warnings"][-1]["message"] == (
        "The dates include every permitted bolus (up to 2 of 50 mcg a day): 100 mcg/day on top of the flexible "
        "schedule's 308.57 mcg/day (mean over the week), 408.57 mcg/day in all."
    )


def test_a_concentration_change_warns_that_a_bridge_bolus_is_needed():
    result = calc(previous_concentration_mcg_per_ml="1000")
    assert [(w["code"], w["severity"]) for w in result["warnings"]] == [("bridge_bolus", "high")]
    assert result["warnings"][0]["message"] == (
        "Concentration changes from 1000 to 500 mcg/mL: a bridge bolus is required."
    )
    assert codes(calc(previous_concentration_mcg_per_ml="500")) == []


def test_the_usual_dose_range_is_the_clinics_and_about_the_programmed_dose():
    assert codes(calc(usual_dose_mcg=(20, 250))) == ["dose_range"]  # 300 mcg/day programmed
    # 200 programmed + 100 of boluses is inside 20-250: boluses are not a programmed dose.
    assert codes(calc(**PTM, usual_dose_mcg=(20, 250))) == ["boluses_included"]
    low = calc(dose_mcg_per_day=None, flex_schedule="00:00 0.5")  # 12 mcg a day
    assert "Daily dose 12 mcg is below the usual 20-2000 mcg/day" in low["warnings"][-1]["message"]


def test_high_warnings_come_first():
    result = calc(**PTM, fill_volume_ml="5", previous_concentration_mcg_per_ml="2000")
    assert codes(result) == ["bridge_bolus", "due_at_fill", "boluses_included"]


def test_whole_result_keeps_dates_as_dates_for_the_page():
    result = what_if("20", "20", "500", "300", "2", "7", "180", FILL, TZ)
    assert result.projection.due_date == date(2027, 1, 24)
    assert result.days_to_due == 23


REFUSED = [
    (
        "overfill",
        {"fill_volume_ml": "20.5"},
        OverfillRefused,
        "fill_volume_ml",
        "20.5 mL is more than the 20 mL reservoir holds; never overfill.",
    ),
    ("dose 0", {"dose_mcg_per_day": "0"}, InvalidDose, "dose_mcg_per_day", "Daily dose must be more than 0 mcg/day."),
    ("negative dose", {"dose_mcg_per_day": "-5"}, InvalidDose, "dose_mcg_per_day", "more than 0"),
    (
        "concentration 0",
        {"concentration_mcg_per_ml": "0"},
        InvalidConcentration,
        "concentration_mcg_per_ml",
        "Concentration must be more than 0 mcg/mL.",
    ),
    (
        "fractional concentration",
        {"concentration_mcg_per_ml": "500.5"},
        InvalidConcentration,
        "concentration_mcg_per_ml",
        "whole number",
    ),
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
    (
        "a dose and a schedule",
        {"flex_schedule": "00:00 10"},
        InvalidDose,
        "dose_mcg_per_day",
        "Give either a daily dose or a flexible schedule, not both or neither.",
    ),
    ("no dose, no schedule", {"dose_mcg_per_day": ""}, InvalidDose, "dose_mcg_per_day", "not both or neither"),
    (
        "schedule in words",
        {"dose_mcg_per_day": None, "flex_schedule": "06:00 twelve"},
        InvalidFlexSchedule,
        "flex_schedule",
        "'06:00 twelve' is not a step: write the start time and the rate in mcg/hour",
    ),
    (
        "a weekend from 06:00",
        {"dose_mcg_per_day": None, "flex_schedule": "00:00 10\nSat: 06:00 5"},
        InvalidFlexSchedule,
        "flex_schedule",
        "Saturday's own steps must begin at 00:00",
    ),
    (
        "weekdays without the rest",
        {"dose_mcg_per_day": None, "flex_schedule": "Mon-Fri: 00:00 10"},
        InvalidFlexSchedule,
        "flex_schedule",
        "Give an everyday schedule before the day names, or steps for all seven",
    ),
    (
        "14 steps",
        {"dose_mcg_per_day": None, "flex_schedule": "\n".join(f"{h:02}:00 10" for h in range(14))},
        InvalidFlexSchedule,
        "flex_schedule",
        "At most 13 flex steps a day; got 14.",
    ),
    (
        "a rate of 500 mcg/hour",
        {"dose_mcg_per_day": None, "flex_schedule": "00:00 500"},
        InvalidFlexSchedule,
        "flex_schedule",
        "500 mcg/hour is above the 200 mcg/hour the dose form allows.",
    ),
    (
        "a day that delivers nothing",
        {"dose_mcg_per_day": None, "flex_schedule": "00:00 10; Sun: 00:00 0"},
        InvalidDose,
        "flex_schedule",
        "Each day's flexible schedule must deliver more than 0 mcg.",
    ),
    (
        "an essay for a schedule",
        {"dose_mcg_per_day": None, "flex_schedule": "00:00 5\n" * 400},
        InvalidFlexSchedule,
        "flex_schedule",
        "The schedule is too long: at most 2000 characters.",
    ),
    ("25 o'clock", {"fill_time": "25:00"}, InvalidTime, "fill_time", "Fill time 25:00 is not a real time of day."),
    ("2pm", {"fill_time": "2pm"}, InvalidTime, "fill_time", "use HH:MM (24-hour clock)"),
    (
        "bolus without a count",
        {"bolus_dose_mcg": "25"},
        InvalidDose,
        "max_boluses_per_day",
        "Enter the maximum boluses a day too (0 if the patient may take none).",
    ),
    ("count without a bolus", {"max_boluses_per_day": "4"}, InvalidDose, "bolus_dose_mcg", "Enter the bolus dose too."),
    (
        "bolus over 500 mcg",
        {"bolus_dose_mcg": "600", "max_boluses_per_day": "1"},
        InvalidDose,
        "bolus_dose_mcg",
        "Bolus dose must be from 0 to 500 mcg.",
    ),
    (
        "25 boluses a day",
        {"bolus_dose_mcg": "5", "max_boluses_per_day": "25"},
        InvalidDose,
        "max_boluses_per_day",
        "Boluses a day must be from 0 to 24.",
    ),
    (
        "half a bolus",
        {"bolus_dose_mcg": "5", "max_boluses_per_day": "2.5"},
        InvalidDose,
        "max_boluses_per_day",
        "Boluses a day must be a whole number.",
    ),
    (
        "previous concentration 0",
        {"previous_concentration_mcg_per_ml": "0"},
        InvalidConcentration,
        "previous_concentration_mcg_per_ml",
        "Previous concentration must be more than 0 mcg/mL.",
    ),
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
