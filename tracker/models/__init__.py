"""SQLAlchemy models, a module per area. Import from here."""

from tracker.models.audit import AuditEvent
from tracker.models.bookings import ContactAttempt, RefillAppointment
from tracker.models.digest import DigestRun, OutboxMessage
from tracker.models.journey import Implantation, Patient, StageEvent, TrialBolus
from tracker.models.people import Location, User
from tracker.models.pumps import (
    DoseChange,
    DrugConcentration,
    Pump,
    PumpEvent,
    PumpModel,
    RefillSchedule,
    RefillVisit,
)
from tracker.models.requests import PhysicianRequest
from tracker.models.settings import Setting

__all__ = [
    "AuditEvent", "ContactAttempt", "DigestRun", "DoseChange", "DrugConcentration", "Implantation", "Location",
    "OutboxMessage", "Patient", "PhysicianRequest", "Pump", "PumpEvent", "PumpModel",
    "RefillAppointment", "RefillSchedule", "RefillVisit", "Setting", "StageEvent", "TrialBolus", "User",
]
