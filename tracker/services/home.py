"""Each role's home page ("Today"): what needs doing first, gathered from the rules every list already uses.

Nothing here judges a pump, a booking or a request. The worklist's page and counts (tracker.services.worklist,
which asks tracker.clinical.refill_risk), the calendar's events (tracker.services.calendar), the physicians' queue
(tracker.services.escalation) and the daily e-mail's delivery state (tracker.services.digest_delivery) decide; the
home page shows their first rows and their counts, and each count links to the full list. Every read here is a
fixed number of queries, however many patients the clinic has."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, joinedload

from tracker.clinical import pump_events, refill_risk
from tracker.models import ContactAttempt, DigestRun, OutboxMessage, PhysicianRequest
from tracker.models.digest import DEAD
from tracker.models.requests import KINDS
from tracker.services import digest_delivery
from tracker.services.accounts import locked_users
from tracker.services.bookings import RETRY_OUTCOMES
from tracker.services.calendar import CalendarEvent, calendar_events
from tracker.services.digest import last_completed_day
from tracker.services.physician_queue import IN_FRONT_OF_PHYSICIANS, QueueItem, physician_queue, requests_to_follow
from tracker.services.worklist import RefillFact, WorklistPage, refill_facts, worklist_page

HOME_ROWS = 8  # the first rows of each list; the rest are one click away, on the list itself
ANSWERED_DAYS = 14  # a physician's answer to one's request stays on the home page this long
# Each day's digest is built soon after its send time: a day and an hour without one, no scheduler ran it.
SCHEDULER_QUIET_HOURS = 25
# What the physicians' queue holds besides requests, in the order the home page counts it (the queue's own rules:
# physician_queue.IN_FRONT_OF_PHYSICIANS and the catheter events waiting for a physician's review).
QUEUE_PUMPS = (refill_risk.EMPTY, refill_risk.PAST_ALARM, *sorted(pump_events.DONE_BY_PHYSICIAN))


@dataclass
class Day:
    """One clinic day's booked refills (the calendar's appointment events), in time order."""

    day: date
    appointments: list[CalendarEvent]


@dataclass
class Retry:
    """A patient whose refill still needs action and whose last contact attempt did not reach them."""

    fact: RefillFact
    attempt: ContactAttempt


@dataclass
class NurseHome:
    clinic_id: int | None  # the clinic whose booked refills are shown (None: every clinic)
    needing: WorklistPage  # my patients needing action: the first rows, how many in all, the counts per reason
    days: list[Day]  # today's and tomorrow's booked refills at my clinic
    requests: list[PhysicianRequest]  # what I asked a physician: open, or answered lately


@dataclass
class CoordinatorHome:
    clinic_id: int | None  # the clinic everything is of (None: every clinic)
    needing: WorklistPage  # the worklist's first rows, total and counts per reason
    days: list[Day]
    retry: list[Retry]  # the most urgent first HOME_ROWS
    retry_total: int
    requests: list[PhysicianRequest]


@dataclass
class PhysicianHome:
    items: list[QueueItem]  # the queue's first HOME_ROWS, in its order
    total: int
    requests: dict[str, int]  # open requests per kind (models.requests.KINDS), in that order
    pumps: int  # the queue's pumps that nobody has asked about (its second list)
    reasons: dict[str, int]  # those pumps per QUEUE_PUMPS reason (a pump may have two)


@dataclass
class AdminHome:
    last_built_at: datetime | None  # the last day's digest built by any process (`flask scheduler`, a web worker's)
    last_built_by: str  # host:pid of that process
    scheduler_quiet: bool  # no scheduler here and nothing built for SCHEDULER_QUIET_HOURS: none may be running
    scheduler_state: str  # this process's scheduler (tracker.jobs.scheduler_state): running, off, stopped ...
    last_run_at: datetime | None  # its last digest job that ran to the end
    scheduler_error: str | None  # the last job's failure, if it failed
    delivery: digest_delivery.Delivery  # today's e-mail
    last_complete_day: date | None  # the last day whose every e-mail was delivered
    dead_letters: int  # e-mails given up on and not resent
    locked_accounts: int  # active accounts whose sign-in must wait (tracker.auth.throttle), unlocked on Users


def booked_days(session: Session, today: date, now: datetime, location_ids: list[int] | None) -> list[Day]:
    """Today's and tomorrow's booked refills of these clinics' patients (every clinic's with None), as the
    calendar shows them."""
    tomorrow = today + timedelta(days=1)
    events = calendar_events(session, today, tomorrow, today, now, location_ids)
    return [Day(day, [e for e in events if e.kind == "appointment" and e.day == day]) for day in (today, tomorrow)]


def nurse_home(
    session: Session,
    user_id: int,
    clinic_id: int | None,
    scope_location: int | None,
    today: date,
    now: datetime,
    windows: refill_risk.Windows,
) -> NurseHome:
    """A nurse's day: their own patients needing action (every clinic the settings let them see: `scope_location`
    narrows it to one), refills booked at their clinic today and tomorrow, their requests to a physician."""
    needing = worklist_page(
        session, today, now, windows, 1, HOME_ROWS, [scope_location] if scope_location else None, user_id
    )
    return NurseHome(
        clinic_id,
        needing,
        booked_days(session, today, now, [clinic_id] if clinic_id else None),
        _my_requests(session, user_id, now),
    )


def coordinator_home(
    session: Session, user_id: int, clinic_id: int | None, today: date, now: datetime, windows: refill_risk.Windows
) -> CoordinatorHome:
    """A coordinator's day, all of it for their clinic (every clinic for one without a home clinic), as the
    calendar and the calendar feed show it to them: what needs booking or a call, the booked refills of today and
    tomorrow, the patients to call again, and their requests to a physician."""
    location_ids = [clinic_id] if clinic_id else None
    needing = worklist_page(session, today, now, windows, 1, HOME_ROWS, location_ids)
    retry = contacts_to_retry(session, today, now, windows, location_ids)
    return CoordinatorHome(
        clinic_id,
        needing,
        booked_days(session, today, now, location_ids),
        retry[:HOME_ROWS],
        len(retry),
        _my_requests(session, user_id, now),
    )


def _my_requests(session: Session, user_id: int, now: datetime) -> list[PhysicianRequest]:
    return requests_to_follow(session, user_id, now - timedelta(days=ANSWERED_DAYS), HOME_ROWS)


def _latest_attempts_statement():
    """Each patient's latest contact attempt, for the patients named, kept when it did not reach them."""
    latest = (
        select(
            ContactAttempt.id,
            func.row_number()
            .over(partition_by=ContactAttempt.patient_id, order_by=(ContactAttempt.at.desc(), ContactAttempt.id.desc()))
            .label("n"),
        )
        .where(ContactAttempt.patient_id.in_(bindparam("patient_ids", expanding=True)))
        .subquery()
    )
    return (
        select(ContactAttempt)
        .join(latest, latest.c.id == ContactAttempt.id)
        .where(latest.c.n == 1, ContactAttempt.outcome.in_(sorted(RETRY_OUTCOMES)))
        .options(joinedload(ContactAttempt.by))
    )


