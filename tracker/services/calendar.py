"""Calendar events (due dates and booked refills) for a date range, and the personal iCalendar feed."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from icalendar import Calendar, Event
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone
from tracker.clinical import pump_events, refill_risk
from tracker.models import User
from tracker.services import Actor, use_case
from tracker.services.audit import record
from tracker.services.patient_queries import filter_choices
from tracker.services.refill_list_queries import late_count, open_work
from tracker.services.settings import risk_windows
from tracker.services.worklist import RefillFact, refill_facts

KINDS = {"due": "Due", "appointment": "Refill", "action": "Action"}  # one word: a chip's or a title's first


@dataclass(slots=True)
class CalendarEvent:
    day: date
    kind: str  # due | appointment | action (a pump needing action, on today until the refill is recorded)
    fact: RefillFact
    starts_at_local: datetime | None = None

    @property
    def urgency(self) -> str:
        """A due date or booking in the refill's colour; today's action in the colour of what must be done (an
        overdue post-MRI check is red on a pump whose refill is fine)."""
        return self.fact.judgement.action_urgency if self.kind == "action" else self.fact.urgency

    @property
    def what(self) -> str:
        return KINDS[self.kind]

    @property
    def label(self) -> str:
        """The model's words for this pump, and its booking's when that is what is late; then any open
        device-event work (a post-MRI check, a catheter review)."""
        judgement = self.fact.judgement
        risk = judgement.risk
        words = [refill_risk.LABELS[risk.urgency]] if risk.needs_action or not judgement.work else []
        if risk.status in refill_risk.LATE and risk.booking != refill_risk.NOT_BOOKED:
            words.append(refill_risk.LABELS[risk.booking])
        words += [pump_events.WORK_LABELS[work] for work in pump_events.work_reasons(judgement.work)]
        return " · ".join(words)

    @property
    def initials(self) -> str:
        return f"{self.fact.first_name[:1]}{self.fact.last_name[:1]}".upper()

    @property
    def uid(self) -> str:
        return f"{self.kind}-{self.fact.appointment_id if self.kind == 'appointment' else self.fact.pump_id}"

    @property
    def rank(self) -> tuple[int, int]:
        return self.fact.judgement.rank


def calendar_events(
    session: Session,
    start: date,
    end: date,
    today: date,
    now: datetime,
    location_ids: list[int] | None = None,
    nurse_id: int | None = None,
) -> list[CalendarEvent]:
    """Every due date and booked refill from `start` to `end` inclusive, as plain values, in date and time order,
    in a fixed number of queries."""
    return _read_events(session, start, end, today, now, location_ids, nurse_id)


@dataclass
class CalendarView:
    events: list[CalendarEvent]
    late: int  # pumps past their due date, booked or not, whatever the dates shown
    locations: tuple[tuple[int, str], ...]  # the filter bar's clinics and nurses
    nurses: tuple[tuple[int, str], ...]


def calendar_view(
    session: Session,
    start: date,
    end: date,
    today: date,
    now: datetime,
    location_ids: list[int] | None = None,
    nurse_id: int | None = None,
) -> CalendarView:
    """What the calendar page reads: the events, the overdue count and the filter bar's choices."""
    events = _read_events(session, start, end, today, now, location_ids, nurse_id)
    locations, nurses = filter_choices(session, "clinic")
    late = late_count(session, today, location_ids, nurse_id)
    return CalendarView(events, late, tuple(locations), tuple(nurses))


def _read_events(session, start, end, today, now, location_ids, nurse_id) -> list[CalendarEvent]:
    """The events from `start` to `end`, with every pump needing action on today when the range holds it."""
    events, windows = [], risk_windows(session)
    work = open_work(session, location_ids)  # read once for both reads below
    if start <= today <= end:  # a pump needing action sits on today too, every day until its refill (or its work)
        events += [
            CalendarEvent(today, "action", fact)
            for fact in refill_facts(
                session, today, now, windows, location_ids, nurse_id, needing_action=True, work=work
            )
            if fact.judgement.needs_action
        ]
    for fact in refill_facts(session, today, now, windows, location_ids, nurse_id, start, end, work=work):
        if start <= fact.due_date <= end:
            events.append(CalendarEvent(fact.due_date, "due", fact))
        if fact.starts_at is not None:
            local = fact.starts_at.astimezone(clinic_zone())
            if start <= local.date() <= end:
                events.append(CalendarEvent(local.date(), "appointment", fact, local))
    events.sort(
        key=lambda e: (e.day, e.starts_at_local.time() if e.starts_at_local else datetime.min.time(), e.fact.patient_id)
    )
    return events


@use_case("account")
def regenerate_token(session: Session, actor: Actor, user: User) -> str:
    """A new secret feed URL; the old one stops working at once."""
    user.calendar_token = secrets.token_urlsafe(32)
    record(session, actor, "update", "user", user.id, None, None, {"calendar_token": "regenerated"})  # nosec B105
    return user.calendar_token


def feed_events(session: Session, today: date, now: datetime, location_ids: list[int] | None) -> list[CalendarEvent]:
    """The feed: due dates and bookings from 30 days back to 90 ahead, and (as in every range holding today) every
    pump needing action as an all-day event on today, every day until its refill is recorded: a calendar app must
    not lose a late pump because its due date scrolled out of view or a booking covers it."""
    return calendar_events(
        session, today - timedelta(days=30), today + timedelta(days=90), today, now, location_ids, None
    )


def feed_locations(user: User) -> list[int] | None:
    """Clinic staff see their home location; users without one (physicians, admins) see every location."""
    return [user.location_id] if user.location_id and user.role in ("nurse", "coordinator") else None


def ical_feed(events: list[CalendarEvent], base_url: str, stamp: datetime) -> bytes:
    """RFC 5545 calendar carrying MRN and initials only: no names, diagnoses or birth dates."""
    cal = Calendar()
    cal.add("prodid", "-//ITB tracker//refills//EN")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("x-wr-calname", "ITB refills")
    for e in events:
        p = e.fact
        item = Event()
        item.add("uid", f"{e.uid}@itb-tracker")
        item.add("dtstamp", stamp)
        if e.kind == "appointment":
            item.add("summary", f"ITB refill {p.mrn} ({e.initials})")
            item.add("dtstart", e.starts_at_local)
            item.add("dtend", e.starts_at_local + timedelta(minutes=45))
            item.add("location", p.location)
        elif e.kind == "action":
            item.add("summary", f"ITB refill: ACT TODAY, {e.label}: {p.mrn} ({e.initials})")
            item.add("dtstart", e.day)
            item.add("dtend", e.day + timedelta(days=1))
            item.add("priority", 1)
        else:
            item.add("summary", f"ITB refill due {p.mrn} ({e.initials})")
            item.add("dtstart", e.day)
            item.add("dtend", e.day + timedelta(days=1))
            item.add("transp", "TRANSPARENT")
        item.add("url", f"{base_url}/patients/{p.patient_id}")
        cal.add_component(item)
    cal.add_missing_timezones()  # RFC 5545: every TZID used needs its VTIMEZONE
    return cal.to_ical()
