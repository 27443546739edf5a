"""What FHIR needs of a set of patients, read in a fixed number of queries (eight, however long their history),
and built into resources by the pure builders in tracker/fhir."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical.search import mrn_key
from tracker.fhir import care, resources
from tracker.fhir.bundle import RESOURCE_TYPES
from tracker.models import (
    DoseChange,
    Implantation,
    Location,
    Patient,
    Pump,
    PumpModel,
    RefillAppointment,
    RefillVisit,
    StageEvent,
    TrialBolus,
)

BATCH = 500  # patients read at once by the bulk export


def _grouped(rows, key) -> dict[int, list]:
    out: dict[int, list] = defaultdict(list)
    for row in rows:
        out[key(row)].append(row)
    return out


def patient_resources(session: Session, patient_ids: list[int], mrn_system: str, identity: bool = True) -> dict:
    """{patient id: [resources]} for these patients (missing ids are left out), in RESOURCE_TYPES order."""
    patients = session.scalars(select(Patient).where(Patient.id.in_(patient_ids)).order_by(Patient.id)).all()
    events = _grouped(
        session.scalars(select(StageEvent).where(StageEvent.patient_id.in_(patient_ids))), lambda e: e.patient_id
    )
    boluses = _grouped(
        session.scalars(
            select(TrialBolus)
            .where(TrialBolus.patient_id.in_(patient_ids), TrialBolus.voided_at.is_(None))
            .order_by(TrialBolus.given_on, TrialBolus.id)
        ),
        lambda b: b.patient_id,
    )
    implants = _grouped(
        session.execute(
            select(Implantation, StageEvent.effective_date, Location.name)
            .join(StageEvent, StageEvent.id == Implantation.stage_event_id)
            .join(Location, Location.id == Implantation.surgery_centre_id)
            .where(Implantation.patient_id.in_(patient_ids), StageEvent.voided_at.is_(None))
            .order_by(StageEvent.effective_date, Implantation.id)
        ),
        lambda r: r[0].patient_id,
    )
    pumps = _grouped(
        session.execute(
            select(Pump, PumpModel.name)
            .join(PumpModel, PumpModel.id == Pump.model_id)
            .where(Pump.patient_id.in_(patient_ids))
            .order_by(Pump.implanted_on, Pump.id)
        ),
        lambda r: r[0].patient_id,
    )
    pump_ids = select(Pump.id).where(Pump.patient_id.in_(patient_ids))
    doses = _grouped(session.scalars(select(DoseChange).where(DoseChange.pump_id.in_(pump_ids))), lambda d: d.pump_id)
    visits = _grouped(
        session.scalars(
            select(RefillVisit)
            .where(RefillVisit.pump_id.in_(pump_ids), RefillVisit.voided_at.is_(None))
            .order_by(RefillVisit.visit_at, RefillVisit.id)
        ),
        lambda v: v.pump_id,
    )
    bookings = _grouped(
        session.execute(
            select(RefillAppointment, Location.name)
            .join(Location, Location.id == RefillAppointment.location_id)
            .where(RefillAppointment.patient_id.in_(patient_ids))
            .order_by(RefillAppointment.starts_at, RefillAppointment.id)
        ),
        lambda r: r[0].patient_id,
    )
    out = {}
    for patient in patients:
        made = [resources.patient(patient, mrn_system, identity), *resources.episodes(patient, events[patient.id])]
        own_pumps = pumps[patient.id]
        made += [resources.device(pump, model) for pump, model in own_pumps]
        for bolus in boluses[patient.id]:
            procedure, observations = care.trial_bolus(bolus)
            made += [procedure, *observations]
        placed = {pump.implanted_on: pump.id for pump, _ in own_pumps}
        made += [care.implantation(i, when, placed.get(when), centre) for i, when, centre in implants[patient.id]]
        for pump, _ in own_pumps:
            for visit in visits[pump.id]:
                procedure, observations = care.refill(visit, patient.id)
                made += [procedure, *observations]
            made += care.dose_history(pump, doses[pump.id], visits[pump.id], patient.id)
        made += [resources.appointment(booking, location) for booking, location in bookings[patient.id]]
        order = {name: n for n, name in enumerate(RESOURCE_TYPES)}
        out[patient.id] = sorted(made, key=lambda r: order[r.get_resource_type()])  # stable: dates kept in a type
    return out


def everything(session: Session, patient_id: int, mrn_system: str, identity: bool = True) -> list | None:
    """A patient's resources ($everything), or None when there is no such patient."""
    return patient_resources(session, [patient_id], mrn_system, identity).get(patient_id)


def patient_id_for_mrn(session: Session, mrn: str) -> int | None:
    """The patient with this MRN, however it is typed (case, spaces)."""
    return session.scalar(select(Patient.id).where(Patient.mrn_key == mrn_key(mrn)))


def all_resources(session: Session, mrn_system: str) -> Iterator:
    """Every patient's resources, BATCH patients at a time (the bulk export)."""
    ids = session.scalars(select(Patient.id).order_by(Patient.id)).all()
    for start in range(0, len(ids), BATCH):
        for made in patient_resources(session, ids[start : start + BATCH], mrn_system).values():
            yield from made


def patient_only(session: Session, patient_id: int, mrn_system: str):
    """The Patient resource alone (the API's read), in one query; None when there is no such patient."""
    row = session.get(Patient, patient_id)
    return resources.patient(row, mrn_system) if row is not None else None


def appointments_between(session: Session, start: datetime, end: datetime) -> list:
    """Every booking (history included: rebooked and cancelled ones are cancelled Appointments) starting in
    [start, end), in time order, in one query."""
    rows = session.execute(
        select(RefillAppointment, Location.name)
        .join(Location, Location.id == RefillAppointment.location_id)
        .where(RefillAppointment.starts_at >= start, RefillAppointment.starts_at < end)
        .order_by(RefillAppointment.starts_at, RefillAppointment.id)
    )
    return [resources.appointment(booking, location) for booking, location in rows]
