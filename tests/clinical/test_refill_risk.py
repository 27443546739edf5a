"""The refill-risk model (domain.md section 6): one status, one booking verdict, one battery verdict."""

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracker.clinical import refill_risk as r

TODAY = date(2026, 3, 10)
SOON = 14


def d(n: int) -> date:
    return TODAY + timedelta(days=n)


# A pump due on day 0, alarming on day 7, empty on day 12 (relative to each case's today).
def dates_for(due: int) -> r.RefillDates:
    return r.RefillDates(d(due), d(due + 7), d(due + 12))


# (due in days, booking day or None, passed) -> (status, booking verdict, needs action, urgency)
CASES = [
    # ok: not due yet
    (30, None, False, r.OK, r.NOT_BOOKED, False, r.OK),
    (30, 25, False, r.OK, r.ON_TIME, False, "booked"),
    (30, 31, False, r.OK, r.AFTER_DUE, True, "booked_late"),
    (30, 37, False, r.OK, r.AFTER_ALARM, True, "booked_late"),
    (30, 42, False, r.OK, r.AFTER_EMPTY, True, "booked_late"),
    # due soon
    (5, None, False, r.DUE_SOON, r.NOT_BOOKED, True, r.DUE_SOON),
    (0, None, False, r.DUE_SOON, r.NOT_BOOKED, True, r.DUE_SOON),  # due today is not yet overdue
    (5, 5, False, r.DUE_SOON, r.ON_TIME, False, "booked"),
    (5, 6, False, r.DUE_SOON, r.AFTER_DUE, True, "booked_late"),
    (5, 12, False, r.DUE_SOON, r.AFTER_ALARM, True, "booked_late"),
    (5, 17, False, r.DUE_SOON, r.AFTER_EMPTY, True, "booked_late"),
    (5, 0, True, r.DUE_SOON, r.MISSED, True, r.MISSED),
    # overdue: a booking never makes it fine
    (-1, None, False, r.OVERDUE, r.NOT_BOOKED, True, r.OVERDUE),
    (-1, 2, False, r.OVERDUE, r.AFTER_DUE, True, r.OVERDUE),
    (-1, 6, False, r.OVERDUE, r.AFTER_ALARM, True, r.OVERDUE),
    (-1, 11, False, r.OVERDUE, r.AFTER_EMPTY, True, r.OVERDUE),
    (-1, -1, True, r.OVERDUE, r.MISSED, True, r.OVERDUE),
    # past the alarm
    (-7, None, False, r.PAST_ALARM, r.NOT_BOOKED, True, r.PAST_ALARM),
    (-8, 1, False, r.PAST_ALARM, r.AFTER_ALARM, True, r.PAST_ALARM),
    (-8, 4, False, r.PAST_ALARM, r.AFTER_EMPTY, True, r.PAST_ALARM),
    (-8, -1, True, r.PAST_ALARM, r.MISSED, True, r.PAST_ALARM),
    # empty
    (-12, None, False, r.EMPTY, r.NOT_BOOKED, True, r.EMPTY),
    (-60, 1, False, r.EMPTY, r.AFTER_EMPTY, True, r.EMPTY),
    (-60, -2, True, r.EMPTY, r.MISSED, True, r.EMPTY),
]


@pytest.mark.parametrize("due, booked, passed, status, verdict, needs_action, urgency", CASES)
def test_every_status_and_booking_pair(due, booked, passed, status, verdict, needs_action, urgency):
    booking = r.Booking(d(booked), passed) if booked is not None else None
    risk = r.assess(dates_for(due), booking, TODAY, SOON)
    assert (risk.status, risk.booking, risk.needs_action, risk.urgency) == (status, verdict, needs_action, urgency)
    assert r.LABELS[risk.urgency] and r.TONES[risk.urgency]
    assert bool(risk.reasons) == needs_action


def test_the_table_covers_every_status_and_every_verdict():
    seen = {(c[3], c[4]) for c in CASES}
    assert {s for s, _ in seen} == set(r.STATUSES)
    assert {v for _, v in seen} == {r.NOT_BOOKED, r.ON_TIME, r.AFTER_DUE, r.AFTER_ALARM, r.AFTER_EMPTY, r.MISSED}


def test_a_late_pump_booked_late_keeps_both_reasons():
    risk = r.assess(dates_for(-8), r.Booking(d(4)), TODAY, SOON)
    assert risk.reasons == [r.PAST_ALARM, r.AFTER_EMPTY] and risk.tone == "red"


def test_the_due_soon_window_is_the_clinic_setting():
    assert r.assess(dates_for(9), None, TODAY, 10).status == r.DUE_SOON
    assert r.assess(dates_for(11), None, TODAY, 10).status == r.OK


def test_no_alarm_or_empty_date_within_the_horizon_is_judged_by_the_due_date():
    dates = r.RefillDates(d(-3), None, None)  # the stability limit binds; the alarm is years away
    assert r.assess(dates, None, TODAY, SOON).status == r.OVERDUE


days = st.integers(-400, 400)


@st.composite
def pump_dates(draw):
    due = draw(days)
    alarm = due + draw(st.integers(0, 30))
    return r.RefillDates(d(due), d(alarm), d(alarm + draw(st.integers(0, 30))))


