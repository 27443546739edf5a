"""What each recipient's digest says: every section's data gathered for everyone at once (a fixed number of
queries), then scoped to each nurse, clinic, physician or administrator.

Refill sections come from tracker.services.worklist.refill_facts and battery items from refill_risk.battery_verdict,
so the e-mail and the worklist agree: the model (tracker.clinical.refill_risk) puts each pump in its section."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, joinedload

from tracker.clinic_zone import clinic_zone_name, local_date
from tracker.clinical import digest, digest_input, pump_events, refill_risk
from tracker.digest_email import DigestEmail, render
from tracker.models import (
    DigestRun,
    Location,
    OutboxMessage,
    Patient,
    Pump,
    PumpModel,
    RefillSchedule,
    RefillVisit,
    StageEvent,
    User,
)
from tracker.models.digest import DEAD, QUEUED, SENDING
from tracker.services import physician_queue
from tracker.services.refill_list_queries import on_refill_list
from tracker.services.settings import risk_windows
from tracker.services.worklist import refill_facts

WARNING_CODES = ("residual_discrepancy", "pocket_fill")
HEALTH_LOOKBACK_DAYS = 7


@dataclass(frozen=True)
class DigestOptions:
    tz: str
    send_time: time
    base_url: str
    mail_from: str
    nothing_due_email: bool = True
    scheduler_state: str = "off"
    send_missed_days: bool = False  # a day the app was down all day: sent late (on) or only noted (off)

    @classmethod
    def from_config(cls, config, scheduler_state: str = "off") -> DigestOptions:
        return cls(
            clinic_zone_name(),
            parse_send_time(config["DIGEST_SEND_TIME"]),
            config["BASE_URL"].rstrip("/"),
            config["MAIL_FROM"],
            bool(config["DIGEST_NOTHING_DUE_EMAIL"]),
            scheduler_state,
            bool(config.get("DIGEST_SEND_MISSED_DAYS", False)),
        )

    def patient_url(self, patient_id: int) -> str:
        return f"{self.base_url}/patients/{patient_id}"


def parse_send_time(value: str) -> time:
    """ "06:30" -> 06:30; refuses anything else so a typo cannot silently move the e-mail."""
    try:
        hours, minutes = value.strip().split(":")
        return time(int(hours), int(minutes))
    except ValueError:
        raise ValueError(f"TRACKER_DIGEST_SEND_TIME must look like 06:30, not {value!r}") from None


def clinic_today(now: datetime, tz: str) -> date:
    return now.astimezone(ZoneInfo(tz)).date()


def _day_window(day: date, tz: str) -> tuple[datetime, datetime]:
    """Yesterday, clinic-local, as UTC bounds: consecutive digests neither miss nor repeat an event."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day - timedelta(days=1), time(0), zone)
    return start, datetime.combine(day, time(0), zone)


@dataclass
class _Scoped:
    """One patient-scoped item and who should see it."""

    nurse_id: int | None
    location_id: int
    item: object


@dataclass
class _DayData:
    windows: refill_risk.Windows
    refills: list[_Scoped] = field(default_factory=list)
    warnings: list[_Scoped] = field(default_factory=list)
    battery: list[_Scoped] = field(default_factory=list)
    device_work: list[_Scoped] = field(default_factory=list)
    stage_changes: list[_Scoped] = field(default_factory=list)
    physician_pumps: list[digest_input.RefillItem] = field(default_factory=list)
    physician_work: list[digest_input.WorkItem] = field(default_factory=list)
    physician_requests: list[digest_input.PhysicianRequestItem] = field(default_factory=list)
    dead_letters: list[digest_input.DeadLetter] = field(default_factory=list)
    scheduler: digest_input.SchedulerHealth | None = None
    groups: dict = field(default_factory=dict)  # _scope's cache: each list grouped by nurse or location once


def _ref(options: DigestOptions, patient_id: int, mrn: str) -> digest_input.PatientRef:
    return digest_input.PatientRef(mrn, options.patient_url(patient_id))


