"""Refill arithmetic: domain.md worked examples, rounding, flex schedules, warnings, properties."""

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from tracker.clinical.refill import DosePeriod, DoseProgramme, FlexStep, RefillInputs, project_refill, volumes_at
from tracker.clinical.refill_checks import (
    bridge_bolus_warning,
    discrepancy,
    dose_range_warning,
    fill_volume,
    measured_rate,
    pocket_fill_warning,
    residual_discrepancy_warning,
    volume_to_prepare,
)

NY = ZoneInfo("America/New_York")
FILL = date(2027, 1, 4)  # a Monday, far from any DST change


def simple(dose, **bolus):
    return DoseProgramme(daily_dose_mcg=dose, **bolus)


def inputs(**overrides):
    values = dict(
        fill_time=FILL,
        reservoir_after_fill_ml=20,
        concentration_mcg_per_ml=500,
        doses=simple(300),
        alarm_volume_ml=2,
        buffer_days=7,
        stability_days=180,
        reservoir_capacity_ml=20,
    )
    return RefillInputs(**(values | overrides))


def day(n):
    return FILL + timedelta(days=n)


# domain.md worked examples


def test_refill_due_uses_stability_limit_when_it_comes_first():
    projection = project_refill(
        inputs(reservoir_after_fill_ml=40, reservoir_capacity_ml=40, concentration_mcg_per_ml=2000, doses=simple(400))
    )
    assert projection.daily_volume_ml == Decimal("0.2")
    assert projection.alarm_date == day(190)
    assert projection.empty_date == day(200)
    assert projection.due_date == projection.stability_date == day(180)
    assert projection.binding_rule == "stability"


def test_refill_due_is_alarm_minus_buffer_for_a_20_ml_pump_at_300_mcg():
    projection = project_refill(inputs())
    assert projection.daily_volume_ml == Decimal("0.6")
    assert projection.alarm_date == day(30)
    assert projection.due_date == day(23)
    assert projection.binding_rule == "alarm"
    assert projection.days_left(day(20)) == 3
    assert projection.days_left(day(25)) == -2


# rounding: a refill date may come early, never late


def test_exact_whole_days_to_alarm_land_on_that_day():
    assert project_refill(inputs()).alarm_date == day(30)  # 18 mL / 0.6 mL/day = 30.0 days


def test_alarm_at_30_point_9_days_rounds_to_day_30():
    # 20 - 1.46 = 18.54 mL at 0.6 mL/day = 30.9 days
    assert project_refill(inputs(alarm_volume_ml="1.46")).alarm_date == day(30)


def test_late_evening_fill_still_counts_whole_days_from_the_fill_date():
    # The exact alarm instant is day 31 at 20:36; the whole-day count (30) is earlier and wins.
    evening = datetime(2027, 1, 4, 23, 0, tzinfo=NY)
    projection = project_refill(inputs(fill_time=evening, alarm_volume_ml="1.46"))
    assert projection.fill_date == FILL
    assert projection.alarm_date == day(30)


def test_fill_time_in_utc_uses_the_clinic_local_date():
    # 03:00 UTC on 5 Jan is 22:00 on 4 Jan in New York.
    projection = project_refill(inputs(fill_time=datetime(2027, 1, 5, 3, 0, tzinfo=UTC)))
    assert projection.fill_date == FILL
    assert projection.alarm_date == day(30)


def test_alarm_a_hair_short_of_30_days_is_day_29():
    assert project_refill(inputs(alarm_volume_ml="2.0001")).alarm_date == day(29)


def test_alarm_date_is_never_later_than_the_local_date_across_a_dst_fall_back():
    # 30 elapsed days from 00:30 cross 7 Nov 2027 (clocks go back), so the exact instant is
    # 23:30 local on day 29; counting whole days alone (day 30) would be a day late.
    fill = datetime(2027, 10, 10, 0, 30, tzinfo=NY)
    projection = project_refill(inputs(fill_time=fill))
    assert projection.alarm_date == date(2027, 10, 10) + timedelta(days=29)


# dose changes and flexible schedules


