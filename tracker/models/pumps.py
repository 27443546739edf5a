"""Pumps, the drug and pump catalogues, the dose ledger, refill visits, device events, and each pump's stored refill
schedule."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, ForeignKey, ForeignKeyConstraint, Index, Numeric, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from tracker.extensions import db
from tracker.models.journey import Patient
from tracker.models.people import Location, User
from tracker.models.types import UTCDateTime, Voidable, utcnow

ML = Numeric(7, 3)
MCG = Numeric(9, 2)


class PumpModel(db.Model):
    """Catalogue entry, clinic-editable: reservoir, default alarm volume, battery life, accuracy."""

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    reservoir_ml: Mapped[Decimal] = mapped_column(ML)
    default_alarm_ml: Mapped[Decimal] = mapped_column(ML)
    battery_life_months: Mapped[int | None]  # None: no battery-driven pump (Prometra)
    accuracy_fraction: Mapped[Decimal] = mapped_column(Numeric(5, 4))
    eri_to_stop_days: Mapped[int | None]  # after the elective replacement indicator the pump stops within this
    # What an MRI means for it (tracker.clinical.pump_events.MRI_RULES); None: not said, so no MRI can be recorded.
    mri_rule: Mapped[str | None] = mapped_column(String(16))
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class DrugConcentration(db.Model):
    """Catalogue entry, clinic-editable: a baclofen concentration and how long it stays stable in the pump."""

    id: Mapped[int] = mapped_column(primary_key=True)
    concentration_mcg_per_ml: Mapped[int] = mapped_column(unique=True)
    stability_days: Mapped[int]
    trial_only: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class Pump(db.Model):
    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    model_id: Mapped[int] = mapped_column(ForeignKey("pump_model.id"))
    serial: Mapped[str] = mapped_column(String(40))
    reservoir_ml: Mapped[Decimal] = mapped_column(ML)
    implanted_on: Mapped[date]
    surgery_centre_id: Mapped[int] = mapped_column(ForeignKey("location.id"))
    catheter_tip_level: Mapped[str] = mapped_column(String(10))
    alarm_volume_ml: Mapped[Decimal] = mapped_column(ML)
    battery_replacement_due: Mapped[date | None] = mapped_column(index=True)  # the digest's battery section
    eri_on: Mapped[date | None]  # the elective replacement indicator showed (the pump stops within its window)
    explanted_on: Mapped[date | None]
    version: Mapped[int] = mapped_column(default=1)

    model: Mapped[PumpModel] = relationship()
    patient: Mapped[Patient] = relationship()
    surgery_centre: Mapped[Location] = relationship()

    __mapper_args__ = {"version_id_col": version}


class DoseChange(Voidable, db.Model):
    """The dose ledger: append-only; the programme in force is the latest effective entry not voided."""

    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pump.id"), index=True)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime)
    mode: Mapped[str] = mapped_column(String(10))  # simple | flex
    daily_dose_mcg: Mapped[Decimal] = mapped_column(MCG)  # resulting programmed dose per day
    # {"default": [["00:00", "12.5"], ...], "by_weekday": {"5": [...]}}
    flex_schedule: Mapped[dict | None] = mapped_column(JSON)
    bolus_dose_mcg: Mapped[Decimal] = mapped_column(MCG, default=0)
    max_boluses_per_day: Mapped[int] = mapped_column(default=0)
    reason: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    signed_off_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # physician, above the titration limit
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    void_reason: Mapped[str | None] = mapped_column(Text)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("dose_change.id"))  # the entry this one replaces

    pump: Mapped[Pump] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    signed_off_by: Mapped[User | None] = relationship(foreign_keys=[signed_off_by_id])
    voided_by: Mapped[User | None] = relationship(foreign_keys=[voided_by_id])


class RefillVisit(Voidable, db.Model):
    """A refill (or the fill at implantation): what was found, what went in, what it now holds. A voided visit
    no longer counts anywhere (projection, worklist, digest, dashboard, import); it stays for the record."""

    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pump.id"), index=True)
    visit_at: Mapped[datetime] = mapped_column(UTCDateTime)
    clinician_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    at_implant: Mapped[bool] = mapped_column(default=False)
    expected_residual_ml: Mapped[Decimal | None] = mapped_column(ML)
    actual_residual_ml: Mapped[Decimal | None] = mapped_column(ML)
    concentration_mcg_per_ml: Mapped[int]
    lot: Mapped[str] = mapped_column(String(40), default="")
    volume_added_ml: Mapped[Decimal] = mapped_column(ML)
    resulting_volume_ml: Mapped[Decimal] = mapped_column(ML)
    bridge_bolus_mcg: Mapped[Decimal | None] = mapped_column(MCG)
    # At a concentration change: the bolus programmed above, or here why none was (clinical.refill.bridge_bolus_answer).
    bridge_bolus_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    ashworth: Mapped[str | None] = mapped_column(String(2))
    penn_frequency: Mapped[int | None]
    complications: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    warnings: Mapped[list | None] = mapped_column(JSON)  # what the preview showed
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))  # high-severity warnings
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)  # the digest's day
    # The stored due date the worklist showed just before this refill (the quality dashboard's on-time test);
    # None for the fill at implantation and for refills recorded before this column existed.
    due_date_in_force: Mapped[date | None]
    voided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    voided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    void_reason: Mapped[str | None] = mapped_column(Text)
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("refill_visit.id"))  # the visit this one replaces

    pump: Mapped[Pump] = relationship()
    clinician: Mapped[User] = relationship(foreign_keys=[clinician_id])
    voided_by: Mapped[User | None] = relationship(foreign_keys=[voided_by_id])


class RefillSchedule(db.Model):
    """The stored projection for a pump that holds drug: one row per pump, rewritten on every change
    that touches it (fill, dose change, settings), so pages and e-mails read the same date."""

    pump_id: Mapped[int] = mapped_column(ForeignKey("pump.id"), primary_key=True)
    patient_id: Mapped[int] = mapped_column(index=True)
    # The patient's home clinic, kept here so a clinic's calendar and worklist read one index range of its own
    # refills rather than every clinic's. The foreign key (patient_id, location_id) -> patient (id, location_id),
    # ON UPDATE CASCADE, makes the database keep it equal to the patient's: a wrong value is refused, a move
    # between clinics carries the schedule along.
    location_id: Mapped[int]
    fill_at: Mapped[datetime] = mapped_column(UTCDateTime)
    volume_after_fill_ml: Mapped[Decimal] = mapped_column(ML)
    daily_volume_ml: Mapped[Decimal] = mapped_column(Numeric(9, 4))
    due_date: Mapped[date] = mapped_column(index=True)
    alarm_date: Mapped[date | None]
    empty_date: Mapped[date | None]
    stability_date: Mapped[date]
    binding_rule: Mapped[str] = mapped_column(String(10))
    explanation: Mapped[str] = mapped_column(Text)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    patient: Mapped[Patient] = relationship(foreign_keys=[patient_id])
    pump: Mapped[Pump] = relationship()

    __table_args__ = (
        ForeignKeyConstraint(
            ["patient_id", "location_id"],
            ["patient.id", "patient.location_id"],
            name="fk_refill_schedule_patient_location",
            onupdate="CASCADE",
        ),
        Index("ix_refill_schedule_location_due", "location_id", "due_date"),
    )


class PumpCorrection(db.Model):
    """A corrected implant detail (serial, catheter tip, alarm volume, surgeon, surgery centre) or battery ERI date:
    the pump (or its implantation) holds the right value, this row the value it replaced, with who, when and why.
    Values are kept as text (ISO dates, decimal mL, the centre's name); None is "not recorded"."""

    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pump.id"), index=True)
    field: Mapped[str] = mapped_column(String(30))  # tracker.services.pump_corrections.FIELDS
    old_value: Mapped[str | None] = mapped_column(String(120))
    new_value: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str] = mapped_column(Text)
    corrected_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    corrected_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))

    corrected_by: Mapped[User] = relationship()


