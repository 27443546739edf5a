"""What the daily reminder e-mail is built from (tracker.clinical.digest words it): plain data, gathered and
scoped to one recipient by tracker.services.digest.

Minimum necessary (domain.md, privacy): the inputs identify a patient by MRN and a link into the app, never by
name, birth date or diagnosis: PatientRef holds an MRN and a URL, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime


@dataclass(frozen=True)
class PatientRef:
    mrn: str
    url: str


@dataclass(frozen=True)
class RefillItem:
    """A pump needing action as the refill-risk model judged it (refill_risk.assess): its urgency is its section."""

    patient: PatientRef
    location: str
    urgency: str  # refill_risk.URGENCIES
    status: str  # refill_risk.STATUSES
    booking: str  # the open booking's verdict (refill_risk.NOT_BOOKED, AFTER_DUE ...)
    due_date: date
    alarm_date: date | None = None  # None: beyond the projection
    empty_date: date | None = None
    booked_on: date | None = None  # the open booking's clinic-local day


@dataclass(frozen=True)
class WorkItem:
    """Open work (pump_events: a post-MRI pump check, a catheter review, a device advisory's follow-up), as the
    worklist has it."""

    patient: PatientRef
    location: str
    work: str  # pump_events.WORK_LABELS
    due_on: date
    kind: str  # the event's, pump_events.KINDS, or pump_events.ADVISORY
    occurred_on: date
    about: str = ""  # an advisory's title


@dataclass(frozen=True)
class WarningItem:
    patient: PatientRef
    code: str  # residual_discrepancy | pocket_fill
    message: str
    visit_date: date


@dataclass(frozen=True)
class BatteryItem:
    patient: PatientRef
    location: str
    verdict: str  # refill_risk.battery_verdict: BATTERY_ERI, BATTERY_PAST_DUE or BATTERY_DUE_SOON
    replacement_due: date | None
    eri_on: date | None = None
    eri_to_stop_days: int | None = None  # the pump model's window from ERI to the pump stopping


@dataclass(frozen=True)
class StageChangeItem:
    patient: PatientRef
    from_stage: str | None
    to_stage: str
    effective_date: date
    exit_reason: str | None = None


@dataclass(frozen=True)
class PhysicianRequestItem:
    """An open request only a physician can answer (a booking after the alarm date, a dose sign-off)."""

    patient: PatientRef
    kind: str  # in words
    asked_by: str  # the staff member's name
    asked_at: datetime  # clinic-local (the request's note stays in the app: free text may hold a name)


@dataclass(frozen=True)
class DeadLetter:
    digest_day: date
    to_address: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class SchedulerHealth:
    state: str  # how the scheduler looked to the builder: running | off | cli
    last_completed_day: date | None
    missed_days: tuple[date, ...] = ()  # recent days with no completed digest
    unsent: int = 0  # messages of earlier days still waiting to be sent
    late_days: tuple[date, ...] = ()  # recent days whose digest was built only after the day had ended


@dataclass
class DigestInput:
    """Everything one recipient's e-mail says, already scoped to that recipient."""

    day: date
    role: str
    scope: str  # "Your patients", "Kennesaw Clinic", "All locations"
    home_url: str
    refills: Sequence[RefillItem] = ()  # pumps needing action, each in the section of its urgency
    warnings: Sequence[WarningItem] = ()
    battery: Sequence[BatteryItem] = ()
    device_work: Sequence[WorkItem] = ()  # open post-MRI checks and catheter reviews
    stage_changes: Sequence[StageChangeItem] = ()
    physician_pumps: Sequence[RefillItem] = ()  # every pump past its alarm date or empty, every clinic
    physician_work: Sequence[WorkItem] = ()  # open catheter reviews (only a physician records them), every clinic
    physician_requests: Sequence[PhysicianRequestItem] = ()  # open requests, oldest first
    dead_letters: Sequence[DeadLetter] = ()
    scheduler: SchedulerHealth | None = None
    due_soon_days: int = 14  # the clinic's one "due soon" window (setting due_soon_days)
    battery_months: int = 6
    nothing_due_email: bool = True