def gather(session: Session, day: date, now: datetime, options: DigestOptions) -> _DayData:
    """Everything the day's e-mails say, for every recipient at once."""
    data = _DayData(risk_windows(session))
    # Plain columns, and only the pumps the model says need action: the digest's cost follows them, not every pump
    # in use. Each goes to the section of its urgency, as on the worklist; none is dropped for being booked.
    for fact in refill_facts(session, day, now, data.windows, needing_action=True):
        for work in fact.judgement.work:  # a device event's open work: the worklist's, in its own section
            item = digest_input.WorkItem(
                _ref(options, fact.patient_id, fact.mrn),
                fact.location,
                work.work,
                work.due_on,
                work.kind,
                local_date(work.occurred_at),
                work.about,
            )
            data.device_work.append(_Scoped(fact.nurse_id, fact.location_id, item))
            if work.work in pump_events.DONE_BY_PHYSICIAN:
                data.physician_work.append(item)
        judged = fact.judgement.risk
        if not judged.needs_action:  # on the list for its battery or its device work only: their sections have it
            continue
        item = digest_input.RefillItem(
            _ref(options, fact.patient_id, fact.mrn),
            fact.location,
            judged.urgency,
            judged.status,
            judged.booking,
            fact.due_date,
            fact.alarm_date,
            fact.empty_date,
            local_date(fact.starts_at) if fact.starts_at else None,
        )
        data.refills.append(_Scoped(fact.nurse_id, fact.location_id, item))
        if judged.status in physician_queue.IN_FRONT_OF_PHYSICIANS:  # the physicians' queue's rule
            data.physician_pumps.append(item)
    data.battery = _batteries(session, day, data.windows, options)
    data.physician_requests = _physician_requests(session, options)

    start, end = _day_window(day, options.tz)
    patient_cols = (Patient.id, Patient.mrn, Patient.nurse_id, Patient.location_id)
    visits = session.execute(
        select(RefillVisit.visit_at, RefillVisit.warnings, *patient_cols)
        .join(Pump, Pump.id == RefillVisit.pump_id)
        .join(Patient, Patient.id == Pump.patient_id)
        .where(
            RefillVisit.recorded_at >= start,
            RefillVisit.recorded_at < end,
            RefillVisit.voided_at.is_(None),
            Patient.status == "active",
        )
        .order_by(RefillVisit.id)
    )
    for visit_at, warnings, patient_id, mrn, nurse_id, location_id in visits:
        for warning in warnings or []:
            if warning.get("code") in WARNING_CODES:
                item = digest_input.WarningItem(
                    _ref(options, patient_id, mrn),
                    warning["code"],
                    warning.get("message", ""),
                    clinic_today(visit_at, options.tz),
                )
                data.warnings.append(_Scoped(nurse_id, location_id, item))

    for event, patient_id, mrn, nurse_id, location_id in session.execute(
        select(StageEvent, *patient_cols)
        .join(Patient, Patient.id == StageEvent.patient_id)
        .where(StageEvent.recorded_at >= start, StageEvent.recorded_at < end, StageEvent.voided_at.is_(None))
        .order_by(StageEvent.id)
    ):
        item = digest_input.StageChangeItem(
            _ref(options, patient_id, mrn), event.from_stage, event.to_stage, event.effective_date, event.exit_reason
        )
        data.stage_changes.append(_Scoped(nurse_id, location_id, item))

    lookback = day - timedelta(days=HEALTH_LOOKBACK_DAYS)
    data.dead_letters = [
        digest_input.DeadLetter(m.digest_day, m.to_address, m.attempts, m.last_error)
        for m in session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == DEAD, OutboxMessage.digest_day >= lookback)
            .order_by(OutboxMessage.digest_day, OutboxMessage.id)
        )
    ]
    data.scheduler = scheduler_health(session, day, options)
    return data


def _batteries(session: Session, day: date, windows: refill_risk.Windows, options: DigestOptions) -> list[_Scoped]:
    """Pumps in use whose battery is at ERI, past its replacement date or due within the warning window, judged by
    refill_risk.battery_verdict as the worklist judges them. Read here, not from refill_facts: that holds only
    pumps needing action, and a replacement due within the window is a warning, not yet an action."""
    horizon = refill_risk.battery_horizon(
        day, windows.battery_warning_months
    )  # the SQL only narrows; the verdict decides
    query = (
        on_refill_list(
            select(
                Pump.battery_replacement_due,
                Pump.eri_on,
                PumpModel.eri_to_stop_days,
                Patient.id,
                Patient.mrn,
                Patient.nurse_id,
                Patient.location_id,
                Location.name,
            ).select_from(RefillSchedule),
            None,
            False,
            False,
        )
        .join(Pump, Pump.id == RefillSchedule.pump_id)
        .join(PumpModel, PumpModel.id == Pump.model_id)
        .join(Location, Location.id == Patient.location_id)
        .where(or_(Pump.battery_replacement_due <= horizon, Pump.eri_on <= day))
    )
    found = []
    for due, eri_on, eri_to_stop_days, patient_id, mrn, nurse_id, location_id, place in session.execute(query):
        verdict = refill_risk.battery_verdict(refill_risk.Battery(due, eri_on), day, windows.battery_warning_months)
        if verdict in digest.BATTERY_ORDER:
            found.append(
                _Scoped(
                    nurse_id,
                    location_id,
                    digest_input.BatteryItem(
                        _ref(options, patient_id, mrn), place, verdict, due, eri_on, eri_to_stop_days
                    ),
                )
            )
    return found


def _physician_requests(session: Session, options: DigestOptions) -> list[digest_input.PhysicianRequestItem]:
    """Open requests waiting for a physician, oldest first, as the physicians' queue lists them. The request's
    free-text note stays in the app: staff may have typed a name into it (the e-mail carries MRN and link only)."""
    zone = ZoneInfo(options.tz)
    return [
        digest_input.PhysicianRequestItem(
            _ref(options, r.patient_id, r.patient.mrn),
            r.kind_label,
            r.requested_by.full_name,
            r.requested_at.astimezone(zone),
        )
        for r in physician_queue.open_physician_requests(session)
    ]


