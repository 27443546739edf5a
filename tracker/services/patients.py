"""Patient records and their journey: create, edit, move stage, void a stage change (trial boluses:
tracker.services.trial_boluses)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import exists, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.clinical import journey
from tracker.clinical.journey import EVALUATION, EXITED, IMPLANTATION, TRIAL, JourneyError, Move
from tracker.clinical.scales import (
    DIAGNOSES,
    ORIGINS,
    SEXES,
)
from tracker.clinical.search import mrn_key
from tracker.models import Implantation, Location, Patient, Pump, StageEvent, TrialBolus, User
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, use_case
from tracker.services.audit import record, snapshot
from tracker.services.pumps import ImplantDetails, implant_pump
from tracker.services.refills import current_pump, recompute_schedule
from tracker.services.settings import get_setting

PATIENT_FIELDS = [
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "diagnosis",
    "spasticity_origin",
    "location_id",
    "nurse_id",
    "withdrawal_risk",
    "withdrawal_risk_reason",
    "phone",
]
STATE_FIELDS = ["stage", "stage_since", "status", "exit_reason", "journey_started", "version"]
# Nothing is pre-selected on the forms, so each of these must be chosen (the form says so first).
PATIENT_CHOICES = {
    "sex": ("the sex", SEXES),
    "diagnosis": ("the diagnosis", DIAGNOSES),
    "spasticity_origin": ("the spasticity origin", ORIGINS),
}


def require_permission(actor: Actor, permission: str) -> None:
    if not allowed(actor.role, permission):
        raise PermissionDenied("Your role may not do this.")


def require_choices(data: dict, choices: dict) -> None:
    for name, (what, allowed_values) in choices.items():
        if data.get(name) not in allowed_values:
            raise DomainError(f"Choose {what}.", name)


def _check_details(session: Session, data: dict, today: date, patient_id: int | None = None) -> None:
    require_choices(data, PATIENT_CHOICES)
    key = mrn_key(data["mrn"])
    if not key:
        raise DomainError("The MRN is required.", "mrn")
    if len(key) > 40:  # case-folding can lengthen it (ß -> ss)
        raise DomainError("The MRN is too long.", "mrn")
    clash = select(Patient.id).where(Patient.mrn_key == key)
    if patient_id is not None:
        clash = clash.where(Patient.id != patient_id)
    if session.scalar(clash) is not None:
        raise DomainError("Another patient already has this MRN.", "mrn")
    if data["date_of_birth"] > today:
        raise DomainError("The date of birth cannot be in the future.", "date_of_birth")
    location = session.get(Location, data["location_id"])
    if location is None or not location.active:
        raise DomainError("Choose an active location.", "location_id")
    if data.get("nurse_id") is not None:
        nurse = session.get(User, data["nurse_id"])
        if nurse is None or nurse.role != "nurse" or not nurse.active:
            raise DomainError("The primary nurse must be an active nurse.", "nurse_id")
    if data.get("withdrawal_risk") and not (data.get("withdrawal_risk_reason") or "").strip():
        raise DomainError("Say why the patient is at high withdrawal risk.", "withdrawal_risk_reason")


def _unique_mrn(session: Session, write) -> None:
    """Two people racing to the same MRN: the database's unique key decides, the loser gets the form's message
    (and the database's error, which quotes the MRN, goes nowhere: not to the log, not to the page)."""
    try:
        write()
    except IntegrityError:
        raise DomainError("Another patient already has this MRN.", "mrn") from None


@use_case("patient")
def create_patient(session: Session, actor: Actor, data: dict, referred_on: date, today: date) -> Patient:
    """A new referral: the patient starts in evaluation on the referral date."""
    require_permission(actor, "patient.edit")
    _check_details(session, data, today)
    if referred_on > today or referred_on < data["date_of_birth"]:
        raise DomainError("The referral date must be between birth and today.", "referred_on")
    details = {name: data.get(name) for name in PATIENT_FIELDS}
    details["mrn"] = details["mrn"].strip()
    patient = Patient(
        **details,
        mrn_key=mrn_key(data["mrn"]),
        stage=EVALUATION,
        stage_since=referred_on,
        journey_started=referred_on,
        status="active",
    )
    session.add(patient)
    _unique_mrn(session, session.flush)
    event = StageEvent(
        patient_id=patient.id,
        from_stage=None,
        to_stage=EVALUATION,
        effective_date=referred_on,
        reason="Referral",
        recorded_by_id=actor.user_id,
    )
    session.add(event)
    session.flush()
    record(
        session,
        actor,
        "create",
        "patient",
        patient.id,
        patient.id,
        after=snapshot(patient, PATIENT_FIELDS + STATE_FIELDS),
    )
    record(
        session,
        actor,
        "create",
        "stage_event",
        event.id,
        patient.id,
        after=snapshot(event, ["to_stage", "effective_date", "reason"]),
    )
    _unique_mrn(session, session.flush)
    return patient


def _load_for_change(session: Session, patient_id: int, expected_version: int) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise DomainError("No such patient.")
    if patient.version != expected_version:
        raise StaleEdit(
            "Someone else changed this patient after you opened the form. "
            "Their changes are shown below; nothing of yours was saved."
        )
    return patient


@use_case("patient")
def update_patient(
    session: Session, actor: Actor, patient_id: int, expected_version: int, data: dict, today: date
) -> Patient:
    require_permission(actor, "patient.edit")
    patient = _load_for_change(session, patient_id, expected_version)
    _check_details(session, data, today, patient_id)
    if data["date_of_birth"] > patient.journey_started:
        raise DomainError("The date of birth cannot be after the referral.", "date_of_birth")
    before = snapshot(patient, PATIENT_FIELDS)
    for name in PATIENT_FIELDS:
        setattr(patient, name, data.get(name))
    patient.mrn = patient.mrn.strip()
    patient.mrn_key = mrn_key(patient.mrn)
    after = snapshot(patient, PATIENT_FIELDS)
    changed = {k for k in after if after[k] != before[k]}
    if changed:
        record(
            session,
            actor,
            "update",
            "patient",
            patient.id,
            patient.id,
            {k: before[k] for k in changed},
            {k: after[k] for k in changed},
        )
    if "withdrawal_risk" in changed and (pump := current_pump(session, patient.id)) is not None:
        recompute_schedule(session, pump)  # the high-risk buffer moves the due date
    _unique_mrn(session, session.flush)
    return patient


def active_events(session: Session, patient_id: int) -> list[StageEvent]:
    return list(
        session.scalars(
            select(StageEvent)
            .where(StageEvent.patient_id == patient_id, StageEvent.voided_at.is_(None))
            .order_by(StageEvent.id)
        )
    )


def has_positive_trial(session: Session, patient: Patient) -> bool:
    """A positive bolus given in the current journey."""
    return session.scalar(
        select(
            exists().where(
                TrialBolus.patient_id == patient.id,
                TrialBolus.outcome == "positive",
                TrialBolus.voided_at.is_(None),
                TrialBolus.given_on >= patient.journey_started,
            )
        )
    )


@use_case("patient")
def move_stage(
    session: Session,
    actor: Actor,
    patient_id: int,
    expected_version: int,
    move_key: str,
    effective_date: date,
    reason: str,
    today: date,
    override_reason: str = "",
    surgery_centre_id: int | None = None,
    surgeon: str = "",
    implant: ImplantDetails | None = None,
) -> StageEvent:
    """Move the patient along the journey, or out of it, after the rules agree."""
    event = record_move(
        session,
        actor,
        patient_id,
        expected_version,
        move_key,
        effective_date,
        reason,
        today,
        override_reason,
        surgery_centre_id,
        surgeon,
        implant,
    )
    return event


def record_move(
    session: Session,
    actor: Actor,
    patient_id: int,
    expected_version: int,
    move_key: str,
    effective_date: date,
    reason: str,
    today: date,
    override_reason: str = "",
    surgery_centre_id: int | None = None,
    surgeon: str = "",
    implant: ImplantDetails | None = None,
) -> StageEvent:
    """Everything move_stage does, flushed but not committed: the caller commits, or rolls back after a trial run
    (a nurse's implantation sent for a physician's sign-off is first checked in full)."""
    require_permission(actor, "stage.move")
    patient = _load_for_change(session, patient_id, expected_version)
    move = Move.from_key(move_key)
    journey.check_move(patient.stage if patient.status == "active" else EXITED, move)
    events = active_events(session, patient.id)
    journey.check_effective_date(
        effective_date,
        today,
        events[-1].effective_date if events else None,
        patient.date_of_birth,
        reason,
        get_setting(session, "backdate_days_without_reason"),
    )
    override = False
    if patient.stage == TRIAL and move.to_stage == IMPLANTATION:
        positive = has_positive_trial(session, patient)
        if not positive and override_reason.strip() and not allowed(actor.role, "stage.override"):
            raise JourneyError("Only a physician may implant without a positive trial.", "override_reason")
        journey.check_implant_readiness(positive, override_reason.strip())
        override = not positive
    if move.to_stage == IMPLANTATION:
        centre = session.get(Location, surgery_centre_id) if surgery_centre_id else None
        if centre is None or centre.kind != "surgery_centre":
            raise DomainError("Choose the surgery centre where the pump was placed.", "surgery_centre_id")
        if not surgeon.strip():
            raise DomainError("Name the surgeon.", "surgeon")
        if implant is None:
            raise DomainError("Enter the pump, its first fill and the starting dose.", "model_id")

    before = snapshot(patient, STATE_FIELDS)
    from_stage = patient.stage if patient.status == "active" else EXITED
    full_reason = reason.strip()
    if override:
        full_reason = f"{full_reason}\nPhysician override: {override_reason.strip()}".strip()
    event = StageEvent(
        patient_id=patient.id,
        from_stage=from_stage,
        to_stage=move.to_stage,
        exit_reason=move.exit_reason,
        effective_date=effective_date,
        reason=full_reason,
        override=override,
        recorded_by_id=actor.user_id,
    )
    session.add(event)
    _apply(patient, event)
    session.flush()
    if move.to_stage == IMPLANTATION:
        session.add(
            Implantation(
                stage_event_id=event.id,
                patient_id=patient.id,
                surgery_centre_id=surgery_centre_id,
                surgeon=surgeon.strip(),
            )
        )
        implant_pump(session, actor, patient, effective_date, surgery_centre_id, implant)
    if move.exit_reason == "explanted":
        pump = current_pump(session, patient.id)
        if pump is not None:
            pump.explanted_on = effective_date
            recompute_schedule(session, pump)
    record(
        session,
        actor,
        "create",
        "stage_event",
        event.id,
        patient.id,
        None,
        snapshot(event, ["from_stage", "to_stage", "exit_reason", "effective_date", "reason", "override"]),
    )
    record(session, actor, "update", "patient", patient.id, patient.id, before, snapshot(patient, STATE_FIELDS))
    return event


def _apply(patient: Patient, event: StageEvent) -> None:
    """Set the patient's current state from the event that now stands last."""
    if event.to_stage == EXITED:
        patient.status, patient.exit_reason = "exited", event.exit_reason
        patient.stage = event.from_stage or EVALUATION  # the stage they left, for the record
    else:
        if event.from_stage in (EXITED, None):
            patient.journey_started = event.effective_date
        patient.status, patient.exit_reason, patient.stage = "active", None, event.to_stage
    patient.stage_since = event.effective_date


@use_case("patient")
def void_last_event(
    session: Session, actor: Actor, patient_id: int, expected_version: int, event_id: int, why: str, now
) -> None:
    """Void the latest stage change (a mistake); the patient returns to the state before it."""
    require_permission(actor, "stage.void")
    patient = _load_for_change(session, patient_id, expected_version)
    if not why.strip():
        raise DomainError("Say why this entry is being voided.", "why")
    events = active_events(session, patient.id)
    refusal = journey.void_refusal(events, event_id)
    if refusal:
        raise DomainError(refusal)
    event, previous = events[-1], events[-2]
    before = snapshot(patient, STATE_FIELDS)
    event.voided_at, event.voided_by_id, event.void_reason = now, actor.user_id, why.strip()
    _apply(patient, previous)
    if event.exit_reason == "explanted":
        _undo_explant(session, patient.id, event.effective_date)
    if previous.from_stage not in (EXITED, None):
        # Still inside the journey that `previous` belongs to: find where it began.
        starts = [e for e in events[:-1] if e.from_stage in (EXITED, None)]
        patient.journey_started = starts[-1].effective_date
    record(session, actor, "void", "stage_event", event.id, patient.id, None, {"void_reason": why.strip()})
    record(session, actor, "update", "patient", patient.id, patient.id, before, snapshot(patient, STATE_FIELDS))


def _undo_explant(session: Session, patient_id: int, explanted_on: date) -> None:
    """A voided explant: the pump is back in use and its refill date comes back with it."""
    pump = session.scalars(
        select(Pump)
        .where(Pump.patient_id == patient_id, Pump.explanted_on == explanted_on)
        .order_by(Pump.id.desc())
        .limit(1)
    ).first()
    if pump is not None:
        pump.explanted_on = None
        recompute_schedule(session, pump)
