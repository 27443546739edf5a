"""Correcting a clinical entry, the pure rules: what a void may not leave behind, and the battery date after a
corrected or voided ERI (tracker/clinical/corrections.py)."""

from datetime import UTC, date, datetime

from tracker.clinical.corrections import (
    IMPLANT_FILL,
    ONLY_FILL,
    battery_due_with_eri,
    battery_due_without_eri,
    fill_void_refusal,
    projection_gap,
)
from tracker.formats import fmt_datetime

IMPLANT = datetime(2026, 3, 1, 5, 0, tzinfo=UTC)
REFILL = datetime(2026, 3, 24, 14, 0, tzinfo=UTC)


def test_the_fill_at_implantation_is_corrected_never_voided():
    assert fill_void_refusal(at_implant=True) == IMPLANT_FILL
    assert fill_void_refusal(at_implant=False) is None


def test_voiding_a_pumps_only_fill_is_refused_so_a_pump_in_use_keeps_a_refill_date():
    # An imported pump's one fill (not at implantation) voided: nothing left to project from.
    assert projection_gap([], [IMPLANT]) == ONLY_FILL
    assert projection_gap([REFILL], [IMPLANT]) is None


def test_every_fill_must_have_a_dose_in_force_at_it():
    # The starting dose takes effect at the implant fill (same instant): the fills can be projected.
    assert projection_gap([IMPLANT, REFILL], [IMPLANT]) is None
    # The starting dose voided, a later change left: nothing is in force at the implant fill of 1 Mar 05:00 UTC,
    # named on the clinic's clock as every time is.
    gap = projection_gap([IMPLANT, REFILL], [REFILL])
    assert gap is not None and f"first fill ({fmt_datetime(IMPLANT)})" in gap
    assert projection_gap([IMPLANT], []) is not None


def test_an_eri_brings_the_battery_date_forward_to_the_pumps_stop_window():
    # Battery due 1 Mar 2027 (84 months from a 1 Mar 2020 implant); ERI on 10 Jan 2026, the pump stops within
    # 90 days: 10 Jan + 21 days = 31 Jan, + 28 = 28 Feb, + 31 = 31 Mar, + 10 = 10 Apr 2026.
    assert battery_due_with_eri(date(2027, 3, 1), date(2026, 1, 10), 90) == date(2026, 4, 10)
    # An ERI after the battery date never moves it later.
    assert battery_due_with_eri(date(2027, 3, 1), date(2027, 2, 1), 90) == date(2027, 3, 1)
    assert battery_due_with_eri(date(2027, 3, 1), None, 90) == date(2027, 3, 1)


def test_a_corrected_eri_is_applied_to_the_battery_date_the_implant_gave_not_to_the_one_the_wrong_eri_set():
    # Stored 10 Apr 2026 was set by the ERI of 10 Jan 2026 (10 Jan + 90 days): the date before it is the implant's.
    before = battery_due_without_eri(date(2026, 4, 10), date(2026, 1, 10), 90, date(2027, 3, 1))
    assert before == date(2027, 3, 1)
    # Corrected to 20 Jan 2026: 20 Jan + 90 days = 20 Apr 2026, later than the wrong ERI's 10 Apr.
    assert battery_due_with_eri(before, date(2026, 1, 20), 90) == date(2026, 4, 20)
    # Voided: back to 1 Mar 2027.
    assert battery_due_with_eri(before, None, 90) == date(2027, 3, 1)


def test_a_battery_date_earlier_than_the_eris_stop_date_was_not_moved_by_it_and_stays():
    # Due 1 Mar 2027; ERI 1 Feb 2027 stops by 2 May 2027, so it left 1 Mar 2027 alone: that is the pump's own date,
    # whatever the catalogue now says from the implant (here 1 Jun 2027).
    assert battery_due_without_eri(date(2027, 3, 1), date(2027, 2, 1), 90, date(2027, 6, 1)) == date(2027, 3, 1)
    assert battery_due_without_eri(date(2027, 3, 1), None, 90, date(2027, 6, 1)) == date(2027, 3, 1)
