"""Device advisories and recalls (issue 21): a field safety notice, what it affects, and the follow-up of every
affected pump. The match rules are tracker.clinical.advisory's."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.journey import Patient
from tracker.models.people import User
from tracker.models.pumps import Pump
from tracker.models.types import UTCDateTime, utcnow


class Advisory(db.Model):
    """A notice as the clinic entered it: the criteria are kept as typed (serials as pasted, lots as listed), so
    the advisory page shows what was asked and the match can be re-read. Open until closed; never deleted."""

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(200))  # the regulator's or manufacturer's notice
    issued_on: Mapped[date]
    model_ids: Mapped[list] = mapped_column(JSON, default=list)  # pump_model ids; empty: any model
    serials_text: Mapped[str] = mapped_column(Text, default="")  # serials and ranges, pasted and uploaded
    implanted_from: Mapped[date | None]
    implanted_to: Mapped[date | None]
    distributed_from: Mapped[date | None]
    distributed_to: Mapped[date | None]
    concentrations: Mapped[list] = mapped_column(JSON, default=list)  # mcg/mL; empty: any
    lots_text: Mapped[str] = mapped_column(Text, default="")  # refill-kit or drug lots
    recommended_action: Mapped[str] = mapped_column(Text)
    follow_up: Mapped[str] = mapped_column(String(24))  # clinical.advisory.FOLLOW_UP_KINDS
    call_days: Mapped[int | None]  # "call within N days"
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    close_note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(default=1)

    created_by: Mapped[User] = relationship(foreign_keys=[created_by_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])

    __mapper_args__ = {"version_id_col": version}

    @property
    def open(self) -> bool:
        return self.closed_at is None


class AdvisoryFollowUp(db.Model):
    """One affected pump's follow-up: who reached the patient, when, what was done. An explanted pump's row is for
    the record (status "explanted") and never open."""

    id: Mapped[int] = mapped_column(primary_key=True)
    advisory_id: Mapped[int] = mapped_column(ForeignKey("advisory.id"))
    pump_id: Mapped[int] = mapped_column(ForeignKey("pump.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))  # clinical.advisory.STATUSES
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    advisory: Mapped[Advisory] = relationship()
    pump: Mapped[Pump] = relationship()
    patient: Mapped[Patient] = relationship()
    status_by: Mapped[User | None] = relationship()

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        UniqueConstraint("advisory_id", "pump_id", name="uq_advisory_follow_up_pump"),
        # Open follow-ups, read by every worklist, calendar and e-mail with the device events' open work.
        Index(
            "ix_advisory_follow_up_open",
            "pump_id",
            sqlite_where=text("status = 'not_reached'"),
            postgresql_where=text("status = 'not_reached'"),
        ),
    )
