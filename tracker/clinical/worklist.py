"""Which refills need action, and how urgent each is. Pure: the same rules feed the worklist, the calendar
colours and the daily e-mail, so they can never disagree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

OVERDUE = "overdue"
DUE_SOON_UNBOOKED = "due_soon_unbooked"
BOOKED_AFTER_DUE = "booked_after_due"
MISSED_APPOINTMENT = "missed_appointment"

REASON_LABELS = {
    OVERDUE: "Overdue and not booked: the due date has passed and no refill is recorded",
    DUE_SOON_UNBOOKED: "Due soon and not booked",
    BOOKED_AFTER_DUE: "Booked after the due date",
    MISSED_APPOINTMENT: "Missed appointment: its time passed with no refill recorded",
}

# Calendar colours, most urgent first.
URGENCY_OVERDUE = "overdue"
URGENCY_DUE_SOON = "due-soon"
URGENCY_BOOKED_AFTER_DUE = "booked-after-due"
URGENCY_BOOKED = "booked"
URGENCY_LATER = "later"
URGENCY_LABELS = {
    URGENCY_OVERDUE: "Overdue",
    URGENCY_DUE_SOON: "Due within 7 days, not booked",
    URGENCY_BOOKED_AFTER_DUE: "Booked after the due date",
    URGENCY_BOOKED: "Booked before the due date",
    URGENCY_LATER: "Not due yet",
}


@dataclass(frozen=True)
class RefillState:
    """One pump's refill situation as of now."""

    due_date: date
    appointment_date: date | None = None  # clinic-local date of the open booking
    appointment_passed: bool = False  # the open booking's time has passed without a refill


def reasons(state: RefillState, today: date, horizon_days: int) -> list[str]:
    """Every reason the refill needs action; empty when nothing is needed. A row leaves the worklist
    only when its conditions are really gone (a refill moves the due date; a booking covers "unbooked")."""
    found = []
    booked = state.appointment_date is not None
    if state.due_date < today:
        # Booked: the coordinator's action is done (any booking is now after the due date, and one after
        # the alarm date needed a physician). It comes back if the appointment passes without a refill.
        if not booked:
            found.append(OVERDUE)
    elif not booked and (state.due_date - today).days <= horizon_days:
        found.append(DUE_SOON_UNBOOKED)
    elif booked and state.appointment_date > state.due_date:
        found.append(BOOKED_AFTER_DUE)  # still fixable: an earlier slot would be on time
    if state.appointment_passed:
        found.append(MISSED_APPOINTMENT)
    return found


def urgency(state: RefillState, today: date, soon_days: int = 7) -> str:
    """The calendar colour for this refill."""
    if state.appointment_passed or (state.due_date < today and state.appointment_date is None):
        return URGENCY_OVERDUE
    if state.appointment_date is not None:
        return URGENCY_BOOKED_AFTER_DUE if state.appointment_date > state.due_date else URGENCY_BOOKED
    if (state.due_date - today).days <= soon_days:
        return URGENCY_DUE_SOON
    return URGENCY_LATER
