"""Asking a physician (domain.md 6: a booking after the alarm date, a dose above the titration limit and an implant
dose above the trial's guide need one, who must be told, not just allowed): ask, answer, withdraw. What waits for
a physician (the queue, the open requests) is read in tracker.services.physician_queue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone, local_date
from tracker.clinical.journey import IMPLANTATION, JourneyError
from tracker.formats import fmt_date, fmt_datetime
from tracker.models import Patient, PhysicianRequest
from tracker.models.requests import BOOKING_AFTER_ALARM, DOSE_SIGN_OFF, IMPLANT_SIGN_OFF, KINDS, OPEN
from tracker.policy import allowed
from tracker.services import Actor, DomainError, NeedsPhysician, PermissionDenied, StaleEdit, thrown_away, use_case
from tracker.services.audit import record, snapshot
from tracker.services.doses import change_dose
from tracker.services.patients import move_stage, record_move
from tracker.services.physician_queue import open_request
from tracker.services.pumps import ImplantDetails
from tracker.services.refills import Programme, current_pump, programmed_daily_dose

FIELDS = ["kind", "status", "note", "payload", "answered_by_id", "answered_at", "answer_note", "outcome"]
FORM_TIME = "%Y-%m-%dT%H:%M"  # a datetime-local form value: the clinic's wall clock


@dataclass(frozen=True)
class DoseProposal:
    """A dose sign-off request's payload, read back into what change_dose takes."""

    effective_at: datetime
    programme: Programme
    reason: str
    last_dose_id: int | None


def dose_payload(effective_at: datetime, programme: Programme, reason: str, last_dose_id: int | None) -> dict:
    """A validated dose form as JSON, under the form's own field names."""
    flex = (programme.flex_schedule or {}).get("default")
    return {
        "effective_at": effective_at.astimezone(clinic_zone()).strftime(FORM_TIME),
        "mode": "flex" if flex else "simple",
        "daily_dose_mcg": None if flex else str(programme.daily_dose_mcg),
        "flex_schedule": flex,
        "bolus_dose_mcg": str(programme.bolus_dose_mcg or 0),
        "max_boluses_per_day": programme.max_boluses_per_day or 0,
        "reason": reason.strip(),
        "last_dose_id": last_dose_id,
    }


def proposed_dose(payload: dict | None) -> DoseProposal:
    try:
        flex = payload["flex_schedule"]
        programme = Programme(
            Decimal(0) if flex else Decimal(payload["daily_dose_mcg"]),
            Decimal(payload["bolus_dose_mcg"]),
            int(payload["max_boluses_per_day"]),
            {"default": [list(step) for step in flex]} if flex else None,
        )
        effective_at = datetime.strptime(payload["effective_at"], FORM_TIME).replace(tzinfo=clinic_zone())
        last = payload.get("last_dose_id")
        return DoseProposal(effective_at, programme, str(payload["reason"]), int(last) if last else None)
    except (KeyError, TypeError, ValueError, InvalidOperation):
        raise DomainError("The proposed dose is incomplete; send it again from the dose form.") from None


@dataclass(frozen=True)
class ImplantProposal:
    """An implantation sent for sign-off: the move form's fields, read back into what move_stage takes."""

    patient_version: int  # the patient as the nurse saw them: a change meanwhile makes the approval stale
    implanted_on: date
    reason: str
    surgery_centre_id: int
    surgeon: str
    details: ImplantDetails


def implant_payload(p: ImplantProposal) -> dict:
    """A checked implantation as JSON, under the move form's own field names."""
    d = p.details
    return {
        "version": p.patient_version,
        "effective_date": p.implanted_on.isoformat(),
        "reason": p.reason.strip(),
        "surgery_centre_id": p.surgery_centre_id,
        "surgeon": p.surgeon.strip(),
        "model_id": d.model_id,
        "serial": d.serial.strip(),
        "catheter_tip_level": d.catheter_tip_level.strip(),
        "alarm_volume_ml": None if d.alarm_volume_ml is None else str(d.alarm_volume_ml),
        "fill_volume_ml": str(d.fill_volume_ml),
        "concentration_mcg_per_ml": d.concentration_mcg_per_ml,
        "daily_dose_mcg": str(d.programme.daily_dose_mcg),
    }


