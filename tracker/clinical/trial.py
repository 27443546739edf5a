"""Screening-trial boluses (domain.md 1): what the bolus form warns about before it is saved.

Pure: no Flask, no database. The tracker warns and the clinician decides; the raw scores and the outcome
are recorded as entered and never judged here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Literal

from tracker.clinical.settings_spec import setting
from tracker.formats import fmt_date, plural

Severity = Literal["high", "medium"]


@dataclass(frozen=True)
class TrialRules:
    """The clinic's trial settings (tracker.services.settings); the defaults are domain.md's."""

    concentration_mcg_per_ml: int = setting("trial_concentration_mcg_per_ml")
    min_dose_mcg: int = setting("trial_dose_min_mcg")
    max_dose_mcg: int = setting("trial_dose_max_mcg")
    min_hours_between: int = setting("trial_min_hours_between_boluses")
    first_dose_mcg: int = setting("trial_first_dose_mcg")
    step_mcg: int = setting("trial_dose_step_mcg")


@dataclass(frozen=True)
class Bolus:
    given_on: date
    dose_mcg: int


@dataclass(frozen=True)
class TrialWarning:
    """A flag on a trial bolus; saving anyway needs the nurse's acknowledgement."""

    code: str
    severity: Severity
    message: str


def sequence_words(rules: TrialRules) -> str:
    """The usual escalation in words: "50, then 75, then 100 mcg"."""
    doses = list(range(rules.first_dose_mcg, rules.max_dose_mcg + 1, rules.step_mcg)) or [rules.first_dose_mcg]
    return ", then ".join(str(d) for d in doses) + " mcg"


def dose_hint(rules: TrialRules) -> str:
    """What the bolus form says beside the dose, before anything is typed."""
    return (
        f"Usually {sequence_words(rules)}, at least {rules.min_hours_between} h apart "
        f"({rules.min_dose_mcg}-{rules.max_dose_mcg} mcg at {rules.concentration_mcg_per_ml} mcg/mL)."
    )


def concentration_warning(concentration_mcg_per_ml: int, rules: TrialRules) -> TrialWarning | None:
    """A trial is given at the trial concentration; any other strength is likely the wrong vial."""
    if concentration_mcg_per_ml == rules.concentration_mcg_per_ml:
        return None
    return TrialWarning(
        "trial_concentration",
        "high",
        f"Concentration {concentration_mcg_per_ml} mcg/mL is not the trial concentration "
        f"({rules.concentration_mcg_per_ml} mcg/mL): check the vial and the volume given.",
    )


def dose_range_warning(dose_mcg: int, rules: TrialRules) -> TrialWarning | None:
    """Trial doses run from the small-patient dose to the dose after which a non-responder is not implanted."""
    if rules.min_dose_mcg <= dose_mcg <= rules.max_dose_mcg:
        return None
    above = dose_mcg > rules.max_dose_mcg
    return TrialWarning(
        "trial_dose_range",
        "high" if above else "medium",
        f"Dose {dose_mcg} mcg is {'above' if above else 'below'} the usual trial range "
        f"({rules.min_dose_mcg}-{rules.max_dose_mcg} mcg): check it is intended.",
    )


def spacing_warning(bolus: Bolus, others: Sequence[Bolus], rules: TrialRules) -> TrialWarning | None:
    """Another bolus of this trial closer than the minimum interval (effects add up).

    Boluses are recorded by date, so two on consecutive days count as 24 h apart and two on one day as 0 h.
    """
    if not others:
        return None
    nearest = min(others, key=lambda o: abs((o.given_on - bolus.given_on).days))
    days = (bolus.given_on - nearest.given_on).days
    if abs(days) * 24 >= rules.min_hours_between:
        return None
    if days == 0:
        when = "the same day"
    else:
        when = f"{plural(abs(days), 'day')} {'before' if days > 0 else 'after'}"
    return TrialWarning(
        "trial_spacing",
        "high",
        f"Another bolus ({nearest.dose_mcg} mcg) was given on {fmt_date(nearest.given_on)}, {when}: "
        f"trial boluses are given at least {rules.min_hours_between} h apart.",
    )


def sequence_warning(bolus: Bolus, others: Sequence[Bolus], rules: TrialRules) -> TrialWarning | None:
    """A first bolus above the first dose, or a step above the highest dose so far by more than one step."""
    earlier = [o.dose_mcg for o in others if o.given_on <= bolus.given_on]
    usual = sequence_words(rules)
    if not earlier:
        if bolus.dose_mcg <= rules.first_dose_mcg:
            return None
        return TrialWarning(
            "trial_sequence", "medium", f"A first bolus of {bolus.dose_mcg} mcg skips the usual start: {usual}."
        )
    highest = max(earlier)
    if bolus.dose_mcg <= highest + rules.step_mcg:
        return None
    return TrialWarning(
        "trial_sequence",
        "medium",
        f"From {highest} to {bolus.dose_mcg} mcg skips a step: the usual sequence is {usual} "
        f"(up {rules.step_mcg} mcg a bolus).",
    )


def bolus_warnings(
    bolus: Bolus, concentration_mcg_per_ml: int, others: Sequence[Bolus], rules: TrialRules
) -> list[TrialWarning]:
    """Every warning for a new bolus, given the other boluses of the same trial."""
    found = [
        concentration_warning(concentration_mcg_per_ml, rules),
        dose_range_warning(bolus.dose_mcg, rules),
        spacing_warning(bolus, others, rules),
        sequence_warning(bolus, others, rules),
    ]
    return [w for w in found if w is not None]
