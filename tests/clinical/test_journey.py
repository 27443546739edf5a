"""The journey rules: every (from, to) pair, allowed or refused, and the effective-date rules."""

from datetime import date, timedelta
from types import SimpleNamespace as Event

import pytest

from tracker.clinical import journey
from tracker.clinical.journey import (
    ADJUSTMENT,
    EVALUATION,
    EXIT_REASONS,
    EXITED,
    IMPLANTATION,
    STAGES,
    TRIAL,
    InvalidEffectiveDate,
    Move,
    PositiveTrialRequired,
    TransitionNotAllowed,
)

ALLOWED_STAGE_MOVES = {
    (EVALUATION, TRIAL),
    (TRIAL, IMPLANTATION),
    (TRIAL, EVALUATION),
    (IMPLANTATION, ADJUSTMENT),
    (ADJUSTMENT, IMPLANTATION),
    (EXITED, EVALUATION),
}
ALLOWED_EXITS = {
    EVALUATION: {"not_candidate", "declined", "transferred", "deceased", "lost_to_follow_up"},
    TRIAL: {"trial_failed", "declined", "transferred", "deceased", "lost_to_follow_up"},
    IMPLANTATION: {"explanted", "transferred", "deceased", "lost_to_follow_up"},
    ADJUSTMENT: {"explanted", "transferred", "deceased", "lost_to_follow_up"},
    EXITED: set(),
}
SOURCES = STAGES + (EXITED,)
TARGETS = [Move(s) for s in STAGES] + [Move(EXITED, r) for r in EXIT_REASONS]


@pytest.mark.parametrize("source", SOURCES)
@pytest.mark.parametrize("target", TARGETS, ids=lambda m: m.key)
def test_every_from_to_pair_is_allowed_or_refused_by_the_table(source, target):
    expected = (
        (source, target.to_stage) in ALLOWED_STAGE_MOVES
        if target.exit_reason is None
        else target.exit_reason in ALLOWED_EXITS[source]
    )
    if expected:
        journey.check_move(source, target)
        assert target in journey.allowed_moves(source)
    else:
        with pytest.raises(TransitionNotAllowed) as refused:
            journey.check_move(source, target)
        assert target not in journey.allowed_moves(source)
        # The message lists what is allowed, so the nurse knows what to do instead.
        for move in journey.allowed_moves(source):
            assert move.label in refused.value.message


def test_a_move_to_the_same_stage_is_refused():
    for stage in STAGES:
        with pytest.raises(TransitionNotAllowed):
            journey.check_move(stage, Move(stage))


def test_unknown_targets_are_refused_with_a_readable_message():
    with pytest.raises(TransitionNotAllowed, match="'titration'"):
        journey.check_move(EVALUATION, Move("titration"))
    with pytest.raises(TransitionNotAllowed):
        journey.check_move(EVALUATION, Move.from_key("exit:abducted"))


def test_move_keys_round_trip():
    for move in TARGETS:
        assert Move.from_key(move.key) == move


def test_implant_needs_a_positive_trial_or_an_override_reason():
    journey.check_implant_readiness(True, None)
    journey.check_implant_readiness(False, "Equivocal trial, clear functional goals; discussed with family")
    with pytest.raises(PositiveTrialRequired):
        journey.check_implant_readiness(False, None)
    with pytest.raises(PositiveTrialRequired):
        journey.check_implant_readiness(False, "")


TODAY = date(2026, 11, 24)


@pytest.mark.parametrize(
    "effective, previous, birth, reason, field",
    [
        (TODAY + timedelta(days=1), None, None, "", "effective_date"),  # future
        (date(1999, 12, 31), None, date(2000, 1, 1), "x", "effective_date"),  # before birth
        (TODAY - timedelta(days=5), TODAY - timedelta(days=2), None, "x", "effective_date"),  # before previous
        (TODAY - timedelta(days=2), None, None, "", "reason"),  # back-dated, no reason
        (TODAY - timedelta(days=2), None, None, "   ", "reason"),
    ],
)
def test_effective_date_is_refused(effective, previous, birth, reason, field):
    with pytest.raises(InvalidEffectiveDate) as refused:
        journey.check_effective_date(effective, TODAY, previous, birth, reason, backdate_days_without_reason=1)
    assert refused.value.field == field


@pytest.mark.parametrize(
    "effective, reason",
    [
        (TODAY, ""),
        (TODAY - timedelta(days=1), ""),  # within the one-day default
        (TODAY - timedelta(days=30), "Paper record entered late"),
    ],
)
def test_effective_date_is_accepted(effective, reason):
    journey.check_effective_date(effective, TODAY, TODAY - timedelta(days=40), date(1960, 1, 1), reason, 1)


def test_same_day_as_previous_event_is_allowed():
    journey.check_effective_date(TODAY, TODAY, TODAY, None, "", 1)


def test_days_in_stage_counts_from_the_effective_date():
    assert journey.days_in_stage(date(2026, 11, 1), TODAY) == 23


def test_only_the_latest_stage_change_may_be_voided_never_the_referral_nor_an_implantation():
    referral, trial, implant = (
        Event(id=1, to_stage="evaluation"),
        Event(id=2, to_stage="trial"),
        Event(id=3, to_stage="implantation"),
    )
    assert journey.void_refusal([referral, trial], 2) is None
    assert journey.voidable_event_id([referral, trial]) == 2
    assert "latest" in journey.void_refusal([referral, trial], 1)  # not the latest
    assert journey.void_refusal([referral], 1) and journey.voidable_event_id([referral]) is None  # the referral
    assert "implantation" in journey.void_refusal([referral, trial, implant], 3)
    assert journey.voidable_event_id([referral, trial, implant]) is None
    assert journey.voidable_event_id([]) is None
