"""Writing the audit trail. Rows are only ever added."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from tracker.models import AuditEvent
from tracker.services import Actor


def snapshot(obj, fields: list[str]) -> dict:
    """JSON-safe copy of the named attributes, for before/after values."""
    out = {}
    for name in fields:
        value = getattr(obj, name)
        if isinstance(value, (date, datetime)):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return out


def record(
    session: Session,
    actor: Actor,
    action: str,
    entity: str,
    entity_id: int | None,
    patient_id: int | None,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    session.add(
        AuditEvent(
            user_id=actor.user_id,
            client_address=actor.address,
            action=action,
            entity=entity,
            entity_id=entity_id,
            patient_id=patient_id,
            before=before,
            after=after,
        )
    )
