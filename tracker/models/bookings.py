"""Refill appointments (with their history) and contact attempts for the worklist."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.journey import Patient
from tracker.models.people import Location, User
from tracker.models.types import UTCDateTime, utcnow

OPEN = "booked"


class RefillAppointment(db.Model):
    """A booked refill. Rebooking or cancelling closes the row (status) and never deletes it;
    recording the refill visit completes it."""

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pump.id"))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"), index=True)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    status: Mapped[str] = mapped_column(String(12), default=OPEN)  # booked | rebooked | cancelled | completed
    late_reason: Mapped[str] = mapped_column(Text, default="")  # booked after the due date
    override_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # physician: after the alarm date
    booked_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    booked_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    close_reason: Mapped[str] = mapped_column(Text, default="")
    replaced_by_id: Mapped[int | None] = mapped_column(ForeignKey("refill_appointment.id"))
    refill_visit_id: Mapped[int | None] = mapped_column(ForeignKey("refill_visit.id"))
    version: Mapped[int] = mapped_column(default=1)

    patient: Mapped[Patient] = relationship()
    location: Mapped[Location] = relationship()
    clinician: Mapped[User] = relationship(foreign_keys=[clinician_id])
    booked_by: Mapped[User] = relationship(foreign_keys=[booked_by_id])

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_refill_appointment_open", "status", "patient_id"),
        # At most one open booking per pump: of two people booking at the same moment, the database refuses one.
        Index(
            "uq_refill_appointment_open_pump",
            "pump_id",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
    )


class ContactAttempt(db.Model):
    """A call, message or letter to get a patient booked: when, how, outcome, who."""

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[str] = mapped_column(String(12))  # phone | sms | letter | email | in_person
    outcome: Mapped[str] = mapped_column(String(20))  # reached | voicemail | no_answer | wrong_number | declined
    notes: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))

    by: Mapped[User] = relationship()
