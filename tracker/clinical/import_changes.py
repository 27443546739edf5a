"""What an import would change on a patient already in the app, in words, and how the file's programme compares
with the app's dose in force (issue #9). Pure: the app's rows come in as objects with the same attributes."""

from __future__ import annotations

from datetime import date

from tracker.clinical.flex_text import same_schedule
from tracker.clinical.import_cells import Catalogue, PatientRow, plain
from tracker.clinical.import_columns import COLUMNS
from tracker.clinical.journey import STAGE_LABELS
from tracker.formats import fmt_date, fmt_datetime


def keep_app_programme(row: PatientRow, dose) -> bool:
    """Fill in what the file leaves empty from the app's programme, as an empty optional cell keeps the app's
    value: the boluses, and the flexible schedule when the file's daily dose is the schedule's. True if it did."""
    kept = False
    if row.bolus_dose_mcg is None and dose.bolus_dose_mcg:
        row.bolus_dose_mcg, kept = dose.bolus_dose_mcg, True
    if row.max_boluses_per_day is None and dose.max_boluses_per_day:
        row.max_boluses_per_day, kept = dose.max_boluses_per_day, True
    if not row.flex_schedule and dose.flex_schedule and row.daily_dose_mcg == dose.daily_dose_mcg:
        row.flex_schedule, kept = dose.flex_schedule, True
    return kept


def programme_difference(dose, row: PatientRow) -> str | None:
    """The first column whose programme differs from the app's dose in force, or None if they agree."""
    if not same_schedule(dose.flex_schedule, row.flex_schedule):
        return "flex_schedule"
    if not row.flex_schedule and dose.daily_dose_mcg != row.daily_dose_mcg:
        return "daily_dose_mcg"
    if (dose.bolus_dose_mcg or 0) != (row.bolus_dose_mcg or 0):
        return "bolus_dose_mcg"
    if (dose.max_boluses_per_day or 0) != (row.max_boluses_per_day or 0):
        return "max_boluses_per_day"
    return None


def programme_words(p: PatientRow) -> str:
    """'200 mcg/day plus up to 4 boluses of 25 mcg a day', for a dose in the app or a row of the file."""
    words = f"{_num(p.daily_dose_mcg)} mcg/day" + (" (flexible schedule)" if p.flex_schedule else "")
    if p.max_boluses_per_day and p.bolus_dose_mcg:
        words += f" plus up to {p.max_boluses_per_day} boluses of {_num(p.bolus_dose_mcg)} mcg a day"
    return words


_num = plain


LABELS = {c.name: c.label for c in COLUMNS} | {"location_id": "Home location", "nurse_id": "Primary nurse"}


def _show(catalogue: Catalogue, attribute: str, value) -> str:
    if value is None or value == "":
        return "—"
    if attribute == "location_id":
        return next((k for k, v in catalogue.locations.items() if v.id == value), str(value))
    if attribute == "nurse_id":
        return next((k for k, v in catalogue.nurses.items() if v == value), "an inactive nurse")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return fmt_date(value)
    return _num(value) if not isinstance(value, str) else value


def describe(plan, update, catalogue: Catalogue) -> list[str]:
    row = plan.row
    out = [
        f"{LABELS[a]}: {_show(catalogue, a, old)} → {_show(catalogue, a, new)}"
        for a, (old, new) in update.details.items()
    ]
    if update.move_to:
        out.append(
            f"Stage: {STAGE_LABELS[plan.existing.patient.stage]} → {STAGE_LABELS[update.move_to]} "
            f"from {fmt_date(row.stage_since)}"
        )
    out += [
        f"{LABELS[a]}: {_show(catalogue, a, old)} → {_show(catalogue, a, new)}" for a, (old, new) in update.pump.items()
    ]
    if update.new_refill:
        out.append(
            f"New refill on {fmt_date(row.last_refill_date)}: {_num(row.last_refill_volume_ml)} mL of "
            f"{row.concentration_mcg_per_ml} mcg/mL"
        )
    if update.dose_change:
        old = plan.existing.dose
        change = (
            f"Daily dose: {_num(old.daily_dose_mcg)} → {_num(row.daily_dose_mcg)} mcg/day"
            if programme_difference(old, row) == "daily_dose_mcg"
            and not (old.max_boluses_per_day or row.max_boluses_per_day)
            else f"Programme: {programme_words(old)} → {programme_words(row)}"
        )
        out.append(change + (" (physician sign-off)" if update.sign_off else ""))
    if update.book:
        verb = "rebooked" if plan.existing.appointment and not update.new_refill else "booked"
        out.append(f"Next refill {verb} for {fmt_datetime(row.next_refill_at)}")
    return out