def test_dose_change_after_the_fill_changes_the_projection_from_its_effective_time():
    ledger = [
        DosePeriod(datetime(2026, 6, 1, tzinfo=NY), simple(100)),  # superseded before the fill
        DosePeriod(datetime(2026, 12, 1, tzinfo=NY), simple(300)),  # in force at the fill: 0.6 mL/day
        DosePeriod(datetime(2027, 1, 14, tzinfo=NY), simple(600)),  # day 10 on: 1.2 mL/day
    ]
    projection = project_refill(inputs(doses=ledger))
    # 6 mL in 10 days leaves 14 mL; 12 mL more to the alarm at 1.2 mL/day = 10 days.
    assert projection.daily_volume_ml == Decimal("0.6")
    assert projection.alarm_date == day(20)
    assert projection.empty_date == day(21)  # 14 / 1.2 = 11.67 days after day 10
    assert projection.due_date == day(13)


def test_volume_at_projects_the_reservoir_for_plots():
    projection = project_refill(inputs())
    fill = datetime(2027, 1, 4, tzinfo=NY)
    assert projection.volume_at(fill - timedelta(days=3)) == Decimal(20)
    assert projection.volume_at(fill + timedelta(days=10)) == Decimal(14)
    assert projection.volume_at(fill + timedelta(hours=12)) == Decimal("19.7")
    assert projection.volume_at(fill + timedelta(days=400)) == Decimal(0)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=-3 * 24, max_value=40 * 24), min_size=1, max_size=30), st.booleans())
def test_volumes_at_in_one_pass_equals_volume_at_each_time(hours, weekly):
    doses = (
        weekday_schedule() if weekly else DoseProgramme(daily_dose_mcg=300, bolus_dose_mcg=10, max_boluses_per_day=2)
    )
    projection = project_refill(inputs(concentration_mcg_per_ml=240 if weekly else 500, doses=doses))
    times = [datetime(2027, 1, 4, tzinfo=NY) + timedelta(hours=h) for h in sorted(hours)]
    assert volumes_at(projection, times) == [projection.volume_at(t) for t in times]


def weekday_schedule():
    # 240 mcg/mL: 10 mcg/h = 1 mL/day on weekdays, 20 mcg/h = 2 mL/day at weekends.
    weekend = [FlexStep(time(0), 10), FlexStep(time(8), 30), FlexStep(time(20), 10)]  # 480 mcg
    return DoseProgramme(flex_steps=[FlexStep(time(0), 10)], flex_by_weekday={5: weekend, 6: weekend})


def test_weekday_schedule_is_simulated_day_by_day_not_averaged():
    monday = project_refill(inputs(concentration_mcg_per_ml=240, reservoir_after_fill_ml=18, doses=weekday_schedule()))
    # Mon-Fri 5 mL, weekend 4, Mon-Fri 5 more = 14 mL by day 12; Saturday ends at 16 mL: day 13.
    assert monday.alarm_date == day(13)
    assert monday.empty_date == day(14)
    assert monday.daily_volume_ml == Decimal("1.2857")  # 9 mL a week / 7, for display only
    thursday = project_refill(
        inputs(fill_time=day(3), concentration_mcg_per_ml=240, reservoir_after_fill_ml=18, doses=weekday_schedule())
    )
    # Thu, Fri 2 mL, weekend 4, Mon-Fri 5, weekend 4 = 15 by day 11; Monday reaches 16 on day 12.
    assert thursday.alarm_date == day(3 + 12)


def test_flex_steps_follow_the_wall_clock_within_the_day():
    # 23 mcg/h 00:00-23:00, then 46 mcg/h: 575 mcg/day at 500 mcg/mL. Filled at 22:00:
    # the first two hours use 0.046 + 0.092 mL.
    programme = DoseProgramme(flex_steps=[FlexStep(time(0), 23), FlexStep(time(23), 46)])
    fill = datetime(2027, 1, 4, 22, 0, tzinfo=NY)
    projection = project_refill(inputs(fill_time=fill, doses=programme))
    assert projection.volume_at(fill + timedelta(hours=2)) == Decimal("19.862")


def test_boluses_count_at_the_maximum_allowed_every_day():
    projection = project_refill(inputs(doses=simple(250, bolus_dose_mcg=25, max_boluses_per_day=2)))
    assert projection.daily_volume_ml == Decimal("0.6")
    assert projection.alarm_date == day(30)


