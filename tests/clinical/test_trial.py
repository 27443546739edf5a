"""Trial-bolus warnings (domain.md 1), worked by hand: 50 mcg/mL, 25-100 mcg, 24 h apart, 50 then 75 then 100."""

from datetime import date

from tracker.clinical.trial import (
    Bolus,
    TrialRules,
    bolus_warnings,
    concentration_warning,
    dose_hint,
    dose_range_warning,
    sequence_warning,
    sequence_words,
    spacing_warning,
)

RULES = TrialRules()  # the clinic defaults
MON, TUE, WED = date(2026, 3, 2), date(2026, 3, 3), date(2026, 3, 4)


def codes(warnings) -> list[str]:
    return [w.code for w in warnings]


def test_the_usual_sequence_reads_from_the_settings():
    # first 50, up 25 a bolus, to the 100 maximum: 50, 75, 100.
    assert sequence_words(RULES) == "50, then 75, then 100 mcg"
    assert sequence_words(TrialRules(first_dose_mcg=25, step_mcg=25, max_dose_mcg=75)) == "25, then 50, then 75 mcg"
    assert dose_hint(RULES) == "Usually 50, then 75, then 100 mcg, at least 24 h apart (25-100 mcg at 50 mcg/mL)."


def test_the_trial_concentration_gives_no_warning_and_any_other_does():
    assert concentration_warning(50, RULES) is None
    warning = concentration_warning(500, RULES)  # a pump-fill vial: 50 mcg is 0.1 mL, not 1 mL
    assert (warning.code, warning.severity) == ("trial_concentration", "high")
    assert warning.message == (
        "Concentration 500 mcg/mL is not the trial concentration (50 mcg/mL): check the vial and the volume given."
    )
    assert concentration_warning(500, TrialRules(concentration_mcg_per_ml=500)) is None, "the clinic's setting"


def test_doses_from_25_to_100_mcg_are_in_range_and_the_edges_count_as_inside():
    for dose in (25, 50, 75, 100):  # 25 mcg: very small patients
        assert dose_range_warning(dose, RULES) is None
    below, above = dose_range_warning(20, RULES), dose_range_warning(125, RULES)
    assert (below.severity, above.severity) == ("medium", "high")
    assert below.message == "Dose 20 mcg is below the usual trial range (25-100 mcg): check it is intended."
    assert above.message == "Dose 125 mcg is above the usual trial range (25-100 mcg): check it is intended."


def test_a_second_bolus_the_same_day_is_within_24_hours():
    # Dates only: same day = 0 h apart (< 24 h, warns); the next day = 24 h apart (not < 24 h, no warning).
    warning = spacing_warning(Bolus(TUE, 75), [Bolus(TUE, 50)], RULES)
    assert (warning.code, warning.severity) == ("trial_spacing", "high")
    assert warning.message == (
        "Another bolus (50 mcg) was given on 3 Mar 2026, the same day: trial boluses are given at least 24 h apart."
    )
    assert spacing_warning(Bolus(TUE, 75), [Bolus(MON, 50)], RULES) is None
    assert spacing_warning(Bolus(MON, 50), [], RULES) is None


def test_spacing_counts_boluses_on_either_side_with_the_clinics_interval():
    # 48 h minimum: Monday and Tuesday are 1 day = 24 h apart (< 48 h); Monday and Wednesday 48 h (not < 48 h).
    rules = TrialRules(min_hours_between=48)
    back_dated = spacing_warning(Bolus(MON, 50), [Bolus(TUE, 75)], rules)
    assert back_dated.message == (
        "Another bolus (75 mcg) was given on 3 Mar 2026, 1 day after: trial boluses are given at least 48 h apart."
    )
    assert spacing_warning(Bolus(WED, 75), [Bolus(MON, 50)], rules) is None


def test_the_first_bolus_starts_at_50_mcg_or_less():
    assert sequence_warning(Bolus(MON, 50), [], RULES) is None
    assert sequence_warning(Bolus(MON, 25), [], RULES) is None, "25 mcg for a very small patient"
    warning = sequence_warning(Bolus(MON, 75), [], RULES)
    assert (warning.code, warning.severity) == ("trial_sequence", "medium")
    assert warning.message == "A first bolus of 75 mcg skips the usual start: 50, then 75, then 100 mcg."


def test_each_step_goes_up_at_most_25_mcg_from_the_highest_dose_so_far():
    assert sequence_warning(Bolus(TUE, 75), [Bolus(MON, 50)], RULES) is None  # 50 + 25 = 75
    assert sequence_warning(Bolus(WED, 100), [Bolus(MON, 50), Bolus(TUE, 75)], RULES) is None  # 75 + 25 = 100
    assert sequence_warning(Bolus(TUE, 50), [Bolus(MON, 50)], RULES) is None, "a repeat is no skip"
    skipped = sequence_warning(Bolus(TUE, 100), [Bolus(MON, 50)], RULES)  # 50 + 25 = 75 < 100
    assert skipped.message == (
        "From 50 to 100 mcg skips a step: the usual sequence is 50, then 75, then 100 mcg (up 25 mcg a bolus)."
    )
    # The highest dose so far counts, not the latest: 50, 75, a repeat of 50, then 100 (75 + 25 = 100) is fine.
    given = [Bolus(date(2026, 3, 1), 50), Bolus(MON, 75), Bolus(TUE, 50)]
    assert sequence_warning(Bolus(WED, 100), given, RULES) is None
    # A bolus back-dated before the others is judged on what came before it only: nothing, so 50 is a first dose.
    assert sequence_warning(Bolus(MON, 50), [Bolus(TUE, 75)], RULES) is None


def test_a_small_patients_sequence_from_25_mcg():
    # 25 -> 50 is one 25 mcg step; 25 -> 75 skips 50 (25 + 25 = 50 < 75).
    assert sequence_warning(Bolus(TUE, 50), [Bolus(MON, 25)], RULES) is None
    assert sequence_warning(Bolus(TUE, 75), [Bolus(MON, 25)], RULES).code == "trial_sequence"


def test_a_textbook_trial_raises_no_warning_and_a_careless_one_raises_all_four():
    assert bolus_warnings(Bolus(MON, 50), 50, [], RULES) == []
    assert bolus_warnings(Bolus(TUE, 75), 50, [Bolus(MON, 50)], RULES) == []
    assert bolus_warnings(Bolus(WED, 100), 50, [Bolus(MON, 50), Bolus(TUE, 75)], RULES) == []
    # 150 mcg at 500 mcg/mL the same day as a 50 mcg bolus: wrong strength, above 100, 0 h apart, 50 -> 150.
    careless = bolus_warnings(Bolus(MON, 150), 500, [Bolus(MON, 50)], RULES)
    assert codes(careless) == ["trial_concentration", "trial_dose_range", "trial_spacing", "trial_sequence"]
