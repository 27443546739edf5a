"""Trial boluses: what the form warns about, the checks on a bolus's date and scores, and recording one."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical import trial
from tracker.clinical.journey import TRIAL
from tracker.clinical.scales import ASHWORTH, PENN_FREQUENCY, TRIAL_OUTCOMES, penn_is_consistent
from tracker.formats import fmt_date
from tracker.models import Patient, TrialBolus
from tracker.services import Actor, DomainError, use_case
from tracker.services.audit import record, snapshot
from tracker.services.patients import active_events, require_choices, require_permission
from tracker.services.settings import trial_rules

BOLUS_CHOICES = {
    "ashworth_before": ("the Ashworth score before", ASHWORTH),
    "ashworth_after": ("the Ashworth score after", ASHWORTH),
    "penn_frequency_before": ("the Penn frequency before", PENN_FREQUENCY),
    "penn_frequency_after": ("the Penn frequency after", PENN_FREQUENCY),
    "outcome": ("the outcome", TRIAL_OUTCOMES),
}


def trial_window(session: Session, patient_id: int, on: date) -> tuple[date, date | None]:
    """The trial a bolus given `on` belongs to: the day it began and the day the patient left it (None: still in
    it). Boluses are recorded only inside a trial (record_bolus)."""
    events = active_events(session, patient_id)
    began = max((i for i, e in enumerate(events) if e.to_stage == TRIAL and e.effective_date <= on), default=None)
    if began is None:
        raise DomainError("This bolus is not inside any trial on the journey.")
    after = events[began + 1 :]
    return events[began].effective_date, after[0].effective_date if after else None


def bolus_warnings(
    session: Session, patient_id: int, data: dict, replacing: TrialBolus | None = None
) -> list[trial.TrialWarning]:
    """What the bolus form warns about (concentration, dose, spacing, sequence); nothing is written. A correction
    (`replacing`) is judged against the other boluses of the original's trial, without the original."""
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise DomainError("No such patient.")
    # This trial's boluses that stand: none is recorded before the trial began (record_bolus).
    since, until = (
        (patient.stage_since, None) if replacing is None else trial_window(session, patient.id, replacing.given_on)
    )
    query = select(TrialBolus.given_on, TrialBolus.dose_mcg).where(
        TrialBolus.patient_id == patient.id, TrialBolus.given_on >= since, TrialBolus.voided_at.is_(None)
    )
    if until is not None:
        query = query.where(TrialBolus.given_on <= until)
    if replacing is not None:
        query = query.where(TrialBolus.id != replacing.id)
    others = session.execute(query).all()
    return trial.bolus_warnings(
        trial.Bolus(data["given_on"], data["dose_mcg"]),
        data["concentration_mcg_per_ml"],
        [trial.Bolus(given_on, dose) for given_on, dose in others],
        trial_rules(session),
    )


def check_bolus(data: dict, today: date, trial_began: date, trial_ended: date | None = None) -> None:
    """A bolus's date lies inside its trial and not in the future; scores and outcome are chosen, Penn consistent."""
    if data["given_on"] > today:
        raise DomainError("The bolus date cannot be in the future.", "given_on")
    if data["given_on"] < trial_began:
        raise DomainError(f"The bolus cannot be before the trial began ({fmt_date(trial_began)}).", "given_on")
    if trial_ended is not None and data["given_on"] > trial_ended:
        raise DomainError(f"The bolus cannot be after the trial ended ({fmt_date(trial_ended)}).", "given_on")
    require_choices(data, BOLUS_CHOICES)
    for when in ("before", "after"):
        if not penn_is_consistent(data[f"penn_frequency_{when}"], data.get(f"penn_severity_{when}")):
            raise DomainError(
                "Penn severity is recorded only when spasm frequency is above 0, and then it is required.",
                f"penn_severity_{when}",
            )


@use_case("trial bolus")
def record_bolus(
    session: Session, actor: Actor, patient_id: int, data: dict, today: date, acknowledged: Collection[str] = ()
) -> TrialBolus:
    """Save a trial bolus with its raw scores; each warning it raises must be among the `acknowledged` codes."""
    require_permission(actor, "bolus.record")
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise DomainError("No such patient.")
    if patient.status != "active" or patient.stage != TRIAL:
        raise DomainError("Trial boluses are recorded while the patient is in the trial stage.")
    check_bolus(data, today, patient.stage_since)
    warnings = bolus_warnings(session, patient.id, data)
    if any(w.code not in acknowledged for w in warnings):
        raise DomainError("Read the warnings above; tick the box to save this bolus anyway.", "acknowledge")
    bolus = TrialBolus(
        patient_id=patient.id, recorded_by_id=actor.user_id, warnings=[asdict(w) for w in warnings], **data
    )
    session.add(bolus)
    session.flush()
    record(session, actor, "create", "trial_bolus", bolus.id, patient.id, None, snapshot(bolus, [*data, "warnings"]))
    return bolus