# explanation


def test_explanation_names_the_alarm_buffer_and_the_later_drug_limit():
    text = project_refill(inputs()).explanation
    assert text == (
        "Due 27 Jan 2027: the low-reservoir alarm (2 mL) falls on 3 Feb, minus the 7-day buffer; "
        "the 180-day drug limit, 3 Jul, is later."
    )


def test_explanation_names_the_drug_limit_and_the_later_alarm():
    text = project_refill(
        inputs(reservoir_after_fill_ml=40, reservoir_capacity_ml=40, concentration_mcg_per_ml=2000, doses=simple(400))
    ).explanation
    assert text == (
        "Due 3 Jul 2027: the 180-day drug limit; the low-reservoir alarm (2 mL), 13 Jul, "
        "minus the 7-day buffer would be later."
    )


def test_explanation_names_both_rules_when_they_fall_on_the_same_day():
    projection = project_refill(inputs(stability_days=23, alarm_volume_ml="2.5"))
    assert projection.binding_rule == "alarm"
    assert projection.due_date == day(22)
    assert "alarm (2.5 mL)" in projection.explanation
    projection = project_refill(inputs(stability_days=23))
    assert projection.binding_rule == "alarm"
    assert projection.explanation.endswith("the 23-day drug limit falls on the same day.")


def test_alarm_volume_at_or_above_the_fill_means_due_now():
    projection = project_refill(inputs(reservoir_after_fill_ml=3, alarm_volume_ml=4))
    assert projection.alarm_date == FILL
    assert projection.due_date == FILL
    assert projection.binding_rule == "alarm"
    assert projection.explanation.startswith("Due now, 4 Jan 2027: the low-reservoir alarm (4 mL) falls on 4 Jan")
    assert "within the 7-day buffer" in projection.explanation


def test_alarm_beyond_the_horizon_leaves_the_drug_limit_binding():
    projection = project_refill(inputs(reservoir_after_fill_ml=20, doses=simple("0.001")))
    assert projection.alarm_date is None and projection.empty_date is None
    assert projection.due_date == day(180)
    assert projection.binding_rule == "stability"
    assert "more than 1826 days away" in projection.explanation


# validation


@pytest.mark.parametrize(
    ("overrides", "error", "field"),
    [
        (dict(concentration_mcg_per_ml=0), InvalidConcentration, "concentration_mcg_per_ml"),
        (dict(concentration_mcg_per_ml=-500), InvalidConcentration, "concentration_mcg_per_ml"),
        (dict(reservoir_after_fill_ml=21), OverfillRefused, "reservoir_after_fill_ml"),
        (dict(reservoir_after_fill_ml=-1), InvalidVolume, "reservoir_after_fill_ml"),
        (dict(alarm_volume_ml="-2"), InvalidVolume, "alarm_volume_ml"),
        (dict(reservoir_capacity_ml=0), InvalidVolume, "reservoir_capacity_ml"),
        (dict(buffer_days=-1), InvalidDays, "buffer_days"),
        (dict(stability_days=-180), InvalidDays, "stability_days"),
        (dict(stability_days=5000), InvalidDays, "stability_days"),
        (dict(fill_time=datetime(2027, 1, 4, 9, 0)), InvalidTime, "fill_time"),
        (
            dict(doses=[DosePeriod(datetime(2027, 2, 1, tzinfo=NY), DoseProgramme(daily_dose_mcg=300))]),
            InvalidTime,
            "doses",
        ),
        (dict(concentration_mcg_per_ml=500.0), RefillInputError, "concentration_mcg_per_ml"),
        (dict(tz="Mars/Olympus"), RefillInputError, "tz"),
    ],
)
def test_refill_inputs_refuse_what_a_clinician_must_correct(overrides, error, field):
    with pytest.raises(error) as raised:
        inputs(**overrides)
    assert raised.value.field == field
    assert isinstance(raised.value, ValueError) and raised.value.message


def test_overfill_message_names_both_volumes():
    with pytest.raises(OverfillRefused, match="20.5 mL is more than the 20 mL reservoir"):
        inputs(reservoir_after_fill_ml="20.5")


