"""SQLAlchemy models, a module per area. Import from here."""

from tracker.models.audit import AuditEvent
from tracker.models.journey import Implantation, Patient, StageEvent, TrialBolus
from tracker.models.people import Location, User
from tracker.models.settings import Setting

__all__ = ["AuditEvent", "Implantation", "Location", "Patient", "Setting", "StageEvent", "TrialBolus", "User"]
