"""Dose titration rules (domain.md section 4). Pure Python."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal

from tracker.clinical.refill_checks import dose_range_warning
from tracker.clinical.settings_spec import setting


@dataclass(frozen=True)
class TitrationRules:
    """The clinic's numbers for dose changes (settings; defaults from domain.md 4)."""

    cerebral_pct: int = setting("titration_limit_cerebral_pct")
    spinal_pct: int = setting("titration_limit_spinal_pct")
    paediatric_pct: int = setting("titration_limit_paediatric_pct")
    paediatric_age_years: int = setting("paediatric_age_years")
    cut_warning_pct: int = setting("dose_cut_warning_pct")
    usual_min_mcg: int = setting("usual_dose_min_mcg_per_day")
    usual_max_mcg: int = setting("usual_dose_max_mcg_per_day")


@dataclass(frozen=True)
class TitrationLimit:
    pct: int
    group: str  # "cerebral", "spinal" or "child": what the form says the limit is for
    baseline_mcg: Decimal | None  # the lowest daily dose in force during the previous 24 h
    ceiling_mcg: Decimal | None  # the most a change may reach without a physician's sign-off


def step_percent(current_mcg_per_day: Decimal, new_mcg_per_day: Decimal) -> Decimal:
    """The change as a percentage of the current daily dose (positive for an increase)."""
    return (new_mcg_per_day - current_mcg_per_day) * 100 / current_mcg_per_day


def age_in_years(born: date, on: date) -> int:
    """Completed years on `on` (a birthday counts from that day)."""
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def limit_pct(
    origin: str, limit_cerebral_pct: int, limit_spinal_pct: int, child: bool = False, limit_paediatric_pct: int = 15
) -> int:
    """Children have their own (smaller) limit whatever the origin of their spasticity."""
    if child:
        return limit_paediatric_pct
    return limit_cerebral_pct if origin == "cerebral" else limit_spinal_pct


def needs_physician_sign_off(
    current_mcg_per_day: Decimal | None,
    new_mcg_per_day: Decimal,
    origin: str,
    limit_cerebral_pct: int,
    limit_spinal_pct: int,
    child: bool = False,
    limit_paediatric_pct: int = 15,
) -> bool:
    """An increase beyond the titration limit for 24 h (cerebral 15%, spinal 30%, children 15% by default)
    needs a physician. `current_mcg_per_day` is the lowest dose in force in the 24 h before the change
    (recent_doses), so a cut then a raise cannot step past the limit.

    Decreases never do: lowering the dose is the safe direction for overdose; a large cut warns of
    withdrawal instead (cut_warning)."""
    if current_mcg_per_day is None:
        return False  # the starting dose at implantation
    if current_mcg_per_day <= 0:
        return True  # any step up from nothing is beyond every percentage
    limit = limit_pct(origin, limit_cerebral_pct, limit_spinal_pct, child, limit_paediatric_pct)
    return step_percent(current_mcg_per_day, new_mcg_per_day) > limit


def recent_doses(doses: Iterable[tuple[datetime, Decimal]], at: datetime, hours: int = 24) -> list[Decimal]:
    """Every daily dose in force at some moment of the `hours` before `at`.

    `doses` is the ledger as (effective time, daily dose) in recording order; of two at one instant the later
    stands. The dose in force at the window's start counts, as does every one taking effect inside it.
    The titration limit is measured from the lowest of them (so neither a cut then a raise, 300 -> 150 -> 345,
    nor two steps in one day, 300 -> 345 -> 396, passes unseen) and a cut from the highest."""
    by_time: dict[datetime, Decimal] = {}
    for when, dose in sorted(doses, key=lambda d: d[0]):  # stable: recording order kept within an instant
        by_time[when] = dose
    start = at - timedelta(hours=hours)
    before = [dose for when, dose in by_time.items() if when <= start]
    in_force = [dose for when, dose in by_time.items() if start < when < at] + before[-1:]
    if not in_force and at in by_time:
        in_force = [by_time[at]]  # replacing the starting dose at its own moment: that dose is the base
    return in_force


def ceiling(baseline_mcg: Decimal, pct: int) -> Decimal:
    """The highest daily dose within `pct` of the baseline, to 0.1 mcg rounded down (never past the limit)."""
    return (baseline_mcg * (100 + pct) / 100).quantize(Decimal("0.1"), rounding=ROUND_FLOOR)


def titration_limit(baseline_mcg: Decimal | None, origin: str, child: bool, rules: TitrationRules) -> TitrationLimit:
    """What the dose form says before you type: the limit, whom it is for, and the dose it allows."""
    pct = limit_pct(origin, rules.cerebral_pct, rules.spinal_pct, child, rules.paediatric_pct)
    group = "child" if child else ("cerebral" if origin == "cerebral" else "spinal")
    top = ceiling(baseline_mcg, pct) if baseline_mcg is not None and baseline_mcg > 0 else None
    return TitrationLimit(pct, group, baseline_mcg, top)


def cut_warning(baseline_mcg: Decimal | None, new_mcg_per_day: Decimal, cut_warning_pct: int) -> str | None:
    """A cut of more than `cut_warning_pct` from the highest dose of the last 24 h risks baclofen withdrawal."""
    if baseline_mcg is None or baseline_mcg <= 0 or new_mcg_per_day >= baseline_mcg:
        return None
    cut = -step_percent(baseline_mcg, new_mcg_per_day)
    if cut <= cut_warning_pct:
        return None
    return (
        f"A cut of {cut:.0f}% within 24 h (from {baseline_mcg.normalize():f} to "
        f"{new_mcg_per_day.normalize():f} mcg/day) is more than {cut_warning_pct}%: watch for withdrawal "
        "(itching, fever, rebound spasticity, confusion) and tell the patient what to look out for."
    )


def dose_change_warnings(
    highest_mcg: Decimal | None, new_worst_mcg: Decimal, new_programmed_mcg: Decimal, rules: TitrationRules
) -> list[str]:
    """Every warning a dose change (or a starting dose: highest None) must be acknowledged past; a cut is
    measured from the highest dose in force in the previous 24 h."""
    found = [cut_warning(highest_mcg, new_worst_mcg, rules.cut_warning_pct)]
    usual = dose_range_warning(new_programmed_mcg, rules.usual_min_mcg, rules.usual_max_mcg)
    found.append(usual.message if usual else None)
    return [w for w in found if w]
