"""Titration rules (domain.md 4), one hand-worked example per rule."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from tracker.clinical.dosing import (
    TitrationRules,
    age_in_years,
    ceiling,
    cut_warning,
    dose_change_warnings,
    needs_physician_sign_off,
    recent_doses,
    titration_limit,
)

AT = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
D = Decimal


def test_the_cut_then_raise_loophole_needs_sign_off():
    # 300 (10 days ago) -> 150 (12 h ago): in force during the last 24 h were 300 and 150; the lowest is 150.
    # 345 from 150 is (345 - 150) / 150 = +130% > 15% cerebral: a physician. (From 300 it was +15%, and passed.)
    ledger = [(AT - timedelta(days=10), D(300)), (AT - timedelta(hours=12), D(150))]
    recent = recent_doses(ledger, AT)
    assert sorted(recent) == [D(150), D(300)]
    assert needs_physician_sign_off(min(recent), D(345), "cerebral", 15, 30)


def test_two_steps_in_one_day_add_up():
    # 300 -> 345 (6 h ago) -> 396: lowest in 24 h 300; (396 - 300) / 300 = +32% > 15%.
    ledger = [(AT - timedelta(days=3), D(300)), (AT - timedelta(hours=6), D(345))]
    assert needs_physician_sign_off(min(recent_doses(ledger, AT)), D(396), "cerebral", 15, 30)


def test_a_dose_older_than_24_hours_no_longer_counts():
    # 150 until 30 h ago, then 300: at AT only 300 was in force in the window [AT - 24 h, AT).
    ledger = [(AT - timedelta(days=5), D(150)), (AT - timedelta(hours=30), D(300))]
    assert recent_doses(ledger, AT) == [D(300)]
    # 300 -> 345 is +15%, exactly the cerebral limit: no sign-off.
    assert not needs_physician_sign_off(D(300), D(345), "cerebral", 15, 30)


def test_replacing_the_starting_dose_at_its_own_moment_measures_from_it():
    # Implanted at AT with 300, changed at AT: the starting dose is the base, not "nothing".
    assert recent_doses([(AT, D(300))], AT) == [D(300)]
    assert recent_doses([], AT) == []


def test_a_child_has_the_paediatric_limit():
    # Born 2016-03-11: on 2026-03-10 the tenth birthday is a day away, so 9 years; 9 < 18: a child.
    assert age_in_years(date(2016, 3, 11), date(2026, 3, 10)) == 9
    assert age_in_years(date(2016, 3, 10), date(2026, 3, 10)) == 10
    # Spinal origin allows +30% for adults, but a child +20% (300 -> 360) is beyond the 15% paediatric limit.
    assert not needs_physician_sign_off(D(300), D(360), "spinal", 15, 30)
    assert needs_physician_sign_off(D(300), D(360), "spinal", 15, 30, child=True, limit_paediatric_pct=15)
    # An adult, cerebral, +14% (300 -> 342) stays within 15%.
    assert not needs_physician_sign_off(D(300), D(342), "cerebral", 15, 30)


def test_the_form_states_the_limit_and_the_dose_it_allows():
    # Child: 15% of 300 = 45, so up to 345 mcg/day. Adult spinal: 30% of 300 = 90, so up to 390.
    rules = TitrationRules()
    assert titration_limit(D(300), "spinal", True, rules) == titration_limit(D(300), "cerebral", True, rules)
    child = titration_limit(D(300), "spinal", True, rules)
    assert (child.pct, child.group, child.ceiling_mcg) == (15, "child", D(345))
    assert titration_limit(D(300), "spinal", False, rules).ceiling_mcg == D(390)
    # 15% of 123.4 = 18.51, 141.91 rounds down to 141.9 (never past the limit).
    assert ceiling(D("123.4"), 15) == D("141.9")


def test_a_cut_of_more_than_20_percent_in_a_day_warns_of_withdrawal():
    # 300 -> 210 is (300 - 210) / 300 = 30% > 20%: a warning. 300 -> 240 is exactly 20%: none.
    assert "30%" in cut_warning(D(300), D(210), 20)
    assert cut_warning(D(300), D(240), 20) is None
    assert cut_warning(D(300), D(330), 20) is None  # an increase
    assert cut_warning(None, D(10), 20) is None  # a starting dose


def test_the_usual_dose_range_warns_at_a_change_and_a_starting_dose():
    # 2100 mcg/day is above the usual 20-2000; 15 below it. 300 -> 2100 is an increase, so no cut warning.
    rules = TitrationRules()
    assert ["Daily dose 2100 mcg is above the usual 20-2000 mcg/day: check it is intended."] == dose_change_warnings(
        D(300), D(2100), D(2100), rules
    )
    assert len(dose_change_warnings(None, D(15), D(15), rules)) == 1
    assert dose_change_warnings(D(300), D(330), D(330), rules) == []
