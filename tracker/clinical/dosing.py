"""Dose titration rules (domain.md section 4). Pure Python."""

from __future__ import annotations

from decimal import Decimal


def step_percent(current_mcg_per_day: Decimal, new_mcg_per_day: Decimal) -> Decimal:
    """The change as a percentage of the current daily dose (positive for an increase)."""
    return (new_mcg_per_day - current_mcg_per_day) * 100 / current_mcg_per_day


def needs_physician_sign_off(current_mcg_per_day: Decimal | None, new_mcg_per_day: Decimal, origin: str,
                             limit_cerebral_pct: int, limit_spinal_pct: int) -> bool:
    """An increase beyond the titration limit for 24 h (cerebral 15%, spinal 30% by default) needs a physician.

    Decreases never do: lowering the dose is the safe direction for overdose, and withdrawal
    from a cut is watched for clinically, not blocked here."""
    if current_mcg_per_day is None:
        return False  # the starting dose at implantation
    if current_mcg_per_day <= 0:
        return True  # any step up from nothing is beyond every percentage
    limit = limit_cerebral_pct if origin == "cerebral" else limit_spinal_pct
    return step_percent(current_mcg_per_day, new_mcg_per_day) > limit