def steps(*starts):
    return [FlexStep(time(*s), 10) for s in starts]


@pytest.mark.parametrize(
    ("kwargs", "error", "field"),
    [
        (dict(daily_dose_mcg=0), InvalidDose, "daily_dose_mcg"),
        (dict(daily_dose_mcg=-50), InvalidDose, "daily_dose_mcg"),
        (dict(), InvalidDose, "daily_dose_mcg"),
        (dict(daily_dose_mcg=300, flex_steps=steps((0,))), InvalidDose, "daily_dose_mcg"),
        (dict(flex_steps=steps((1,), (5,))), InvalidFlexSchedule, "flex_steps"),
        (dict(flex_steps=steps((0,), (8,), (8,))), InvalidFlexSchedule, "flex_steps"),
        (dict(flex_steps=steps((0,), (9,), (8,))), InvalidFlexSchedule, "flex_steps"),
        (dict(flex_steps=steps(*[(h,) for h in range(14)])), InvalidFlexSchedule, "flex_steps"),
        (dict(flex_by_weekday={0: steps((0,))}), InvalidFlexSchedule, "flex_steps"),  # Tue-Sun uncovered
        (dict(flex_steps=steps((0,)), flex_by_weekday={7: steps((0,))}), InvalidFlexSchedule, "flex_by_weekday"),
        (dict(flex_steps=[FlexStep(time(0), 0)]), InvalidDose, "flex_steps"),
        (dict(daily_dose_mcg=300, bolus_dose_mcg=-25), InvalidDose, "bolus_dose_mcg"),
        (dict(daily_dose_mcg=300, max_boluses_per_day=-1), InvalidDose, "max_boluses_per_day"),
    ],
)
def test_dose_programmes_refuse_impossible_schedules(kwargs, error, field):
    with pytest.raises(error) as raised:
        DoseProgramme(**kwargs)
    assert raised.value.field == field


def test_thirteen_flex_steps_are_allowed():
    programme = DoseProgramme(flex_steps=steps(*[(h,) for h in range(13)]))
    assert programme.average_daily_dose_mcg() == 240


def test_a_negative_flex_rate_is_refused():
    with pytest.raises(InvalidDose) as raised:
        FlexStep(time(0), -5)
    assert raised.value.field == "rate_mcg_per_hour"


def test_a_naive_dose_change_time_is_refused():
    with pytest.raises(InvalidTime):
        DosePeriod(datetime(2027, 1, 1), simple(300))


# warnings for the refill visit


def residual(last_fill, expected, actual, **rules):
    return residual_discrepancy_warning(discrepancy(last_fill, expected, actual, **rules))


def test_residual_below_expected_suggests_over_infusion_leak_or_diversion():
    warning = residual("40", "10", "7.5")  # 30 mL programmed since the 40 mL fill
    assert warning.code == "residual_discrepancy" and warning.severity == "high"
    assert "2.5 mL less than expected" in warning.message and "30 mL programmed" in warning.message
    assert "over-infusion, leak or diversion" in warning.message


def test_residual_above_expected_suggests_under_delivery_or_occlusion():
    warning = residual("34", "4", "7")
    assert "3 mL more than expected" in warning.message
    assert "catheter occlusion" in warning.message
    assert "measured rate" not in warning.message  # less used: the programme's dates stand


def test_residual_discrepancy_beyond_pump_accuracy_flags_under_2_ml():
    # 14.5% of 10 mL programmed (15 - 5) is 1.45 mL: 1.5 mL more left is beyond accuracy though under 2 mL.
    assert residual("15", "5", "6.5").severity == "medium"
    assert residual("25", "5", "6.5") is None  # 20 mL programmed: within 2.9 mL and 2 mL
    assert residual("25", "5", "6.5", threshold_ml=1).severity == "high"