def contacts_to_retry(
    session: Session, today: date, now: datetime, windows: refill_risk.Windows, location_ids: list[int] | None
) -> list[Retry]:
    """Patients whose refill needs action (the worklist's rows, most urgent first) and whose last contact attempt
    did not reach them (bookings.RETRY_OUTCOMES), in three queries (the open device-event work is one)."""
    facts = refill_facts(session, today, now, windows, location_ids, needing_action=True)
    attempts = {
        a.patient_id: a
        for a in session.scalars(_latest_attempts_statement(), {"patient_ids": [f.patient_id for f in facts]})
    }
    return [Retry(f, attempts[f.patient_id]) for f in facts if f.patient_id in attempts]


def physician_home(session: Session, today: date, now: datetime, windows: refill_risk.Windows) -> PhysicianHome:
    """The physicians' queue: its first rows, its requests per kind and its pumps nobody has asked about, per
    reason (the queue's two lists)."""
    items = physician_queue(session, today, now, windows)
    requests = Counter(item.request.kind for item in items if item.request)
    pumps = [item.fact.judgement for item in items if item.request is None]
    reasons = Counter(j.risk.status for j in pumps if j.risk.status in IN_FRONT_OF_PHYSICIANS)
    for judgement in pumps:
        reasons.update({w.work for w in judgement.work if w.work in pump_events.DONE_BY_PHYSICIAN})
    return PhysicianHome(
        items[:HOME_ROWS],
        len(items),
        {kind: requests[kind] for kind in KINDS},
        len(pumps),
        {reason: reasons[reason] for reason in QUEUE_PUMPS},
    )


def admin_home(session: Session, config, now: datetime, scheduler: dict, limits) -> AdminHome:
    """The app's health as /healthz and the admins' e-mail page read it; `scheduler` is tracker.jobs.scheduler_state,
    `limits` the app's sign-in limits (None when off)."""
    dead = session.scalar(select(func.count()).select_from(OutboxMessage).where(OutboxMessage.status == DEAD))
    last_run = scheduler["last_tick_at"]
    # Web workers usually run no scheduler (`flask scheduler` does, in its own process): what the database shows
    # built is what tells whether any scheduler runs. A day's digest is built once, soon after the send time.
    built_at, built_by = session.execute(
        select(DigestRun.started_at, DigestRun.started_by).order_by(DigestRun.started_at.desc()).limit(1)
    ).first() or (None, "")
    quiet = not scheduler["state"].startswith("running") and (
        built_at is None or now - built_at > timedelta(hours=SCHEDULER_QUIET_HOURS)
    )
    return AdminHome(
        built_at,
        built_by,
        quiet,
        scheduler["state"],
        datetime.fromisoformat(last_run) if last_run else None,
        scheduler["last_error"],
        digest_delivery.today(session, config, now),
        last_completed_day(session),
        dead or 0,
        len(locked_users(session, limits, now)),
    )
