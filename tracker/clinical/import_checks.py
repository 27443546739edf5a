"""The refill visit's checks on an imported last refill, and how late each imported pump already is (issue 17).

The import's dry run shows what a nurse would have seen had the last refill been typed into the refill form:
the same warning functions of the refill engine (residual discrepancy, pocket fill, bridge bolus, usual dose
range) with the clinic's settings, as tracker.services.refill_visits.refill_warnings calls them, each tied to
the CSV line and column it comes from. And it judges every imported pump with the refill-risk model, as the
worklist does, so a pump already overdue or past its alarm is seen before the import, not after.
Pure: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracker.clinical import refill, refill_checks, refill_risk
from tracker.clinical.settings_spec import DEFAULTS


@dataclass(frozen=True)
class RefillChecks:
    """The refill warnings' thresholds, from the clinic's settings (the names of tracker.services.settings)."""

    residual_discrepancy_ml: Decimal = Decimal(DEFAULTS["residual_discrepancy_ml"])
    pocket_fill_small_pump_ml: Decimal = Decimal(DEFAULTS["pocket_fill_small_pump_ml"])
    pocket_fill_large_pump_ml: Decimal = Decimal(DEFAULTS["pocket_fill_large_pump_ml"])
    usual_dose_min_mcg_per_day: Decimal = Decimal(DEFAULTS["usual_dose_min_mcg_per_day"])
    usual_dose_max_mcg_per_day: Decimal = Decimal(DEFAULTS["usual_dose_max_mcg_per_day"])

    @classmethod
    def from_settings(cls, settings: dict) -> RefillChecks:
        return cls(**{name: Decimal(settings[name]) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class LastRefill:
    """The imported last refill as the refill form would have taken it; None where the file says nothing."""

    reservoir_ml: Decimal
    accuracy_fraction: Decimal
    resulting_volume_ml: Decimal
    concentration_mcg_per_ml: int
    daily_dose_mcg: Decimal  # programmed per day (flex: the week's mean), as refill_warnings is given it
    expected_residual_ml: Decimal | None = None
    actual_residual_ml: Decimal | None = None
    volume_added_ml: Decimal | None = None
    previous_volume_ml: Decimal | None = None  # what the refill before left in the reservoir
    previous_concentration_mcg_per_ml: int | None = None


@dataclass(frozen=True)
class RowWarning:
    """A warning on the file: its line, the file's own column header, the value as the file has it."""

    line: int
    column: str
    value: str
    code: str
    severity: str
    message: str


# Which column each warning points at: the figure a nurse would check first.
WARNING_COLUMN = {
    "residual_discrepancy": "actual_residual_ml",
    "pocket_fill": "volume_added_ml",
    "bridge_bolus": "concentration_mcg_per_ml",
    "dose_range": "daily_dose_mcg",
}


def refill_warnings(fill: LastRefill, checks: RefillChecks) -> list[refill_checks.RefillWarning]:
    """The refill visit's warnings for this fill, from the engine's own functions with the clinic's thresholds."""
    found = []
    if fill.expected_residual_ml is not None and fill.actual_residual_ml is not None:
        # The pump's accuracy is a bound on the programmed volume since the previous fill (domain.md 7): what that
        # fill left minus what the programmer expects now. Without that fill's volume, the most the reservoir could
        # have held stands in: the bound is then the widest possible and never flags wrongly.
        before = fill.previous_volume_ml if fill.previous_volume_ml is not None else fill.reservoir_ml
        found.append(
            refill_checks.residual_discrepancy_warning(
                refill_checks.discrepancy(
                    before,
                    fill.expected_residual_ml,
                    fill.actual_residual_ml,
                    threshold_ml=checks.residual_discrepancy_ml,
                    accuracy_fraction=fill.accuracy_fraction,
                )
            )
        )
    if fill.volume_added_ml is not None:
        # The reservoir is emptied at aspiration, so what it reports after the fill should equal what went in.
        found.append(
            refill_checks.pocket_fill_warning(
                fill.reservoir_ml,
                fill.volume_added_ml - fill.resulting_volume_ml,
                small_threshold_ml=checks.pocket_fill_small_pump_ml,
                large_threshold_ml=checks.pocket_fill_large_pump_ml,
            )
        )
    if fill.previous_concentration_mcg_per_ml is not None:
        found.append(
            refill_checks.bridge_bolus_warning(fill.previous_concentration_mcg_per_ml, fill.concentration_mcg_per_ml)
        )
    found.append(
        refill_checks.dose_range_warning(
            fill.daily_dose_mcg, checks.usual_dose_min_mcg_per_day, checks.usual_dose_max_mcg_per_day
        )
    )
    return [w for w in found if w is not None]


def row_warnings(
    line: int, fill: LastRefill, checks: RefillChecks, header: Callable[[str], str], value: Callable[[str], str]
) -> list[RowWarning]:
    """The warnings tied to the line and the file's column (`header` and `value` read the file for a column)."""
    return [
        RowWarning(line, header(WARNING_COLUMN[w.code]), value(WARNING_COLUMN[w.code]), w.code, w.severity, w.message)
        for w in refill_warnings(fill, checks)
    ]


def risk(
    projection: refill.RefillProjection, booked_on: date | None, today: date, soon_days: int
) -> refill_risk.RefillRisk:
    """The imported pump judged as the worklist judges it: status today, booking verdict, urgency and tone."""
    dates = refill_risk.RefillDates(projection.due_date, projection.alarm_date, projection.empty_date)
    booking = refill_risk.Booking(booked_on) if booked_on is not None else None
    return refill_risk.assess(dates, booking, today, soon_days)


def is_late(judgement: refill_risk.RefillRisk) -> bool:
    """Overdue, past the alarm date or projected empty today: already late before it is imported."""
    return judgement.status in refill_risk.LATE