def test_accuracy_bound_is_taken_on_the_programmed_volume_not_the_measured_one():
    # Issue 17's example: 20 mL fill, expected residual 10 mL, aspirated 8.5 mL.
    # Programmed 20 - 10 = 10 mL, bound 14.5% x 10 = 1.45 mL: the 1.5 mL gap is beyond it.
    # On the measured volume (20 - 8.5 = 11.5 mL) the bound would be 1.6675 mL and the gap would pass.
    found = discrepancy("20", "10", "8.5")
    assert found.programmed_ml == 10 and found.used_ml == Decimal("11.5")
    assert found.beyond_accuracy and not found.beyond_threshold and found.over_infusion
    assert found.percent_of_programmed == Decimal("15.0")
    # More used than programmed is an over-infusion: high, whichever rule flagged it.
    warning = residual_discrepancy_warning(found)
    assert warning.severity == "high" and "projected at the measured rate" in warning.message


def test_the_next_interval_after_an_over_infusion_runs_at_the_measured_rate():
    # 20 mL of 500 mcg/mL at 300 mcg/day is 0.6 mL/day: alarm (2 mL) on day 30, due day 23 (7-day buffer).
    # The visit found 11.5 mL used of 10 programmed: factor 1.15, 0.69 mL/day.
    # Alarm: 18 / 0.69 = 26.09 days -> day 26; empty: 20 / 0.69 = 28.99 -> day 28; due 26 - 7 = day 19.
    factor, sentence = measured_rate(discrepancy("20", "10", "8.5"))
    assert factor == Fraction(23, 20)
    fill = date(2027, 1, 1)
    base = dict(
        fill_time=fill,
        reservoir_after_fill_ml=20,
        concentration_mcg_per_ml=500,
        doses=simple(300),
        alarm_volume_ml=2,
        buffer_days=7,
    )
    programmed = project_refill(RefillInputs(**base))
    measured = project_refill(RefillInputs(**base, rate_factor=factor, notes=(sentence,)))
    assert (programmed.alarm_date, programmed.due_date) == (date(2027, 1, 31), date(2027, 1, 24))
    assert measured.alarm_date == date(2027, 1, 27)
    assert measured.empty_date == date(2027, 1, 29)
    assert measured.due_date == date(2027, 1, 20)
    assert measured.explanation.startswith("Due 20 Jan 2027")
    assert "Projected at the measured rate: 11.5 mL was used where 10 mL was programmed (+15%)" in measured.explanation


def test_no_measured_rate_without_an_over_infusion():
    assert measured_rate(discrepancy("15", "5", "6.5")) == (1, None)  # more left than expected
    assert measured_rate(discrepancy("25", "5", "4")) == (1, None)  # 1 mL of 20 programmed: within both rules
    assert measured_rate(None) == (1, None)
    # Beyond 2 mL though within accuracy (40 mL programmed, bound 5.8 mL): still projected from what was used.
    factor, _ = measured_rate(discrepancy("45", "5", "2.5"))
    assert factor == Fraction("42.5") / 40


def test_a_measured_rate_can_never_make_a_date_later():
    with pytest.raises(RefillInputError):
        RefillInputs(
            fill_time=date(2027, 1, 1),
            reservoir_after_fill_ml=20,
            concentration_mcg_per_ml=500,
            doses=simple(300),
            rate_factor=Fraction(9, 10),
        )


def test_when_the_fill_volumes_disagree_the_projection_uses_the_smaller():
    # 20 mL went in but the pump reports 21.5 mL: project from 20 mL, and say so.
    volume, sentence = fill_volume("20", "21.5")
    assert volume == Decimal("20.000")
    assert sentence == (
        "The fill's volumes disagree (20 mL added, 21.5 mL reported in the reservoir): "
        "projected from the smaller, 20 mL."
    )
    assert fill_volume("18.5", "18.500") == (Decimal("18.500"), None)
    assert fill_volume("21", "19")[0] == Decimal("19.000")


def test_the_volume_to_prepare_is_the_last_fills_as_the_projection_counts_it_or_none_with_the_reason():
    assert volume_to_prepare("18", "18.0") == fill_volume("18", "18.0") == (Decimal("18.000"), None)
    volume, why = volume_to_prepare("20", "19")
    assert volume is None, "two volumes for one fill: no figure is reliable"
    assert why == fill_volume("20", "19")[1] and "20 mL added, 19 mL reported" in why


