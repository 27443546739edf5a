"""What an import compares a file with (issue #9): the names a file may use, and the patients already here with
their pump, last fill, dose in force and open booking, each loaded for thousands of MRNs in a few queries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone_name
from tracker.clinical.import_cells import Catalogue, DrugInfo, LocationInfo, PumpModelInfo
from tracker.clinical.import_checks import RefillChecks
from tracker.models import (
    DoseChange,
    DrugConcentration,
    Location,
    Patient,
    Pump,
    PumpModel,
    RefillAppointment,
    RefillVisit,
    StageEvent,
    User,
)
from tracker.models.bookings import OPEN
from tracker.services.settings import all_settings

CHUNK = 500  # MRNs per lookup query


def load_catalogue(session: Session) -> Catalogue:
    """Every name a file may use, in four queries."""
    settings = all_settings(session)
    return Catalogue(
        locations={
            loc.name.casefold(): LocationInfo(loc.id, loc.kind, loc.active) for loc in session.scalars(select(Location))
        },
        nurses={
            email.casefold(): user_id
            for user_id, email in session.execute(
                select(User.id, User.email).where(User.role == "nurse", User.active.is_(True))
            )
        },
        pump_models={
            m.name.casefold(): PumpModelInfo(
                m.id, m.name, m.reservoir_ml, m.default_alarm_ml, m.battery_life_months, m.active, m.accuracy_fraction
            )
            for m in session.scalars(select(PumpModel))
        },
        drugs={
            d.concentration_mcg_per_ml: DrugInfo(d.stability_days, d.trial_only, d.active)
            for d in session.scalars(select(DrugConcentration))
        },
        buffer_days=settings["safety_buffer_days"],
        high_risk_buffer_days=settings["high_risk_buffer_days"],
        tz=clinic_zone_name(),
        checks=RefillChecks.from_settings(settings),
    )


# What is in the database already ----------------------------------------------------------------------------


@dataclass
class Existing:
    """A patient already in the app, with what an update compares against."""

    patient: Patient
    last_event_on: date
    pump: Pump | None = None
    last_fill: RefillVisit | None = None
    dose: DoseChange | None = None
    appointment: RefillAppointment | None = None


def _latest(model, partition, order):
    """The newest row per `partition` that stands (not voided), as a subquery of ids (a window function: one
    query for many)."""
    ranked = (
        select(model.id, func.row_number().over(partition_by=partition, order_by=order).label("n"))
        .where(model.voided_at.is_(None))
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.n == 1)


def load_existing(session: Session, keys: list[str]) -> dict[str, Existing]:
    """The patients whose MRN keys appear in the file, with their pump, last fill, dose and open booking."""
    found: dict[str, Existing] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        patients = list(session.scalars(select(Patient).where(Patient.mrn_key.in_(chunk))))
        if not patients:
            continue
        ids = [p.id for p in patients]
        last_events = dict(
            session.execute(
                select(StageEvent.patient_id, func.max(StageEvent.effective_date))
                .where(StageEvent.patient_id.in_(ids), StageEvent.voided_at.is_(None))
                .group_by(StageEvent.patient_id)
            ).all()
        )
        by_id = {p.id: Existing(p, last_events.get(p.id, p.stage_since)) for p in patients}
        pumps = list(
            session.scalars(select(Pump).where(Pump.patient_id.in_(ids), Pump.explanted_on.is_(None)).order_by(Pump.id))
        )
        for pump in pumps:  # the newest pump in use wins, as current_pump() decides
            by_id[pump.patient_id].pump = pump
        pump_ids = [e.pump.id for e in by_id.values() if e.pump]
        if pump_ids:
            owner = {e.pump.id: e for e in by_id.values() if e.pump}
            fills = _latest(RefillVisit, RefillVisit.pump_id, (RefillVisit.visit_at.desc(), RefillVisit.id.desc()))
            for visit in session.scalars(
                select(RefillVisit).where(RefillVisit.pump_id.in_(pump_ids), RefillVisit.id.in_(fills))
            ):
                owner[visit.pump_id].last_fill = visit
            doses = _latest(DoseChange, DoseChange.pump_id, (DoseChange.effective_at.desc(), DoseChange.id.desc()))
            for dose in session.scalars(
                select(DoseChange).where(DoseChange.pump_id.in_(pump_ids), DoseChange.id.in_(doses))
            ):
                owner[dose.pump_id].dose = dose
        for appointment in session.scalars(
            select(RefillAppointment).where(RefillAppointment.patient_id.in_(ids), RefillAppointment.status == OPEN)
        ):
            by_id[appointment.patient_id].appointment = appointment
        found.update({e.patient.mrn_key: e for e in by_id.values()})
    return found
