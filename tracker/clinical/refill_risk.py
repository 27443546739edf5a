"""How late is late (domain.md section 6): one status for every pump in use, one verdict on its booking and its
battery, and whether someone must act. Pure: the worklist, calendar, patient page, e-mail, feed, dashboard and
exports all read `assess`, so no two screens can disagree about a pump.

Dates are clinic-local days as the refill engine stores them: the alarm and empty dates are the days the pump is
projected to reach its alarm volume and run dry (rounded down, so on that day it may already have), the due date
the last day a refill is on time. So a pump is past its alarm from the alarm date on, empty from the empty date on,
and overdue from the day after its due date. A booking is judged by the status the pump will have on its day: a
later booking can never look better than an earlier one, and a booking after the due date never clears a late pump.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date

from tracker.clinical.settings_spec import setting
from tracker.formats import fmt_date, plural

# Pump status, most severe first.
EMPTY = "empty"
PAST_ALARM = "past_alarm"
OVERDUE = "overdue"
DUE_SOON = "due_soon"
OK = "ok"
STATUSES = (EMPTY, PAST_ALARM, OVERDUE, DUE_SOON, OK)
LATE = frozenset({EMPTY, PAST_ALARM, OVERDUE})

# Verdict on the open booking.
NOT_BOOKED = "not_booked"
ON_TIME = "on_time"
AFTER_DUE = "after_due"
AFTER_ALARM = "after_alarm"
AFTER_EMPTY = "after_empty"
MISSED = "missed"
BOOKED_LATE = frozenset({AFTER_DUE, AFTER_ALARM, AFTER_EMPTY})
NEEDS_PHYSICIAN = frozenset({AFTER_ALARM, AFTER_EMPTY})  # domain.md 6: a physician books these, and is told
_BOOKING_ORDER = (MISSED, NOT_BOOKED, AFTER_EMPTY, AFTER_ALARM, AFTER_DUE, ON_TIME)
_BOOKING_FOR_STATUS = {EMPTY: AFTER_EMPTY, PAST_ALARM: AFTER_ALARM, OVERDUE: AFTER_DUE}

# Verdict on the battery.
NO_BATTERY = "no_battery"
BATTERY_OK = "battery_ok"
BATTERY_DUE_SOON = "battery_due_soon"
BATTERY_PAST_DUE = "battery_past_due"
BATTERY_ERI = "battery_eri"
BATTERY_ACTION = frozenset({BATTERY_PAST_DUE, BATTERY_ERI})  # worklist reasons and e-mail items

# One urgency per pump for colours, legends and ordering, most urgent first.
URGENCIES = (EMPTY, PAST_ALARM, OVERDUE, MISSED, "booked_late", DUE_SOON, "booked", OK)
TONES = {
    EMPTY: "red",
    PAST_ALARM: "red",
    OVERDUE: "red",
    MISSED: "red",
    "booked_late": "amber",
    DUE_SOON: "amber",
    "booked": "green",
    OK: "grey",
}

LABELS = {
    EMPTY: "Pump projected empty",
    PAST_ALARM: "Past the low-reservoir alarm date",
    OVERDUE: "Refill overdue",
    DUE_SOON: "Refill due soon",
    OK: "Not due yet",
    NOT_BOOKED: "Not booked",
    ON_TIME: "Booked on time",
    AFTER_DUE: "Booked after the due date",
    AFTER_ALARM: "Booked after the alarm date",
    AFTER_EMPTY: "Booked after the pump runs empty",
    MISSED: "Missed appointment: its time passed with no refill recorded",
    NO_BATTERY: "No battery-driven pump",
    BATTERY_OK: "Battery ok",
    BATTERY_DUE_SOON: "Battery replacement due soon",
    BATTERY_PAST_DUE: "Battery replacement past due",
    BATTERY_ERI: "Battery at its replacement indicator (ERI): the pump will stop",
    "booked_late": "Booked late: the pump runs past its date before the appointment",
    "booked": "Booked before the due date",
}

# What to do, for banners and the e-mail (domain.md section 5: withdrawal signs).
ADVICE = {
    EMPTY: "Withdrawal may already be under way. Reach the patient today, check for withdrawal signs (itching, "
    "returning spasticity, low blood pressure, fever, confusion) and refill now or send to emergency care.",
    PAST_ALARM: "The pump may be alarming; some patients cannot hear it. Reach the patient today, check for "
    "withdrawal signs and refill before the pump runs empty.",
    OVERDUE: "Book the refill today, before the low-reservoir alarm date.",
    MISSED: "Reach the patient today and book again; the pump keeps emptying.",
    AFTER_DUE: "Find an earlier slot: the refill is late at this appointment.",
    AFTER_ALARM: "A physician must approve this booking; find an earlier slot if at all possible.",
    AFTER_EMPTY: "The pump runs empty before this appointment: find an earlier slot or plan an emergency refill.",
    BATTERY_PAST_DUE: "Plan the pump replacement now.",
    BATTERY_ERI: "The pump stops within its ERI window: replace it before then.",
}


def add_months(day: date, months: int) -> date:
    """The same day `months` calendar months later, clamped to the month's end (31 Aug + 6 = 28/29 Feb)."""
    year, month0 = divmod(day.year * 12 + day.month - 1 + months, 12)
    return date(year, month0 + 1, min(day.day, calendar.monthrange(year, month0 + 1)[1]))


