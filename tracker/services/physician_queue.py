"""What waits for a physician: the queue, the open requests, and a patient's or a user's requests with their
answers (asking and answering: tracker.services.escalation).

The queue is the open requests plus every pump past its alarm date or projected empty, as the refill-risk model
judges it (tracker.services.worklist.refill_facts), and every catheter event waiting for a physician's review: this
module never decides urgency itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, joinedload

from tracker.clinical import pump_events, refill_risk
from tracker.models import PhysicianRequest
from tracker.models.requests import OPEN
from tracker.services.worklist import RefillFact, refill_facts

IN_FRONT_OF_PHYSICIANS = frozenset({refill_risk.PAST_ALARM, refill_risk.EMPTY})  # domain.md 6


@dataclass
class QueueItem:
    """One line of the physicians' queue: a request (with its pump's judgement when that pump is past its alarm
    date or empty), or such a pump that nobody has asked about."""

    request: PhysicianRequest | None
    fact: RefillFact | None

    @property
    def patient_id(self) -> int:
        return self.request.patient_id if self.request else self.fact.patient_id


def physician_queue(session: Session, today: date, now: datetime, windows: refill_risk.Windows) -> list[QueueItem]:
    """Open requests, oldest first, then every pump past its alarm date or projected empty, or whose catheter
    event waits for a physician's review (pump_events.DONE_BY_PHYSICIAN), most urgent first."""
    requests = open_physician_requests(session)
    urgent = {
        fact.patient_id: fact
        for fact in refill_facts(session, today, now, windows, needing_action=True)
        if fact.judgement.risk.status in IN_FRONT_OF_PHYSICIANS
        or any(w.work in pump_events.DONE_BY_PHYSICIAN for w in fact.judgement.work)
    }
    items = [QueueItem(r, urgent.get(r.patient_id)) for r in requests]
    asked = {r.patient_id for r in requests}
    return items + [QueueItem(None, fact) for fact in urgent.values() if fact.patient_id not in asked]


def open_physician_requests(session: Session) -> list[PhysicianRequest]:
    """Every open request, oldest first, with its patient and who asked (the queue and the physicians' e-mail)."""
    return list(
        session.scalars(
            select(PhysicianRequest)
            .where(PhysicianRequest.status == OPEN)
            .options(joinedload(PhysicianRequest.patient), joinedload(PhysicianRequest.requested_by))
            .order_by(PhysicianRequest.requested_at, PhysicianRequest.id)
        )
    )


def open_request(session: Session, patient_id: int, kind: str) -> PhysicianRequest | None:
    return session.scalars(
        select(PhysicianRequest).where(
            PhysicianRequest.patient_id == patient_id, PhysicianRequest.kind == kind, PhysicianRequest.status == OPEN
        )
    ).first()


def requests_for_patient(session: Session, patient_id: int, limit: int = 10) -> list[PhysicianRequest]:
    """The patient's recent requests with their answers, newest first (the patient page)."""
    return list(
        session.scalars(
            select(PhysicianRequest)
            .where(PhysicianRequest.patient_id == patient_id)
            .options(joinedload(PhysicianRequest.requested_by), joinedload(PhysicianRequest.answered_by))
            .order_by(PhysicianRequest.requested_at.desc(), PhysicianRequest.id.desc())
            .limit(limit)
        )
    )


def my_requests(session: Session, user_id: int, limit: int = 20) -> list[PhysicianRequest]:
    """What this user asked, newest first, with the answers."""
    return list(
        session.scalars(
            select(PhysicianRequest)
            .where(PhysicianRequest.requested_by_id == user_id)
            .options(joinedload(PhysicianRequest.patient), joinedload(PhysicianRequest.answered_by))
            .order_by(PhysicianRequest.requested_at.desc(), PhysicianRequest.id.desc())
            .limit(limit)
        )
    )


def requests_to_follow(
    session: Session, user_id: int, answered_since: datetime, limit: int = 20
) -> list[PhysicianRequest]:
    """What this user asked that is still open or was answered since `answered_since`, newest first, with the
    answers (the home page; a withdrawn request is the asker's own doing and is not followed)."""
    return list(
        session.scalars(
            select(PhysicianRequest)
            .where(
                PhysicianRequest.requested_by_id == user_id,
                or_(PhysicianRequest.status == OPEN, PhysicianRequest.answered_at >= answered_since),
            )
            .options(joinedload(PhysicianRequest.patient), joinedload(PhysicianRequest.answered_by))
            .order_by(PhysicianRequest.requested_at.desc(), PhysicianRequest.id.desc())
            .limit(limit)
        )
    )
