"""Patients and their journey: stage events (append-only), trial boluses, implantations."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, CheckConstraint, ForeignKey, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.clinical.journey import EVALUATION
from tracker.extensions import db
from tracker.models.people import Location, User
from tracker.models.types import UTCDateTime, Voidable, utcnow

# Exits after which the tracker still owes the patient refills (the pump is not known to be out or empty).
STILL_NEEDS_REFILLS = ("lost_to_follow_up",)


class Patient(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(40))
    # MRN trimmed and case-folded: " ab123 " and "AB123" are the same patient.
    mrn_key: Mapped[str] = mapped_column(String(40), unique=True)
    first_name: Mapped[str] = mapped_column(String(80))
    last_name: Mapped[str] = mapped_column(String(80))
    date_of_birth: Mapped[date]
    sex: Mapped[str] = mapped_column(String(10))
    diagnosis: Mapped[str] = mapped_column(String(10))
    spasticity_origin: Mapped[str] = mapped_column(String(10))
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    nurse_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"), index=True)
    withdrawal_risk: Mapped[bool] = mapped_column(default=False)
    withdrawal_risk_reason: Mapped[str] = mapped_column(String(300), default="")
    phone: Mapped[str] = mapped_column(String(40), default="")
    stage: Mapped[str] = mapped_column(String(20), default=EVALUATION)
    stage_since: Mapped[date]
    status: Mapped[str] = mapped_column(String(10), default="active")  # active | exited
    exit_reason: Mapped[str | None] = mapped_column(String(30))
    journey_started: Mapped[date]  # start of the current journey (re-referral starts a new one)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    version: Mapped[int] = mapped_column(default=1)

    location: Mapped[Location] = relationship()
    nurse: Mapped[User | None] = relationship()
    events: Mapped[list[StageEvent]] = relationship(
        back_populates="patient", order_by="StageEvent.id", lazy="raise_on_sql"
    )

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        Index("ix_patient_last_first", "last_name", "first_name"),
        # The patient list filtered by clinic or stage, in name order: the page is the first 50 rows of one index
        # range, not a sort of the whole clinic (SQLite, without statistics, would pick a plain location_id
        # index and sort: 9.9 -> 0.06 ms at 10k patients).
        Index("ix_patient_location_name", "location_id", "last_name", "first_name", "id"),
        Index("ix_patient_stage_name", "stage", "last_name", "first_name", "id"),
        # The stage board: each column's oldest-in-stage cards are the first rows of one index range, and the
        # counts per stage (by clinic too: location_id) read the index alone. status comes late: leading, it
        # would look selective to SQLite (no statistics) and pull unrelated queries off their better indexes.
        Index("ix_patient_board", "stage", "stage_since", "id", "status", "location_id"),
        # Counts of active patients by stage (board) and by clinic and stage (board, list): a range of this
        # small partial index. Queries must say status = 'active' as written SQL, not a parameter, for either
        # database to know the index applies (tracker.services.patient_queries.ACTIVE).
        Index(
            "ix_patient_active_stage",
            "location_id",
            "stage",
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        CheckConstraint("status in ('active', 'exited')", name="status"),
        # What refill_schedule's (patient_id, location_id) foreign key refers to (tracker.models.pumps).
        Index("uq_patient_id_location", "id", "location_id", unique=True),
    )

    @property
    def on_refill_list(self) -> bool:
        """Active, or lost to follow-up: a pump that still holds drug keeps its patient on the refill lists."""
        return self.status == "active" or self.exit_reason == "lost_to_follow_up"

    @property
    def display_name(self) -> str:
        return f"{self.last_name}, {self.first_name}"


class StageEvent(db.Model):
    """One stage change. Never edited or deleted: a mistake is voided with who, when and why."""

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    from_stage: Mapped[str | None] = mapped_column(String(20))  # None for the referral
    to_stage: Mapped[str] = mapped_column(String(20))  # a stage or "exited"
    exit_reason: Mapped[str | None] = mapped_column(String(30))
    effective_date: Mapped[date]
    reason: Mapped[str] = mapped_column(Text, default="")
    override: Mapped[bool] = mapped_column(default=False)  # physician override of the trial rule
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # the digest's day
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    void_reason: Mapped[str | None] = mapped_column(Text)

    patient: Mapped[Patient] = relationship(back_populates="events")
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    voided_by: Mapped[User | None] = relationship(foreign_keys=[voided_by_id])
    implantation: Mapped[Implantation | None] = relationship(back_populates="event")

    @property
    def voided(self) -> bool:
        return self.voided_at is not None


class TrialBolus(Voidable, db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    given_on: Mapped[date]
    dose_mcg: Mapped[int]
    concentration_mcg_per_ml: Mapped[int]
    ashworth_before: Mapped[str] = mapped_column(String(2))
    ashworth_after: Mapped[str] = mapped_column(String(2))
    penn_frequency_before: Mapped[int]
    penn_severity_before: Mapped[int | None]
    penn_frequency_after: Mapped[int]
    penn_severity_after: Mapped[int | None]
    hours_of_effect: Mapped[Decimal | None] = mapped_column(Numeric(4, 1))
    outcome: Mapped[str] = mapped_column(String(10))
    notes: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[list | None] = mapped_column(JSON)  # what the form showed and the nurse acknowledged
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    void_reason: Mapped[str | None] = mapped_column(Text)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("trial_bolus.id"))  # the bolus this one replaces

    patient: Mapped[Patient] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    voided_by: Mapped[User | None] = relationship(foreign_keys=[voided_by_id])


class Implantation(db.Model):
    """Where and by whom the pump was placed; the pump itself arrives with the refill engine."""

    id: Mapped[int] = mapped_column(primary_key=True)
    stage_event_id: Mapped[int] = mapped_column(ForeignKey("stage_event.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    surgery_centre_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    surgeon: Mapped[str] = mapped_column(String(120))

    event: Mapped[StageEvent] = relationship(back_populates="implantation")
    patient: Mapped[Patient] = relationship()
    surgery_centre: Mapped[Location] = relationship()