def battery_due(implanted_on: date, battery_life_months: int | None) -> date | None:
    """The battery replacement date: calendar months from the implant (84 months is 7 years, not 84 x 30 days);
    None when no battery drives the pump."""
    return add_months(implanted_on, battery_life_months) if battery_life_months else None


def battery_horizon(today: date, warning_months: int) -> date:
    """The last day a battery replacement counts as due soon: `warning_months` calendar months from today."""
    return add_months(today, warning_months)


@dataclass(frozen=True)
class Windows:
    """The clinic's settings the judgement reads: one "due soon" window everywhere, the battery warning."""

    soon_days: int = setting("due_soon_days")
    battery_warning_months: int = setting("battery_warning_months")


@dataclass(frozen=True)
class RefillDates:
    """A pump's stored projection (refill_schedule): the stability limit is already in `due_date`."""

    due_date: date
    alarm_date: date | None = None  # None: beyond the projection's horizon
    empty_date: date | None = None


@dataclass(frozen=True)
class Booking:
    day: date  # the clinic-local day of the appointment
    passed: bool = False  # its time has passed and no refill was recorded


@dataclass(frozen=True)
class Battery:
    replacement_due: date | None  # None: no battery-driven pump
    eri_on: date | None = None  # the day the elective replacement indicator showed


def status_on(dates: RefillDates, day: date, soon_days: int) -> str:
    """The pump's status on `day`, most severe first."""
    if dates.empty_date is not None and day >= dates.empty_date:
        return EMPTY
    if dates.alarm_date is not None and day >= dates.alarm_date:
        return PAST_ALARM
    if day > dates.due_date:
        return OVERDUE
    if (dates.due_date - day).days <= soon_days:
        return DUE_SOON
    return OK


def booking_verdict(dates: RefillDates, booking: Booking | None) -> str:
    """How the open booking stands against the pump's dates: judged by the status on the appointment's day."""
    if booking is None:
        return NOT_BOOKED
    if booking.passed:
        return MISSED
    return _BOOKING_FOR_STATUS.get(status_on(dates, booking.day, 0), ON_TIME)


def battery_verdict(battery: Battery, today: date, warning_months: int) -> str:
    if battery.eri_on is not None and battery.eri_on <= today:
        return BATTERY_ERI
    if battery.replacement_due is None:
        return NO_BATTERY
    if battery.replacement_due < today:
        return BATTERY_PAST_DUE
    if battery.replacement_due <= battery_horizon(today, warning_months):
        return BATTERY_DUE_SOON
    return BATTERY_OK