def proposed_implant(payload: dict | None) -> ImplantProposal:
    try:
        alarm = payload["alarm_volume_ml"]
        details = ImplantDetails(
            int(payload["model_id"]),
            str(payload["serial"]),
            str(payload["catheter_tip_level"]),
            Decimal(alarm) if alarm is not None else None,
            Decimal(payload["fill_volume_ml"]),
            int(payload["concentration_mcg_per_ml"]),
            Programme(Decimal(payload["daily_dose_mcg"])),
        )
        return ImplantProposal(
            int(payload["version"]),
            date.fromisoformat(payload["effective_date"]),
            str(payload["reason"]),
            int(payload["surgery_centre_id"]),
            str(payload["surgeon"]),
            details,
        )
    except (KeyError, TypeError, ValueError, InvalidOperation):
        raise DomainError("The proposed implantation is incomplete; send it again from the stage form.") from None


def _move_args(patient_id: int, p: ImplantProposal, reason: str) -> tuple:
    return (patient_id, p.patient_version, IMPLANTATION, p.implanted_on, reason)


def ask_implant_sign_off(
    session: Session, actor: Actor, patient_id: int, proposal: ImplantProposal, note: str, today: date, now: datetime
) -> PhysicianRequest:
    """Send an implantation whose starting dose is above its guide to the physicians. It is first run in full and
    rolled back, so only an entry that a physician's sign-off alone would let through is sent."""
    if not allowed(actor.role, "request.ask"):
        raise PermissionDenied("Your role answers requests; it does not send them.")
    try:
        with thrown_away(session):
            record_move(
                session,
                actor,
                *_move_args(patient_id, proposal, proposal.reason),
                today,
                surgery_centre_id=proposal.surgery_centre_id,
                surgeon=proposal.surgeon,
                implant=proposal.details,
            )
    except NeedsPhysician:
        pass
    else:
        raise DomainError("This starting dose is within its guide: record the implantation yourself.", "daily_dose_mcg")
    return ask_physician(session, actor, patient_id, IMPLANT_SIGN_OFF, note, implant_payload(proposal), now)


def _slot(payload: dict | None) -> dict | None:
    """The booking a coordinator tried, if any: its time (form value) and ids, nothing else."""
    if not payload:
        return None
    slot = {}
    try:
        if payload.get("starts_at"):
            slot["starts_at"] = datetime.strptime(payload["starts_at"], FORM_TIME).strftime(FORM_TIME)
        for name in ("location_id", "clinician_id"):
            if payload.get(name):
                slot[name] = int(payload[name])
    except (TypeError, ValueError):
        return None  # a garbled slot is dropped, not the request: the physician books on the form anyway
    return slot or None


@use_case("request")
def ask_physician(
    session: Session, actor: Actor, patient_id: int, kind: str, note: str, payload: dict | None, now: datetime
) -> PhysicianRequest:
    """Put a request in front of the physicians. One open request of a kind per patient (the database says so)."""
    if not allowed(actor.role, "request.ask"):
        raise PermissionDenied("Your role answers requests; it does not send them.")
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise DomainError("No such patient.")
    if kind not in KINDS:
        raise DomainError("Choose what the physician is asked for.", "kind")
    pump = current_pump(session, patient_id)
    if kind == DOSE_SIGN_OFF:
        if pump is None:
            raise DomainError("This patient has no pump in use.")
        proposed_dose(payload)
    elif kind == IMPLANT_SIGN_OFF:
        proposed_implant(payload)  # pump_id: the pump it replaces, if any
    else:
        payload = _slot(payload)
    request = PhysicianRequest(
        kind=kind,
        patient_id=patient_id,
        pump_id=pump.id if pump else None,
        requested_by_id=actor.user_id,
        requested_at=now,
        note=note.strip(),
        payload=payload,
    )
    session.add(request)
    try:
        session.flush()
    except IntegrityError:  # uq_physician_request_open: a second click, a second tab, a colleague
        raise DomainError(
            f"A request for {KINDS[kind].lower()} is already waiting for a physician for this "
            "patient; see it under Needs a physician."
        ) from None
    record(
        session,
        actor,
        "create",
        "physician_request",
        request.id,
        patient_id,
        None,
        snapshot(request, ["kind", "pump_id", "note", "payload"]),
    )
    return request


def _open(session: Session, request_id: int, expected_version: int) -> PhysicianRequest:
    request = session.get(PhysicianRequest, request_id)
    if request is None:
        raise DomainError("No such request.")
    if request.version != expected_version:
        raise StaleEdit("Someone else answered or changed this request meanwhile; nothing was saved.")
    if request.status != OPEN:
        raise DomainError("This request is no longer open.")
    return request


