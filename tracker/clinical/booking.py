"""Booking rules shared by the booking form and the importer: pure, no Flask, no database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from tracker.clinical import refill_risk

# The clinic's first slot of the day: the booking form suggests it, and an imported booking with a date but no
# time is placed there.
DEFAULT_BOOKING_TIME = time(9, 0)

# Why a booking is refused (BookingCheck.refused); the caller words it for its own page.
IN_THE_PAST = "in_the_past"
NOT_A_CLINIC = "not_a_clinic"
NO_CLINICIAN = "no_clinician"
NEEDS_PHYSICIAN = "needs_physician"
NO_OVERRIDE_REASON = "no_override_reason"
NO_LATE_REASON = "no_late_reason"


@dataclass(frozen=True)
class BookingCheck:
    """A booking judged: its verdict against the pump's dates, whether a physician overrides, or why it is
    refused (None: it may be booked)."""

    verdict: str
    refused: str | None = None
    overridden: bool = False

    def limit(self, dates: refill_risk.RefillDates) -> date:
        """The date the booking falls after: the empty date, the alarm date or the due date."""
        if self.verdict == refill_risk.AFTER_EMPTY:
            return dates.empty_date
        return dates.alarm_date if self.verdict == refill_risk.AFTER_ALARM else dates.due_date


def check_booking(
    dates: refill_risk.RefillDates,
    starts_at: datetime,
    day: date,
    now: datetime,
    *,
    at_clinic: bool,
    clinician_ok: bool = True,
    may_override: bool = False,
    late_reason: str = "",
    override_reason: str = "",
) -> BookingCheck:
    """The rules every booking passes, in this order: in the future; at an active clinic; with an active
    clinician; on or after the low-reservoir alarm only with a physician's override and reason (domain.md 6);
    after the due date only with a reason. `day` is the clinic-local day of `starts_at`."""
    verdict = refill_risk.booking_verdict(dates, refill_risk.Booking(day))  # the model judges every booking
    if starts_at <= now:
        return BookingCheck(verdict, IN_THE_PAST)
    if not at_clinic:
        return BookingCheck(verdict, NOT_A_CLINIC)
    if not clinician_ok:
        return BookingCheck(verdict, NO_CLINICIAN)
    overridden = False
    if verdict in refill_risk.NEEDS_PHYSICIAN:
        if not may_override:
            return BookingCheck(verdict, NEEDS_PHYSICIAN)
        if not override_reason.strip():
            return BookingCheck(verdict, NO_OVERRIDE_REASON)
        overridden = True
    if verdict != refill_risk.ON_TIME and not (late_reason.strip() or override_reason.strip()):
        return BookingCheck(verdict, NO_LATE_REASON, overridden)
    return BookingCheck(verdict, None, overridden)
