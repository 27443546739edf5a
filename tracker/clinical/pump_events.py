"""Device events the tracker must know about (domain.md 5 and 7): an MRI and catheter events. Pure: what an event
means for the pump (does it empty it, what work does it create, due when) and how open work is judged; the service
stores the answer and every screen reads it through the worklist's one judgement.

An MRI depends on the pump: a SynchroMed II's motor stops in the scanner and restarts afterwards (within 2-24 h),
so the pump is checked after the scan; a Prometra must be emptied before the scan, so it holds no drug until it is
refilled. The catalogue says which rule a model follows (PumpModel.mri_rule). Catheter events: a revision and a
suspected occlusion or kink (loss of effect with a normal residual: the drug may not be reaching the spine) need a
physician's review; an access-port aspiration and a dye study are kept on the timeline."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from tracker.clinical import refill_risk
from tracker.clinical.settings_spec import setting
from tracker.formats import fmt_date

MRI = "mri"
CATHETER_REVISION = "catheter_revision"
PORT_ASPIRATION = "port_aspiration"
DYE_STUDY = "dye_study"
SUSPECTED_OCCLUSION = "suspected_occlusion"
KINDS = {
    MRI: "MRI scan",
    CATHETER_REVISION: "Catheter revision",
    PORT_ASPIRATION: "Access-port aspiration",
    DYE_STUDY: "Dye study (catheter imaging)",
    SUSPECTED_OCCLUSION: "Suspected catheter occlusion or kink",
}

# What an MRI means for a pump model (the catalogue's PumpModel.mri_rule).
CHECK_AFTER = "check_after"
EMPTY_BEFORE = "empty_before"
MRI_RULES = {
    CHECK_AFTER: "The motor stops during the scan: check the pump afterwards (SynchroMed II)",
    EMPTY_BEFORE: "Emptied before the scan: holds no drug until refilled (Prometra)",
}

# The work an event creates, open until someone records it done.
PUMP_CHECK = "post_mri_check"
PHYSICIAN_REVIEW = "catheter_review"
# A device advisory's follow-up (tracker.clinical.advisory) is open work of the same kind: the patient must be
# reached; it joins every screen through the same judgement. Its "event" is the advisory.
ADVISORY_FOLLOW_UP = "advisory_follow_up"
ADVISORY = "advisory"
WORK_LABELS = {
    PUMP_CHECK: "Post-MRI pump check",
    PHYSICIAN_REVIEW: "Catheter event: physician review",
    ADVISORY_FOLLOW_UP: "Device advisory follow-up",
}
WORK_ADVICE = {
    PUMP_CHECK: "Interrogate the pump: its motor stops in the scanner and should restart within 2-24 h. Confirm it "
    "runs and its programme is intact; ask about returning spasticity or withdrawal signs.",
    PHYSICIAN_REVIEW: "A physician reviews the catheter: returning spasticity or withdrawal signs mean the drug may "
    "not be reaching the spine.",
    ADVISORY_FOLLOW_UP: "Reach the patient about the device advisory, do what it recommends, and record the "
    "follow-up on the advisory's page.",
}
# Who may record the work done: a physician's review only by a physician (tracker.policy names the permission).
DONE_BY_PHYSICIAN = frozenset({PHYSICIAN_REVIEW})
WORK_ORDER = (PUMP_CHECK, PHYSICIAN_REVIEW, ADVISORY_FOLLOW_UP)

# The stored schedule's binding rule while an emptied pump waits for its refill (refill.py's are alarm, stability).
EMPTIED = "emptied"


class UnknownMriRule(ValueError):
    """The pump's model does not say what an MRI means for it: the catalogue must, before an MRI is recorded."""


@dataclass(frozen=True)
class EventRules:
    """The clinic's settings: how many days after the event its work falls due (0: the same day)."""

    mri_check_days: int = setting("mri_pump_check_days")
    revision_review_days: int = setting("catheter_revision_review_days")
    occlusion_review_days: int = setting("catheter_occlusion_review_days")


@dataclass(frozen=True)
class Consequence:
    """What an event does: empties the pump (from the event on, until the next fill), and/or opens work."""

    empties_pump: bool = False
    work: str | None = None
    work_due_on: date | None = None


def consequence(kind: str, mri_rule: str | None, occurred_on: date, rules: EventRules) -> Consequence:
    """The one answer to "what must happen now?" for an event on `occurred_on` (clinic-local day)."""
    if kind not in KINDS:
        raise ValueError(f"Unknown event kind {kind!r}.")
    if kind == MRI:
        if mri_rule == EMPTY_BEFORE:
            return Consequence(empties_pump=True)  # the refill ends it: the refill-risk model shows it empty
        if mri_rule == CHECK_AFTER:
            return Consequence(work=PUMP_CHECK, work_due_on=occurred_on + timedelta(days=rules.mri_check_days))
        raise UnknownMriRule("The pump catalogue does not say what an MRI means for this model.")
    if kind == CATHETER_REVISION:
        return Consequence(work=PHYSICIAN_REVIEW, work_due_on=occurred_on + timedelta(days=rules.revision_review_days))
    if kind == SUSPECTED_OCCLUSION:
        return Consequence(work=PHYSICIAN_REVIEW, work_due_on=occurred_on + timedelta(days=rules.occlusion_review_days))
    return Consequence()  # aspiration, dye study: on the timeline only


@dataclass(frozen=True)
class OpenWork:
    """One event's work, not yet recorded done (an advisory follow-up: event_id is the follow-up's, kind ADVISORY,
    `about` the advisory's title)."""

    event_id: int
    pump_id: int
    work: str
    due_on: date
    kind: str  # the event's (KINDS), or ADVISORY
    occurred_at: datetime
    about: str = ""
    advisory_id: int | None = None

    def overdue(self, today: date) -> bool:
        """Due on `due_on` (0 days: the day of the event); overdue from the next day."""
        return today > self.due_on

    @property
    def label(self) -> str:
        return WORK_LABELS[self.work]

    @property
    def kind_label(self) -> str:
        return source_label(self.kind, self.about)

    @property
    def advice(self) -> str:
        return WORK_ADVICE[self.work]


def source_label(kind: str, about: str = "") -> str:
    """What opened the work, in words: the event's kind, or the advisory by its title."""
    return f"Advisory: {about}" if kind == ADVISORY else KINDS[kind]


def work_reasons(work: Iterable[OpenWork]) -> list[str]:
    """The worklist reasons open work gives a pump: each kind of work once, in WORK_ORDER."""
    kinds = {w.work for w in work}
    return [w for w in WORK_ORDER if w in kinds]


def work_urgency(work: Sequence[OpenWork], today: date) -> str | None:
    """Where open work ranks among the refill-risk urgencies: overdue work with an overdue refill, work not yet
    overdue with a refill due soon (both in front of staff, neither above an empty pump or one past its alarm)."""
    if not work:
        return None
    return refill_risk.OVERDUE if any(w.overdue(today) for w in work) else refill_risk.DUE_SOON


def emptied_since(fill_at: datetime, emptyings: Iterable[datetime]) -> datetime | None:
    """When the pump was last emptied after its last fill, or None: from then on it holds no drug, until the next
    fill. An emptying at the very moment of the fill counts as after it (the safe reading of a tie)."""
    return max((at for at in emptyings if at >= fill_at), default=None)


def emptied_explanation(emptied_on: date) -> str:
    """The stored schedule's sentence while the pump stays emptied."""
    return (
        f"Emptied before an MRI on {fmt_date(emptied_on)}: the pump holds no drug until it is "
        "refilled. Refill it as soon as the scan is over."
    )
