"""The worklist reasons and calendar colours, as pure rules."""

from datetime import date, timedelta

import pytest

from tracker.clinical.worklist import RefillState, reasons, urgency

TODAY = date(2026, 11, 24)


def d(days):
    return TODAY + timedelta(days=days)


@pytest.mark.parametrize("state, expected_reasons, expected_colour", [
    (RefillState(d(-3)), ["overdue"], "overdue"),
    (RefillState(d(-3), d(1)), [], "booked-after-due"),
    (RefillState(d(-3), d(-1), appointment_passed=True), ["missed_appointment"], "overdue"),
    (RefillState(d(3)), ["due_soon_unbooked"], "due-soon"),
    (RefillState(d(14)), ["due_soon_unbooked"], "later"),
    (RefillState(d(15)), [], "later"),
    (RefillState(d(5), d(4)), [], "booked"),
    (RefillState(d(5), d(5)), [], "booked"),
    (RefillState(d(5), d(7)), ["booked_after_due"], "booked-after-due"),
    (RefillState(d(0)), ["due_soon_unbooked"], "due-soon"),
])
def test_reasons_and_colours(state, expected_reasons, expected_colour):
    assert reasons(state, TODAY, horizon_days=14) == expected_reasons
    assert urgency(state, TODAY) == expected_colour
