"""A refill visit's checks (domain.md sections 3 and 7): the residual against what was programmed, the fill's two
volumes, a concentration change and its bridge bolus, the usual dose range, a suspected pocket fill. Each returns
a warning for the clinician to judge, never a refusal. Pure and exact, like tracker.clinical.refill."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Literal

from tracker.clinical.errors import InvalidVolume
from tracker.clinical.exact import Number, at_least_zero, exact, plain, rounded
from tracker.clinical.settings_spec import ACCURACY_FRACTION, DEFAULTS

Severity = Literal["high", "medium", "low"]
SMALL_RESERVOIR_ML = Decimal(20)  # pumps up to this size take the "small" pocket-fill threshold


@dataclass(frozen=True)
class RefillWarning:
    """A flag for the refill visit; clinicians decide what to do."""

    code: str
    severity: Severity
    message: str


@dataclass(frozen=True)
class Discrepancy:
    """A refill's residual against what the pump was programmed to give since the last fill (domain.md 3, 7):
    expected - actual beyond the threshold, or beyond the pump's accuracy bound on the programmed volume."""

    expected_ml: Fraction
    actual_ml: Fraction
    programmed_ml: Fraction  # the last fill's volume minus the expected residual
    beyond_threshold: bool
    beyond_accuracy: bool

    @property
    def gap_ml(self) -> Fraction:
        return self.expected_ml - self.actual_ml

    @property
    def flagged(self) -> bool:
        return self.beyond_threshold or self.beyond_accuracy

    @property
    def over_infusion(self) -> bool:
        """More drug gone than programmed, beyond the rules: the pump may run dry before its computed alarm."""
        return self.flagged and self.gap_ml > 0

    @property
    def used_ml(self) -> Fraction:
        return self.programmed_ml + self.gap_ml

    @property
    def percent_of_programmed(self) -> Decimal | None:
        """The gap as a share of the programmed volume, signed (+: more used), for the trend across visits."""
        return rounded(100 * self.gap_ml / self.programmed_ml, 1) if self.programmed_ml > 0 else None


def discrepancy(
    last_fill_ml: Number,
    expected_residual_ml: Number,
    actual_residual_ml: Number,
    threshold_ml: Number = DEFAULTS["residual_discrepancy_ml"],
    accuracy_fraction: Number = ACCURACY_FRACTION.default,
) -> Discrepancy:
    """Judge a residual: the accuracy bound is taken on the programmed volume (last fill - expected residual),
    never on the measured one, which would widen the bound by the very over-infusion it should catch."""
    fill = at_least_zero(last_fill_ml, "last_fill_ml", InvalidVolume)
    expected = at_least_zero(expected_residual_ml, "expected_residual_ml", InvalidVolume)
    actual = at_least_zero(actual_residual_ml, "actual_residual_ml", InvalidVolume)
    programmed = max(Fraction(0), fill - expected)
    gap = abs(expected - actual)
    return Discrepancy(
        expected,
        actual,
        programmed,
        gap > exact(threshold_ml, "threshold_ml"),
        gap > exact(accuracy_fraction, "accuracy_fraction") * programmed,
    )


def residual_discrepancy_warning(found: Discrepancy) -> RefillWarning | None:
    """Flag a residual beyond the rules. Over-infusion is always high (overdose now, an early empty pump next);
    more left than expected is high past the threshold, medium when only the accuracy bound flags it."""
    if not found.flagged:
        return None
    if found.gap_ml > 0:
        direction, causes = "less", "over-infusion, leak or diversion"
    else:
        direction, causes = "more", "under-delivery, catheter occlusion or a stalled pump"
    message = (
        f"Residual {plain(abs(found.gap_ml))} mL {direction} than expected (expected {plain(found.expected_ml)} mL, "
        f"aspirated {plain(found.actual_ml)} mL, {plain(found.programmed_ml)} mL programmed since the last fill): "
        f"possible {causes}."
    )
    if found.over_infusion:
        message += " The next refill date is projected at the measured rate."
    return RefillWarning(
        "residual_discrepancy", "high" if found.beyond_threshold or found.over_infusion else "medium", message
    )


def measured_rate(found: Discrepancy | None) -> tuple[Fraction, str | None]:
    """The rate factor (drug used per drug programmed) to project the next interval with, and the sentence the
    date must carry: above 1 only after an over-infusion, so a projection can only come earlier."""
    if found is None or not found.over_infusion or found.programmed_ml <= 0:
        return Fraction(1), None
    factor = found.used_ml / found.programmed_ml
    return factor, (
        f"Projected at the measured rate: {plain(found.used_ml)} mL was used where "
        f"{plain(found.programmed_ml)} mL was programmed (+{rounded(100 * (factor - 1), 1).normalize():f}%"
        "), so the dates are earlier than the programme alone gives."
    )


