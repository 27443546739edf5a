"""SQLAlchemy models, a module per area. Import from here."""

from tracker.models.advisories import Advisory, AdvisoryFollowUp
from tracker.models.api import ApiClient
from tracker.models.audit import AuditEvent
from tracker.models.bookings import ContactAttempt, RefillAppointment
from tracker.models.digest import DigestRun, OutboxMessage
from tracker.models.journey import Implantation, Patient, StageEvent, TrialBolus
from tracker.models.people import Location, User, UserSession
from tracker.models.pumps import (
    DoseChange,
    DrugConcentration,
    Pump,
    PumpCorrection,
    PumpEvent,
    PumpModel,
    RefillSchedule,
    RefillVisit,
)
from tracker.models.requests import PhysicianRequest
from tracker.models.settings import Setting
from tracker.models.submissions import FormSubmission

__all__ = [
    "Advisory",
    "AdvisoryFollowUp",
    "ApiClient",
    "AuditEvent",
    "ContactAttempt",
    "DigestRun",
    "DoseChange",
    "DrugConcentration",
    "FormSubmission",
    "Implantation",
    "Location",
    "OutboxMessage",
    "Patient",
    "PhysicianRequest",
    "Pump",
    "PumpCorrection",
    "PumpEvent",
    "PumpModel",
    "RefillAppointment",
    "RefillSchedule",
    "RefillVisit",
    "Setting",
    "StageEvent",
    "TrialBolus",
    "User",
    "UserSession",
]