@use_case("request")
def answer(
    session: Session, actor: Actor, request_id: int, expected_version: int, approve: bool, note: str, now: datetime
) -> PhysicianRequest:
    """A physician's answer. Approving a dose sign-off records the dose, signed off by the physician, in the same
    transaction; approving a booking leaves the booking to the physician's override on the booking form."""
    if not allowed(actor.role, "request.answer"):
        raise PermissionDenied("Only a physician may answer.")
    request = _open(session, request_id, expected_version)
    if not approve and not note.strip():
        raise DomainError("Say why you decline, so the requester knows what to do instead.", "note")
    proposal = proposed_dose(request.payload) if approve and request.kind == DOSE_SIGN_OFF else None
    implant = proposed_implant(request.payload) if approve and request.kind == IMPLANT_SIGN_OFF else None
    before = snapshot(request, FIELDS)
    request.status = "approved" if approve else "declined"
    request.answered_by_id, request.answered_at, request.answer_note = actor.user_id, now, note.strip()
    if implant is not None:
        request.outcome = (
            f"Implantation recorded on {fmt_date(implant.implanted_on)}: starting dose "
            f"{implant.details.programme.daily_dose_mcg.normalize():f} mcg/day, signed off by the "
            "physician."
        )
    elif proposal is not None:
        request.outcome = (
            f"Dose change recorded: {programmed_daily_dose(proposal.programme)} mcg/day from "
            f"{fmt_datetime(proposal.effective_at)}, signed off by the physician."
        )
    elif approve:
        request.outcome = "Approved: the physician books the refill with an override."
    else:
        request.outcome = "Declined."
    session.flush()
    record(
        session, actor, "update", "physician_request", request.id, request.patient_id, before, snapshot(request, FIELDS)
    )
    if implant is not None:
        _record_implant(session, actor, request, implant, now)
        return request
    if proposal is None:
        return request
    try:  # change_dose audits the dose change; the answer is committed with it
        change_dose(
            session,
            actor,
            request.pump_id,
            proposal.effective_at,
            proposal.programme,
            proposal.reason or request.note,
            now,
            proposal.last_dose_id,
            acknowledged=True,
        )  # the physician approving has read the dose and its warnings
    except StaleEdit:
        raise StaleEdit(
            "A dose change was recorded after this request was sent; nothing was saved. Decline it "
            "and ask for a new request if a change is still needed."
        ) from None
    return request


def _record_implant(
    session: Session, actor: Actor, request: PhysicianRequest, implant: ImplantProposal, now: datetime
) -> None:
    """The approved implantation, entered by the physician (who thereby signs off its starting dose); move_stage
    audits it, and the answer is committed with it."""
    # The stage change needs a reason once back-dated; the approval days later is one.
    reason = (
        implant.reason
        or request.note
        or (
            f"Entered when a physician signed off the starting dose (asked "
            f"{fmt_date(local_date(request.requested_at))})."
        )
    )
    try:
        move_stage(
            session,
            actor,
            *_move_args(request.patient_id, implant, reason),
            local_date(now),
            surgery_centre_id=implant.surgery_centre_id,
            surgeon=implant.surgeon,
            implant=implant.details,
        )
    except StaleEdit:
        raise StaleEdit(
            "The patient's record changed after this request was sent; nothing was saved. Decline it "
            "and ask for a new request if the implantation is still to be recorded."
        ) from None
    except JourneyError as error:
        raise DomainError(f"{error.message} Nothing was saved; decline and say what to change.") from None


def settle_booking_request(session: Session, actor: Actor, patient_id: int, starts_at: datetime, now: datetime) -> None:
    """A physician who books with an override answers any open request to book after the alarm date, so the asker
    sees it and no request stays open once the slot is booked. Flushes: the booking's transaction commits it."""
    request = open_request(session, patient_id, BOOKING_AFTER_ALARM)
    if request is None:
        return
    before = snapshot(request, FIELDS)
    request.status, request.answered_by_id, request.answered_at = "approved", actor.user_id, now
    request.outcome = f"Booked for {fmt_datetime(starts_at)} with the physician's override."
    session.flush()
    record(session, actor, "update", "physician_request", request.id, patient_id, before, snapshot(request, FIELDS))


@use_case("request")
def withdraw(
    session: Session, actor: Actor, request_id: int, expected_version: int, note: str, now: datetime
) -> PhysicianRequest:
    """The requester's side no longer needs an answer (refilled meanwhile, booked earlier after all)."""
    if not allowed(actor.role, "request.ask"):
        raise PermissionDenied("Your role may not withdraw requests.")
    request = _open(session, request_id, expected_version)
    before = snapshot(request, FIELDS)
    request.status = "withdrawn"
    request.outcome = f"Withdrawn: {note.strip()}" if note.strip() else "Withdrawn."
    session.flush()
    record(
        session, actor, "update", "physician_request", request.id, request.patient_id, before, snapshot(request, FIELDS)
    )
    return request
