"""The patient's journey: evaluation -> trial -> implantation -> adjustment.

One table of allowed moves decides every stage change; pages, services and tests ask it.
Pure Python: no Flask, no database.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Protocol

from tracker.clinical.errors import DomainError
from tracker.formats import fmt_date, plural

EVALUATION = "evaluation"
TRIAL = "trial"
IMPLANTATION = "implantation"
ADJUSTMENT = "adjustment"
EXITED = "exited"

STAGES = (EVALUATION, TRIAL, IMPLANTATION, ADJUSTMENT)
STAGE_LABELS = {
    EVALUATION: "Evaluation",
    TRIAL: "Trial",
    IMPLANTATION: "Implantation",
    ADJUSTMENT: "Adjustment",
    EXITED: "Exited",
}

# Stage-to-stage moves. (adjustment -> implantation is a pump replacement.)
MOVES: dict[str, tuple[str, ...]] = {
    EVALUATION: (TRIAL,),
    TRIAL: (IMPLANTATION, EVALUATION),
    IMPLANTATION: (ADJUSTMENT,),
    ADJUSTMENT: (IMPLANTATION,),
    EXITED: (EVALUATION,),  # re-referral starts a new journey; the old history stays
}

# Exit reasons and the stages each may leave from.
EXIT_REASONS: dict[str, tuple[str, tuple[str, ...]]] = {
    "not_candidate": ("Not a candidate", (EVALUATION,)),
    "trial_failed": ("Trial failed", (TRIAL,)),
    "declined": ("Patient declined", (EVALUATION, TRIAL)),
    "explanted": ("Pump explanted", (IMPLANTATION, ADJUSTMENT)),
    "transferred": ("Transferred out", STAGES),
    "deceased": ("Deceased", STAGES),
    "lost_to_follow_up": ("Lost to follow-up", STAGES),
}


class JourneyError(DomainError):
    """A stage change the rules refuse; `field` names the form field to blame."""


class TransitionNotAllowed(JourneyError):
    pass


class PositiveTrialRequired(JourneyError):
    pass


class InvalidEffectiveDate(JourneyError):
    pass


@dataclass(frozen=True)
class Move:
    """A target the patient can move to: a stage, or an exit with its reason."""

    to_stage: str
    exit_reason: str | None = None

    @property
    def key(self) -> str:
        return f"exit:{self.exit_reason}" if self.exit_reason else self.to_stage

    @property
    def label(self) -> str:
        if self.exit_reason:
            return f"Exit: {EXIT_REASONS[self.exit_reason][0]}"
        return STAGE_LABELS[self.to_stage]

    @classmethod
    def from_key(cls, key: str) -> Move:
        if key.startswith("exit:"):
            return cls(EXITED, key.removeprefix("exit:"))
        return cls(key)


class StageChange(Protocol):
    """What the void rule reads of a stage event (tracker.models.StageEvent has it)."""

    id: int
    to_stage: str


def allowed_moves(stage: str) -> list[Move]:
    """Every move the rules allow from `stage`, stage moves first, then exits."""
    moves = [Move(to) for to in MOVES.get(stage, ())]
    moves += [Move(EXITED, reason) for reason, (_, sources) in EXIT_REASONS.items() if stage in sources]
    return moves


def check_move(stage: str, move: Move) -> None:
    """Raise TransitionNotAllowed, listing the allowed moves, unless `move` is allowed."""
    if move not in allowed_moves(stage):
        allowed = ", ".join(m.label for m in allowed_moves(stage)) or "none"
        raise TransitionNotAllowed(
            f"A patient in {STAGE_LABELS.get(stage, stage)} cannot move to {_describe(move)}. Allowed: {allowed}.",
            field="move",
        )


def void_refusal(active_events: Sequence[StageChange], event_id: int) -> str | None:
    """Why the stage change `event_id` may not be voided (None: it may). `active_events` are the patient's unvoided
    stage changes, oldest first. Only the latest may be voided, never the referral (the first), and never an
    implantation: its pump's refills hang on it."""
    if len(active_events) < 2 or active_events[-1].id != event_id:
        return "Only the latest stage change can be voided, and never the referral."
    if active_events[-1].to_stage == IMPLANTATION:
        return (
            "An implantation with its pump cannot be voided here: the pump's refills hang on it. "
            "Record an exit (explanted) if the pump came out, or ask an administrator."
        )
    return None


def voidable_event_id(active_events: Sequence[StageChange]) -> int | None:
    """The one stage change the patient page offers to void, if any (void_refusal decides)."""
    if active_events and void_refusal(active_events, active_events[-1].id) is None:
        return active_events[-1].id
    return None


def _describe(move: Move) -> str:
    known = move.exit_reason in EXIT_REASONS if move.exit_reason else move.to_stage in STAGE_LABELS
    return move.label if known else repr(move.key)


def check_implant_readiness(has_positive_trial: bool, override_reason: str | None) -> None:
    """Trial -> implantation needs a positive trial bolus, or a physician override with a reason."""
    if has_positive_trial:
        return
    if not override_reason:
        raise PositiveTrialRequired(
            "No positive trial bolus is recorded in this journey. Record one, or a physician may "
            "override with a reason.",
            field="override_reason",
        )


def check_effective_date(
    effective: date,
    today: date,
    previous: date | None,
    birth: date | None,
    reason: str | None,
    backdate_days_without_reason: int,
) -> None:
    """The effective date is not in the future, not before the previous event or birth;
    back-dating beyond the clinic's limit needs a reason."""
    if effective > today:
        raise InvalidEffectiveDate("The effective date cannot be in the future.", "effective_date")
    if birth and effective < birth:
        raise InvalidEffectiveDate("The effective date cannot be before the patient's birth.", "effective_date")
    if previous and effective < previous:
        raise InvalidEffectiveDate(
            f"The effective date cannot be before the previous stage change ({fmt_date(previous)}).",
            "effective_date",
        )
    if (today - effective).days > backdate_days_without_reason and not (reason or "").strip():
        raise InvalidEffectiveDate(
            f"Dates more than {plural(backdate_days_without_reason, 'day')} back need a reason.", "reason"
        )


def days_in_stage(stage_since: date, today: date) -> int:
    """Whole days since the stage's effective date."""
    return (today - stage_since).days
