"""The implant starting dose (domain.md 4), one hand-worked example per rule."""

from datetime import date
from decimal import Decimal

from tracker.clinical.dosing import TitrationRules, titration_limit
from tracker.clinical.implant import (
    NONE,
    REPLACEMENT,
    TRIAL,
    ImplantRules,
    TrialBolusResult,
    effective_bolus,
    needs_sign_off,
    start_guide,
)

D = Decimal
RULES = ImplantRules()  # twice; once over 8 h


def bolus(dose: int, hours: str | None, outcome: str = "positive", day: int = 3) -> TrialBolusResult:
    return TrialBolusResult(date(2026, 3, day), dose, D(hours) if hours is not None else None, outcome)


def test_twice_the_effective_screening_dose_per_day():
    # 50 mcg bolus, positive, effect 6 h (not over 8 h): 2 x 50 = 100 mcg/day.
    guide = start_guide([bolus(50, "6")], None, RULES)
    assert (guide.basis, guide.ceiling_mcg, guide.factor) == (TRIAL, D(100), 2)
    # 1000 mcg/day is ten times the guide: a physician signs off. 100 is the guide itself: no sign-off.
    assert needs_sign_off(guide, D(1000))
    assert not needs_sign_off(guide, D(100))
    assert needs_sign_off(guide, D("100.1"))
    assert guide.describe() == (
        "100 mcg/day: twice the effective screening dose, the 50 mcg trial bolus of "
        "3 Mar 2026 (effect 6 h); once (50 mcg/day) when the effect lasts over 8 h."
    )


def test_the_same_dose_once_when_the_effect_lasted_over_the_hours_setting():
    # 50 mcg, effect 10 h > 8 h: the start is the dose once, 50 mcg/day; 100 then needs a physician.
    guide = start_guide([bolus(50, "10")], None, RULES)
    assert (guide.ceiling_mcg, guide.factor) == (D(50), 1)
    assert needs_sign_off(guide, D(100)) and not needs_sign_off(guide, D(50))
    # Exactly 8 h is not over 8 h: twice, 100 mcg/day.
    assert start_guide([bolus(50, "8")], None, RULES).ceiling_mcg == D(100)


def test_the_factor_and_the_hours_are_the_clinics():
    # Factor 3, once after 12 h: a 10 h effect is not over 12 h, so 3 x 50 = 150 mcg/day.
    assert start_guide([bolus(50, "10")], None, ImplantRules(3, 12)).ceiling_mcg == D(150)


def test_the_effective_dose_is_the_lowest_positive_bolus():
    # 50 negative, 75 positive, 100 positive: the effective screening dose is 75; 2 x 75 = 150 mcg/day.
    trial = [bolus(50, None, "negative", 1), bolus(75, "5", day=2), bolus(100, "7", day=3)]
    assert effective_bolus(trial).dose_mcg == 75
    assert start_guide(trial, None, RULES).ceiling_mcg == D(150)
    # Two positive boluses at 50: the longer effect (10 h) stands, the cautious guide of 50 mcg/day.
    assert start_guide([bolus(50, "4", day=1), bolus(50, "10", day=2)], None, RULES).ceiling_mcg == D(50)


def test_an_unrecorded_effect_duration_gives_the_usual_twice_and_says_so():
    guide = start_guide([bolus(50, None)], None, RULES)
    assert guide.ceiling_mcg == D(100) and "effect duration not recorded" in guide.describe()


def test_a_replacement_pump_is_measured_from_the_old_pumps_dose_by_the_titration_limit():
    # Old pump 300 mcg/day, spinal origin, adult: +30% -> 300 x 1.3 = 390 mcg/day. 900 needs sign-off, 330 not.
    limit = titration_limit(D(300), "spinal", False, TitrationRules())
    guide = start_guide([bolus(50, "6")], limit, RULES)  # the trial no longer guides a replacement
    assert (guide.basis, guide.ceiling_mcg) == (REPLACEMENT, D(390))
    assert needs_sign_off(guide, D(900)) and not needs_sign_off(guide, D(330))
    assert "the old pump's 300 mcg/day" in guide.describe() and "30% titration limit" in guide.describe()


def test_a_childs_replacement_uses_the_paediatric_limit():
    # A child, spinal origin: +15% not +30%, 300 x 1.15 = 345 mcg/day; 360 needs sign-off.
    guide = start_guide([], titration_limit(D(300), "spinal", True, TitrationRules()), RULES)
    assert guide.ceiling_mcg == D(345) and needs_sign_off(guide, D(360))
    assert "for a child" in guide.describe()


def test_no_positive_trial_and_no_pump_is_said_not_blocked():
    guide = start_guide([bolus(50, "6", "negative")], None, RULES)
    assert guide.basis == NONE and guide.ceiling_mcg is None
    assert not needs_sign_off(guide, D(1000))
    assert guide.describe().startswith("no guide")
