"""Correcting a clinical entry (issue 17, item 8): what a void may not leave behind, and the battery date once an
ERI date is corrected or voided.

Pure: no Flask, no database. Entries are never edited: the services void the original and add its correction,
after asking these rules whether the pump still has everything its refill date is projected from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, timedelta

from tracker.formats import fmt_datetime

IMPLANT_FILL = (
    "The fill at implantation cannot be voided: the pump's refill dates run from it. Correct its volume "
    "or concentration instead."
)
ONLY_FILL = (
    "This is the pump's only fill: voiding it would leave a pump in use with no refill date. Correct it instead."
)
NO_DOSE_AT_FIRST_FILL = (
    "No dose would be in force at the pump's first fill ({when}), so no refill date could be "
    "projected. Correct that dose instead of voiding it."
)


def fill_void_refusal(at_implant: bool) -> str | None:
    """Why a fill may not be voided whatever else the pump holds (it can always be corrected), or None."""
    return IMPLANT_FILL if at_implant else None


def projection_gap(fill_times: Sequence[datetime], dose_times: Sequence[datetime]) -> str | None:
    """Why the fills and dose changes left standing after a void could not project every fill, or None: a pump in
    use needs a fill to project from (voiding its only fill is refused), and the engine projects a fill from the
    dose in force at it, so the earliest dose must not be later than the earliest fill."""
    if not fill_times:
        return ONLY_FILL
    first = min(fill_times)
    if not dose_times or min(dose_times) > first:
        return NO_DOSE_AT_FIRST_FILL.format(when=fmt_datetime(first))
    return None


def battery_due_with_eri(due_without_eri: date | None, eri_on: date | None, eri_to_stop_days: int) -> date | None:
    """The battery replacement date: after an ERI the pump stops within its model's window, so the replacement is
    due by then, or stays earlier if it already was (as tracker.services.refills.record_eri sets it)."""
    if eri_on is None:
        return due_without_eri
    stops_by = eri_on + timedelta(days=eri_to_stop_days)
    return min(due_without_eri or stops_by, stops_by)


def battery_due_without_eri(
    stored_due: date | None, eri_on: date | None, eri_to_stop_days: int, due_from_implant: date | None
) -> date | None:
    """The battery date as it was before the recorded ERI moved it, so a corrected or voided ERI can be applied
    afresh. A stored date earlier than the ERI's stop date was not moved by it and is the pump's own; otherwise
    the ERI set it, and the date is the implant's (`due_from_implant`: battery life in calendar months from the
    implant), never earlier than the stop date it replaced."""
    if eri_on is None:
        return stored_due
    stops_by = eri_on + timedelta(days=eri_to_stop_days)
    if stored_due is not None and stored_due < stops_by:
        return stored_due
    return max(due_from_implant, stops_by) if due_from_implant is not None else None