def scheduler_health(session: Session, day: date, options: DigestOptions) -> digest_input.SchedulerHealth:
    runs = {
        r.digest_day: r
        for r in session.scalars(
            select(DigestRun).where(
                DigestRun.digest_day >= day - timedelta(days=HEALTH_LOOKBACK_DAYS), DigestRun.digest_day < day
            )
        )
    }
    last = session.scalar(
        select(func.max(DigestRun.digest_day)).where(DigestRun.completed_at.is_not(None), DigestRun.digest_day < day)
    )
    first = session.scalar(select(func.min(DigestRun.digest_day)))
    # A run started after its own day had ended was sent late (TRACKER_DIGEST_SEND_MISSED_DAYS, or the CLI).
    late = tuple(sorted(d for d, r in runs.items() if clinic_today(r.started_at, options.tz) > d))
    missed = tuple(
        d
        for d in (day - timedelta(days=n) for n in range(HEALTH_LOOKBACK_DAYS, 0, -1))
        if first is not None and d >= first and d not in late and (d not in runs or runs[d].completed_at is None)
    )
    unsent = session.scalar(
        select(func.count())
        .select_from(OutboxMessage)
        .where(OutboxMessage.digest_day < day, OutboxMessage.status.in_((QUEUED, SENDING)))
    )
    return digest_input.SchedulerHealth(options.scheduler_state, last, missed, unsent or 0, late)


def missed_days(session: Session, today: date) -> list[date]:
    """Days before `today` with no built digest since the last day that had one (at most HEALTH_LOOKBACK_DAYS
    back): the app was not running after the send time on those days. None before the first digest ever."""
    last = session.scalar(
        select(func.max(DigestRun.digest_day)).where(DigestRun.built_at.is_not(None), DigestRun.digest_day < today)
    )
    if last is None:
        return []
    first = max(last + timedelta(days=1), today - timedelta(days=HEALTH_LOOKBACK_DAYS))
    return [first + timedelta(days=n) for n in range((today - first).days)]


def _scope(items: list[_Scoped], user: User, groups: dict) -> list:
    """The items `user` sees, in gathered order. Each list is grouped by nurse or location once for every
    recipient (`groups` is the day's cache), not filtered again per recipient."""
    if user.role != "nurse" and user.location_id is None:  # a coordinator without a home location: every location
        return [s.item for s in items]
    by, value = ("nurse_id", user.id) if user.role == "nurse" else ("location_id", user.location_id)
    grouped = groups.get((id(items), by))
    if grouped is None:
        grouped = groups[(id(items), by)] = {}
        for s in items:
            grouped.setdefault(getattr(s, by), []).append(s.item)
    return list(grouped.get(value, ()))


def _input_for(user: User, day: date, data: _DayData, options: DigestOptions) -> digest_input.DigestInput:
    base = {
        "day": day,
        "role": user.role,
        "home_url": options.base_url + "/",
        "due_soon_days": data.windows.soon_days,
        "battery_months": data.windows.battery_warning_months,
        "nothing_due_email": options.nothing_due_email,
    }
    if user.role in ("nurse", "coordinator"):
        scope = (
            "Your patients"
            if user.role == "nurse"
            else (f"Patients at {user.location.name}" if user.location else "Patients at every location")
        )
        g = data.groups
        return digest_input.DigestInput(
            scope=scope,
            refills=_scope(data.refills, user, g),
            warnings=_scope(data.warnings, user, g),
            battery=_scope(data.battery, user, g),
            device_work=_scope(data.device_work, user, g),
            stage_changes=_scope(data.stage_changes, user, g),
            **base,
        )
    if user.role == "physician":
        return digest_input.DigestInput(
            scope="Every clinic: what needs a physician",
            physician_pumps=data.physician_pumps,
            physician_requests=data.physician_requests,
            physician_work=data.physician_work,
            **base,
        )
    return digest_input.DigestInput(
        scope="Administration: e-mail delivery and the scheduler",
        dead_letters=data.dead_letters,
        scheduler=data.scheduler,
        **base,
    )


def _recipients(session: Session, user_ids: list[int] | None = None) -> list[User]:
    query = select(User).options(joinedload(User.location)).where(User.active.is_(True))
    if user_ids is not None:
        query = query.where(User.id.in_(user_ids))
    return list(session.scalars(query.order_by(User.id)))


def contents(
    session: Session, day: date, now: datetime, options: DigestOptions, user_ids: list[int] | None = None
) -> list[tuple[User, DigestEmail | None]]:
    """Each active recipient's e-mail for `day`, computed and not stored (preview, dry run, build); None for a
    recipient with nothing due when the clinic turned 'nothing due' e-mails off."""
    data = gather(session, day, now, options)
    digests = [
        (user, digest.build_digest(_input_for(user, day, data, options))) for user in _recipients(session, user_ids)
    ]
    return [(user, render(sections) if sections else None) for user, sections in digests]
