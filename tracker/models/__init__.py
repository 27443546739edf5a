"""SQLAlchemy models, a module per area. Import from here."""

from tracker.models.audit import AuditEvent
from tracker.models.journey import Implantation, Patient, StageEvent, TrialBolus
from tracker.models.people import Location, User
from tracker.models.pumps import DoseChange, DrugConcentration, Pump, PumpModel, RefillSchedule, RefillVisit
from tracker.models.settings import Setting

__all__ = [
    "AuditEvent", "DoseChange", "DrugConcentration", "Implantation", "Location", "Patient", "Pump", "PumpModel",
    "RefillSchedule", "RefillVisit", "Setting", "StageEvent", "TrialBolus", "User",
]
