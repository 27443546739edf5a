"""The starting dose at implantation (domain.md 4): a guide from the screening trial, or from the old pump when
this one replaces it. Pure Python; the numbers are clinic settings."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracker.clinical.dosing import TitrationLimit
from tracker.clinical.settings_spec import setting
from tracker.formats import fmt_date

TRIAL = "trial"
REPLACEMENT = "replacement"
NONE = "none"


@dataclass(frozen=True)
class ImplantRules:
    """The clinic's numbers for the starting dose (settings; defaults from domain.md 4)."""

    trial_factor: int = setting("implant_start_factor")  # times the effective screening dose per day...
    once_after_hours: int = setting("implant_start_once_after_hours")  # ...or it once, after an effect this long


@dataclass(frozen=True)
class TrialBolusResult:
    """What the guide needs of a trial bolus."""

    given_on: date
    dose_mcg: int
    hours_of_effect: Decimal | None
    outcome: str


@dataclass(frozen=True)
class StartGuide:
    """The most a starting dose may be without a physician's sign-off, and where that comes from."""

    basis: str  # TRIAL, REPLACEMENT or NONE (no positive trial and no pump in use: nothing to check against)
    ceiling_mcg: Decimal | None = None
    bolus: TrialBolusResult | None = None  # TRIAL: the effective screening dose
    factor: int | None = None  # TRIAL: 2 (twice) or 1 (once, a long effect)
    rules: ImplantRules | None = None
    limit: TitrationLimit | None = None  # REPLACEMENT: the old pump's dose and the titration limit from it

    def describe(self) -> str:
        """One sentence for the form and the refusal: the guide and the trial or pump it comes from."""
        if self.basis == TRIAL:
            b = self.bolus
            how = "twice" if self.factor == 2 else "once" if self.factor == 1 else f"{self.factor} times"
            if b.hours_of_effect is None:
                effect = "effect duration not recorded"
            else:
                effect = f"effect {b.hours_of_effect.normalize():f} h"
            text = (
                f"{self.ceiling_mcg.normalize():f} mcg/day: {how} the effective screening dose, the "
                f"{b.dose_mcg} mcg trial bolus of {fmt_date(b.given_on)} ({effect})"
            )
            if self.factor != 1:
                text += f"; once ({b.dose_mcg} mcg/day) when the effect lasts over {self.rules.once_after_hours} h"
            return text + "."
        if self.basis == REPLACEMENT:
            group = "a child" if self.limit.group == "child" else f"{self.limit.group} spasticity"
            return (
                f"{self.ceiling_mcg.normalize():f} mcg/day: the old pump's "
                f"{self.limit.baseline_mcg.normalize():f} mcg/day (with boluses) + the {self.limit.pct}% "
                f"titration limit for {group}."
            )
        return (
            "no guide: no positive trial bolus is recorded in this journey and no pump is in use; check the "
            "starting dose against the trial notes."
        )


def effective_bolus(boluses: list[TrialBolusResult]) -> TrialBolusResult | None:
    """The effective screening dose: the lowest positive bolus. Of two at that dose, the one whose effect lasted
    longest (a long effect lowers the guide: the cautious reading)."""
    positive = [b for b in boluses if b.outcome == "positive"]
    if not positive:
        return None
    return min(positive, key=lambda b: (b.dose_mcg, -(b.hours_of_effect or Decimal(-1))))


def trial_guide(bolus: TrialBolusResult, rules: ImplantRules) -> StartGuide:
    """Twice the effective screening dose per day; the dose once when its effect lasted over the hours setting.
    An unrecorded duration counts as not over (the usual start); the form says so."""
    long_effect = bolus.hours_of_effect is not None and bolus.hours_of_effect > rules.once_after_hours
    factor = 1 if long_effect else rules.trial_factor
    return StartGuide(TRIAL, Decimal(bolus.dose_mcg * factor), bolus=bolus, factor=factor, rules=rules)


def replacement_guide(limit: TitrationLimit) -> StartGuide:
    """A replacement pump has no trial: its start may rise above the old pump's dose only by the titration limit
    (tracker.clinical.dosing.titration_limit, measured as at a dose change)."""
    return StartGuide(REPLACEMENT, limit.ceiling_mcg, limit=limit)


def start_guide(boluses: list[TrialBolusResult], replacing: TitrationLimit | None, rules: ImplantRules) -> StartGuide:
    """The guide for a starting dose: the old pump's when there is one in use, else the trial's, else none."""
    if replacing is not None and replacing.ceiling_mcg is not None:
        return replacement_guide(replacing)
    bolus = effective_bolus(boluses)
    return trial_guide(bolus, rules) if bolus is not None else StartGuide(NONE)


def needs_sign_off(guide: StartGuide, start_worst_mcg: Decimal) -> bool:
    """A start above the guide (worst case: programmed dose plus every permitted bolus) needs a physician."""
    return guide.ceiling_mcg is not None and start_worst_mcg > guide.ceiling_mcg
