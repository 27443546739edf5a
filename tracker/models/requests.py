"""Requests to a physician: a booking after the alarm date, a dose increase beyond the titration limit, an
implant's starting dose above its guide."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.journey import Patient
from tracker.models.people import User
from tracker.models.types import UTCDateTime, utcnow

BOOKING_AFTER_ALARM = "booking_after_alarm"
DOSE_SIGN_OFF = "dose_sign_off"
IMPLANT_SIGN_OFF = "implant_sign_off"  # a starting dose above its guide (the trial's, or the old pump's)
KINDS = {
    BOOKING_AFTER_ALARM: "Booking after the alarm date",
    DOSE_SIGN_OFF: "Dose sign-off",
    IMPLANT_SIGN_OFF: "Implant starting dose sign-off",
}
OPEN = "open"
STATUSES = {OPEN: "Waiting for a physician", "approved": "Approved", "declined": "Declined", "withdrawn": "Withdrawn"}


class PhysicianRequest(db.Model):
    """A nurse's or coordinator's request that only a physician can grant, and the physician's answer.
    Never deleted: answering or withdrawing closes it (status)."""

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))  # KINDS
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    pump_id: Mapped[int | None] = mapped_column(ForeignKey("pump.id"))
    requested_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"), index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
    # Dose sign-off: the dose form's fields, validated (tracker.services.escalation.proposed_dose reads them).
    # Implant sign-off: the move form's implantation fields, checked in full (escalation.proposed_implant).
    # Booking: the slot the requester tried, if any.
    payload: Mapped[dict | None] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(12), default=OPEN)  # STATUSES
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answer_note: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str] = mapped_column(Text, default="")  # what the answer did, in words
    version: Mapped[int] = mapped_column(default=1)

    patient: Mapped[Patient] = relationship()
    requested_by: Mapped[User] = relationship(foreign_keys=[requested_by_id])
    answered_by: Mapped[User | None] = relationship(foreign_keys=[answered_by_id])

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # One open request of a kind per patient: a second click or a second tab is refused by the database.
        # The status is written SQL so both databases build it as a partial index.
        Index(
            "uq_physician_request_open",
            "patient_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
        # The queue: open requests, oldest first.
        Index("ix_physician_request_status_at", "status", "requested_at"),
    )

    @property
    def kind_label(self) -> str:
        return KINDS[self.kind]

    @property
    def status_label(self) -> str:
        return STATUSES[self.status]