class PumpEvent(db.Model):
    """A device event on a pump in use (domain.md 7): an MRI or a catheter event. Never edited, except that the
    work it opened (tracker.clinical.pump_events) is recorded done once: when, by whom, what was found."""

    id: Mapped[int] = mapped_column(primary_key=True)
    pump_id: Mapped[int] = mapped_column(ForeignKey("pump.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patient.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # pump_events.KINDS
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notes: Mapped[str] = mapped_column(Text, default="")
    volume_removed_ml: Mapped[Decimal | None] = mapped_column(ML)  # drug emptied before an MRI, CSF aspirated
    # The pump holds no drug from occurred_at until its next fill (a Prometra emptied before an MRI).
    empties_pump: Mapped[bool] = mapped_column(default=False)
    work: Mapped[str | None] = mapped_column(String(24))  # pump_events.WORK_LABELS; None: timeline only
    work_due_on: Mapped[date | None]
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    done_by_id: Mapped[int | None] = mapped_column(ForeignKey("user.id"))
    done_note: Mapped[str] = mapped_column(Text, default="")
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    recorded_by_id: Mapped[int] = mapped_column(ForeignKey("user.id"))
    version: Mapped[int] = mapped_column(default=1)

    pump: Mapped[Pump] = relationship()
    recorded_by: Mapped[User] = relationship(foreign_keys=[recorded_by_id])
    done_by: Mapped[User | None] = relationship(foreign_keys=[done_by_id])

    __mapper_args__ = {"version_id_col": version}
    __table_args__ = (
        # The last emptying after a pump's last fill (tracker.services.refills.recompute_schedule).
        Index("ix_pump_event_pump_at", "pump_id", "occurred_at"),
        # Open work, read by every worklist, calendar and e-mail: a small partial index, written SQL so both
        # databases build it as one.
        Index(
            "ix_pump_event_open_work",
            "pump_id",
            sqlite_where=text("work IS NOT NULL AND done_at IS NULL"),
            postgresql_where=text("work IS NOT NULL AND done_at IS NULL"),
        ),
    )

    @property
    def open(self) -> bool:
        return self.work is not None and self.done_at is None