@given(pump_dates(), days, days, st.integers(0, 90))
def test_a_later_booking_never_lowers_severity(dates, first, later, soon):
    early, late = sorted((first, later))
    a = r.assess(dates, r.Booking(d(early)), TODAY, soon)
    b = r.assess(dates, r.Booking(d(late)), TODAY, soon)
    assert b.rank <= a.rank
    assert a.needs_action <= b.needs_action


@given(pump_dates(), st.integers(0, 200), st.one_of(st.none(), days), st.booleans(), st.integers(0, 90))
def test_moving_the_due_date_earlier_never_clears_needs_action(dates, earlier_by, booked, passed, soon):
    booking = r.Booking(d(booked), passed) if booked is not None else None
    shift = timedelta(days=earlier_by)
    moved = r.RefillDates(dates.due_date - shift, dates.alarm_date - shift, dates.empty_date - shift)
    before, after = r.assess(dates, booking, TODAY, soon), r.assess(moved, booking, TODAY, soon)
    assert before.needs_action <= after.needs_action
    assert after.rank <= before.rank or after.urgency in ("booked_late", r.MISSED)


@given(pump_dates(), st.one_of(st.none(), days), st.integers(0, 90))
def test_a_booking_after_the_due_date_never_clears_it(dates, booked, soon):
    booking = r.Booking(d(booked)) if booked is not None else None
    risk = r.assess(dates, booking, TODAY, soon)
    if risk.booking in r.BOOKED_LATE or risk.status in r.LATE:
        assert risk.needs_action and risk.tone in ("red", "amber")


def test_battery_verdicts():
    assert r.battery_verdict(r.Battery(None), TODAY, 6) == r.NO_BATTERY
    assert r.battery_verdict(r.Battery(d(-1)), TODAY, 6) == r.BATTERY_PAST_DUE
    assert r.battery_verdict(r.Battery(date(2026, 9, 10)), TODAY, 6) == r.BATTERY_DUE_SOON  # 6 calendar months
    assert r.battery_verdict(r.Battery(date(2026, 9, 11)), TODAY, 6) == r.BATTERY_OK
    assert r.battery_verdict(r.Battery(d(300), eri_on=d(-2)), TODAY, 6) == r.BATTERY_ERI
    assert r.battery_verdict(r.Battery(d(300), eri_on=d(2)), TODAY, 6) == r.BATTERY_OK  # not yet shown


def test_battery_months_are_calendar_months():
    assert r.add_months(date(2019, 8, 31), 84) == date(2026, 8, 31)  # not 84 x 30 days (5 weeks early)
    assert r.add_months(date(2019, 8, 31), 6) == date(2020, 2, 29)


def test_the_patient_page_banners_say_the_dates_and_what_to_do():
    dates = dates_for(-20)  # empty 8 days ago
    risk = r.assess(dates, r.Booking(d(3)), TODAY, SOON)
    red, amber = r.banners(risk, dates, r.Booking(d(3)), TODAY)
    assert (red.tone, red.title) == ("red", "Pump projected empty")
    assert "Projected to run empty on 2 Mar 2026 (8 days ago)." in red.lines
    assert "withdrawal" in red.lines[-1]
    assert amber.tone == "amber" and amber.title == r.LABELS[r.AFTER_EMPTY]
    assert "23 days after the due date (18 Feb 2026)" in amber.lines[0]
    assert "11 days after the projected empty date (2 Mar 2026)" in amber.lines[0]


def test_no_banner_for_a_pump_booked_on_time():
    dates = dates_for(5)
    risk = r.assess(dates, r.Booking(d(4)), TODAY, SOON)
    assert r.banners(risk, dates, r.Booking(d(4)), TODAY) == []


def test_battery_due_from_implant_and_horizon_are_calendar_months():
    assert r.battery_due(date(2019, 8, 31), 84) == date(2026, 8, 31)
    assert r.battery_due(date(2019, 8, 31), None) is None  # no battery-driven pump (Prometra)
    assert r.battery_horizon(date(2026, 8, 31), 6) == date(2027, 2, 28)  # clamped to the month's end
    horizon = r.battery_horizon(TODAY, 6)
    assert r.battery_verdict(r.Battery(horizon), TODAY, 6) == r.BATTERY_DUE_SOON
    assert r.battery_verdict(r.Battery(horizon + timedelta(days=1)), TODAY, 6) == r.BATTERY_OK


@pytest.mark.parametrize("due, booked, passed, status, verdict, needs_action, urgency", CASES)
def test_what_the_patient_page_says_of_the_booking(due, booked, passed, status, verdict, needs_action, urgency):
    risk = r.assess(dates_for(due), r.Booking(d(booked), passed) if booked is not None else None, TODAY, SOON)
    assert risk.missed == (verdict == r.MISSED)
    expected = (
        "green"
        if verdict == r.ON_TIME
        else "red"
        if verdict in (r.NOT_BOOKED, r.MISSED) or status in r.LATE
        else "amber"
    )
    assert risk.booking_tone == expected  # booked after due on a pump not yet late: amber
