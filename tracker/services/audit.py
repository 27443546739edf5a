"""Writing the audit trail. Rows are only ever added."""

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import String, cast, literal, select, union_all
from sqlalchemy.orm import Session

from tracker.models import AuditEvent, DrugConcentration, Location, Patient, Pump, PumpModel, User
from tracker.services import Actor

# What each kind of id in the trail is shown as (tracker.admin.audit_changes.NAMED_KINDS).
_NAME_COLUMNS = {
    "user": (User.id, User.full_name),
    "location": (Location.id, Location.name),
    "pump_model": (PumpModel.id, PumpModel.name),
    "pump": (Pump.id, Pump.serial),
    "drug_concentration": (DrugConcentration.id, cast(DrugConcentration.concentration_mcg_per_ml, String) + " mcg/mL"),
    "patient": (Patient.id, Patient.mrn),
}


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
            api_client_id=actor.api_client_id,
            client_address=actor.address,
            action=action,
            entity=entity,
            entity_id=entity_id,
            patient_id=patient_id,
            before=before,
            after=after,
        )
    )


def names_for(session: Session, ids: dict[str, set[int]]) -> dict[str, dict[int, str]]:
    """The names of these ids by kind ("user" -> {3: "Kim Nurse"}), in one query however many kinds and rows."""
    names: dict[str, dict[int, str]] = {kind: {} for kind in _NAME_COLUMNS}
    parts = [
        select(literal(kind).label("kind"), key.label("id"), name.label("name")).where(
            key.in_(sorted(ids.get(kind, ())))
        )
        for kind, (key, name) in _NAME_COLUMNS.items()
    ]
    for kind, key, name in session.execute(union_all(*parts)):
        names[kind][key] = name
    return names