def test_pocket_fill_thresholds_depend_on_reservoir_size():
    assert pocket_fill_warning(20, "1") is None
    assert pocket_fill_warning(20, "1.1").severity == "high"
    assert pocket_fill_warning(40, "1.5") is None
    assert "pocket fill" in pocket_fill_warning(40, "-2.5").message


def test_concentration_change_requires_a_bridge_bolus():
    assert bridge_bolus_warning(500, 500) is None
    assert "bridge bolus" in bridge_bolus_warning(500, 1000).message


def test_dose_outside_the_usual_range_is_a_soft_warning():
    assert dose_range_warning(300) is None
    assert dose_range_warning(2500).severity == "low"
    assert "below" in dose_range_warning(10).message
    assert dose_range_warning(10, low_mcg=5) is None


# properties

doses = st.integers(min_value=20, max_value=1500)
fills = st.decimals(min_value=0, max_value=40, places=1)
fill_times = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(NY))
common = dict(
    concentration_mcg_per_ml=st.sampled_from([500, 1000, 2000]),
    alarm_volume_ml=st.decimals(min_value=2, max_value=4, places=1),
    buffer_days=st.integers(min_value=0, max_value=14),
    stability_days=st.integers(min_value=0, max_value=180),
    fill_time=fill_times,
)


def make(dose, fill_ml, **values):
    return project_refill(
        inputs(doses=simple(dose), reservoir_after_fill_ml=fill_ml, reservoir_capacity_ml=40, **values)
    )


@given(dose=doses, fill_ml=fills, **common)
def test_due_never_after_alarm_nor_drug_limit(dose, fill_ml, **values):
    projection = make(dose, fill_ml, **values)
    alarm, empty = projection.alarm_date or date.max, projection.empty_date or date.max  # None: past the horizon
    assert projection.fill_date <= projection.due_date <= alarm <= empty
    assert projection.due_date <= projection.stability_date


@given(dose=doses, more=st.integers(min_value=1, max_value=500), fill_ml=fills, **common)
def test_a_higher_dose_never_gives_a_later_due_date(dose, more, fill_ml, **values):
    assert make(dose + more, fill_ml, **values).due_date <= make(dose, fill_ml, **values).due_date


@given(dose=doses, fill_ml=fills, extra=st.decimals(min_value="0.1", max_value=40, places=1), **common)
def test_a_bigger_fill_never_gives_an_earlier_due_date(dose, fill_ml, extra, **values):
    bigger = min(fill_ml + extra, Decimal(40))
    assert make(dose, bigger, **values).due_date >= make(dose, fill_ml, **values).due_date


@given(
    dose=doses,
    fill_ml=fills,
    bolus=st.integers(min_value=0, max_value=100),
    count=st.integers(min_value=0, max_value=10),
    **common,
)
def test_boluses_never_make_the_due_date_later(dose, fill_ml, bolus, count, **values):
    with_boluses = project_refill(
        inputs(
            doses=simple(dose, bolus_dose_mcg=bolus, max_boluses_per_day=count),
            reservoir_after_fill_ml=fill_ml,
            reservoir_capacity_ml=40,
            **values,
        )
    )
    assert with_boluses.due_date <= make(dose, fill_ml, **values).due_date


@settings(max_examples=60, deadline=None)
@given(
    rate=st.decimals(min_value=5, max_value=60, places=2),  # >= 120 mcg/day keeps the simulation short
    starts=st.lists(st.times(min_value=time(0, 1)), max_size=12, unique=True),
    fill_ml=st.decimals(min_value=2, max_value=10, places=1),
    **common,
)
def test_flex_schedule_at_one_constant_rate_matches_simple_mode(rate, starts, fill_ml, **values):
    flex = DoseProgramme(flex_steps=[FlexStep(t, rate) for t in [time(0), *sorted(starts)]])
    as_flex = project_refill(inputs(doses=flex, reservoir_after_fill_ml=fill_ml, **values))
    as_simple = project_refill(inputs(doses=simple(rate * 24), reservoir_after_fill_ml=fill_ml, **values))
    assert (as_flex.alarm_date, as_flex.empty_date, as_flex.due_date, as_flex.daily_volume_ml) == (
        as_simple.alarm_date,
        as_simple.empty_date,
        as_simple.due_date,
        as_simple.daily_volume_ml,
    )