def fill_volume(volume_added_ml: Number, resulting_volume_ml: Number) -> tuple[Decimal, str | None]:
    """What the projection counts as in the reservoir after a fill. The reservoir is emptied at aspiration, so
    what went in and what the pump reports should agree; when they do not (a pocket fill, a misread), the
    smaller is the drug surely there, and the date says so."""
    added = at_least_zero(volume_added_ml, "volume_added_ml", InvalidVolume)
    reported = at_least_zero(resulting_volume_ml, "resulting_volume_ml", InvalidVolume)
    if added == reported:
        return rounded(reported, 3), None
    smaller = min(added, reported)
    return rounded(smaller, 3), (
        f"The fill's volumes disagree ({plain(added)} mL added, {plain(reported)} mL "
        f"reported in the reservoir): projected from the smaller, {plain(smaller)} mL."
    )


def volume_to_prepare(last_added_ml: Number, last_resulting_ml: Number) -> tuple[Decimal | None, str | None]:
    """The volume to prepare for a pump's next refill (the printed refill lists): its last fill's, as the projection
    counts it (fill_volume). None, with fill_volume's sentence, when that fill's two volumes disagree: then no figure
    is reliable and the pump's record must be checked before the drug is prepared."""
    volume, disagreement = fill_volume(last_added_ml, last_resulting_ml)
    return (None, disagreement) if disagreement else (volume, None)


def pocket_fill_warning(
    reservoir_capacity_ml: Number,
    mismatch_ml: Number,
    small_reservoir_ml: Number = SMALL_RESERVOIR_ML,
    small_threshold_ml: Number = DEFAULTS["pocket_fill_small_pump_ml"],
    large_threshold_ml: Number = DEFAULTS["pocket_fill_large_pump_ml"],
) -> RefillWarning | None:
    """Flag a post-fill volume mismatch that suggests drug went into the pocket."""
    capacity = exact(reservoir_capacity_ml, "reservoir_capacity_ml")
    small = capacity <= exact(small_reservoir_ml, "small_reservoir_ml")
    limit = exact(small_threshold_ml if small else large_threshold_ml, "threshold_ml")
    mismatch = abs(exact(mismatch_ml, "mismatch_ml"))
    if mismatch <= limit:
        return None
    return RefillWarning(
        "pocket_fill",
        "high",
        f"Fill mismatch of {plain(mismatch)} mL on a {plain(capacity)} mL pump (over {plain(limit)} mL) "
        "suggests a pocket fill: overdose risk, observe the patient.",
    )


def bridge_bolus_warning(previous_mcg_per_ml: Number, new_mcg_per_ml: Number) -> RefillWarning | None:
    """Flag a concentration change: the catheter still holds the old drug."""
    old, new = exact(previous_mcg_per_ml, "previous_mcg_per_ml"), exact(new_mcg_per_ml, "new_mcg_per_ml")
    if old == new:
        return None
    return RefillWarning(
        "bridge_bolus",
        "high",
        f"Concentration changes from {plain(old)} to {plain(new)} mcg/mL: a bridge bolus is required.",
    )


def bridge_bolus_answer(
    previous_mcg_per_ml: Number, new_mcg_per_ml: Number, given: bool | None, bolus_mcg: Number | None, reason: str
) -> tuple[str, str] | None:
    """What is missing from a refill's bridge-bolus answer, as (field, message); None when complete. A change of
    concentration needs the bolus programmed (mcg) or the reason none was; no change needs no bridge bolus."""
    old, new = exact(previous_mcg_per_ml, "previous_mcg_per_ml"), exact(new_mcg_per_ml, "new_mcg_per_ml")
    if old == new:
        if given or bolus_mcg:
            return (
                "bridge_bolus_given",
                f"The concentration stays {plain(new)} mcg/mL: a bridge bolus is only for a "
                "concentration change. Answer No, or choose the new concentration.",
            )
        return None
    change = f"The concentration changes from {plain(old)} to {plain(new)} mcg/mL"
    if given is None:
        return "bridge_bolus_given", f"{change}: say whether a bridge bolus was programmed."
    if given and (bolus_mcg is None or exact(bolus_mcg, "bolus_mcg") <= 0):
        return "bridge_bolus_mcg", "Enter the bridge bolus programmed, in mcg."
    if not given and bolus_mcg:
        return "bridge_bolus_mcg", "You answered that no bridge bolus was programmed: clear the amount, or answer Yes."
    if not given and not reason.strip():
        return "bridge_bolus_reason", f"{change}: say why no bridge bolus was programmed."
    return None


def dose_range_warning(
    daily_dose_mcg: Number,
    low_mcg: Number = DEFAULTS["usual_dose_min_mcg_per_day"],
    high_mcg: Number = DEFAULTS["usual_dose_max_mcg_per_day"],
) -> RefillWarning | None:
    """Soft flag for a daily dose outside the usual range."""
    dose, low, high = exact(daily_dose_mcg, "daily_dose_mcg"), exact(low_mcg, "low"), exact(high_mcg, "high")
    if low <= dose <= high:
        return None
    side = "below" if dose < low else "above"
    return RefillWarning(
        "dose_range",
        "low",
        f"Daily dose {plain(dose)} mcg is {side} the usual {plain(low)}-{plain(high)} mcg/day: check it is intended.",
    )