@dataclass(frozen=True)
class RefillRisk:
    status: str
    booking: str
    needs_action: bool  # someone must act: the pump stays in front of staff until the refill is recorded
    urgency: str  # one of URGENCIES: colour, legend and order

    @property
    def tone(self) -> str:
        return TONES[self.urgency]

    @property
    def missed(self) -> bool:
        """The open appointment's time has passed and no refill was recorded."""
        return self.booking == MISSED

    @property
    def booking_tone(self) -> str:
        """The colour of what the patient page says about the booking: green when booked on time, red when not
        booked or when the pump is red anyway (late or missed), amber when booked after its due date."""
        if self.booking == ON_TIME:
            return "green"
        return "red" if self.booking == NOT_BOOKED or self.tone == "red" else "amber"

    @property
    def rank(self) -> tuple[int, int]:
        """Sort key, most urgent first: the urgency, then the booking (an unbooked pump before a booked one)."""
        return URGENCIES.index(self.urgency), _BOOKING_ORDER.index(self.booking)

    @property
    def reasons(self) -> list[str]:
        """Why the pump needs action, as LABELS keys: its status and its booking's verdict."""
        if not self.needs_action:
            return []
        unbooked = self.booking in (NOT_BOOKED, MISSED)
        found = [self.status] if self.status in LATE or (self.status == DUE_SOON and unbooked) else []
        return found + ([self.booking] if self.booking in BOOKED_LATE or self.booking == MISSED else [])

    @property
    def label(self) -> str:
        return LABELS[self.urgency]


def assess(dates: RefillDates, booking: Booking | None, today: date, soon_days: int) -> RefillRisk:
    """The one judgement of a pump in use on `today`: status, booking verdict, needs action, urgency."""
    status = status_on(dates, today, soon_days)
    verdict = booking_verdict(dates, booking)
    # A late pump needs action whatever its booking says; a due-soon one until it is booked on time.
    needs_action = (
        status in LATE or verdict in BOOKED_LATE or verdict == MISSED or (status == DUE_SOON and verdict != ON_TIME)
    )
    if status in LATE:
        urgency = status
    elif verdict == MISSED:
        urgency = MISSED
    elif verdict in BOOKED_LATE:
        urgency = "booked_late"
    elif verdict == ON_TIME:
        urgency = "booked"
    else:
        urgency = status
    return RefillRisk(status, verdict, needs_action, urgency)


def due_words(due_date: date, today: date) -> str:
    """How far off a refill's due date is, in the worklist's words: "66 days past due", "due today", "3 days left"
    (the worklist, its CSV and the patient list all say it so)."""
    days_left = (due_date - today).days
    if days_left < 0:
        return f"{plural(-days_left, 'day')} past due"
    return "due today" if days_left == 0 else f"{plural(days_left, 'day')} left"


@dataclass(frozen=True)
class Banner:
    """What the patient page says first about a pump that needs action: a red or amber box."""

    tone: str  # red | amber
    title: str
    lines: tuple[str, ...]


def _on(day: date) -> str:
    return fmt_date(day)


def banners(risk: RefillRisk, dates: RefillDates, booking: Booking | None, today: date) -> list[Banner]:
    """The truth first: red for a late pump or a missed appointment, amber for a booking that leaves it late, with
    the dates and what to do. Nothing for a pump that is fine or booked on time."""
    found = []
    if risk.status in LATE:
        lines = [f"Refill was due {_on(dates.due_date)} ({plural((today - dates.due_date).days, 'day')} ago)."]
        for name, day in (("reach its low-reservoir alarm", dates.alarm_date), ("run empty", dates.empty_date)):
            if day is not None:
                when = (
                    "today"
                    if day == today
                    else (
                        f"{plural((today - day).days, 'day')} ago"
                        if day < today
                        else f"in {plural((day - today).days, 'day')}"
                    )
                )
                lines.append(f"Projected to {name} on {_on(day)} ({when}).")
        found.append(Banner("red", LABELS[risk.status], (*lines, ADVICE[risk.status])))
    if risk.booking == MISSED:
        found.append(Banner("red", LABELS[MISSED], (ADVICE[MISSED],)))
    elif risk.booking in BOOKED_LATE and booking is not None:
        passed = [
            (name, day)
            for name, day in (
                ("due date", dates.due_date),
                ("alarm date", dates.alarm_date),
                ("projected empty date", dates.empty_date),
            )
            if day is not None and booking.day >= day
        ]
        past = [
            f"on the {name} ({_on(day)})"
            if day == booking.day
            else f"{plural((booking.day - day).days, 'day')} after the {name} ({_on(day)})"
            for name, day in passed
        ]
        found.append(
            Banner(
                "amber",
                LABELS[risk.booking],
                (f"The appointment on {_on(booking.day)} is " + ", ".join(past) + ".", ADVICE[risk.booking]),
            )
        )
    return found
