"""Read-side queries for the patient pages: each page loads in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select, union_all
from sqlalchemy.orm import Session, joinedload, selectinload

from tracker.clinical.journey import STAGES
from tracker.models import DrugConcentration, Implantation, Location, Patient, PumpModel, StageEvent, TrialBolus, User

SORTS = {
    "name": (Patient.last_name, Patient.first_name, Patient.id),
    "mrn": (Patient.mrn_key,),
    "stage": (Patient.stage, Patient.stage_since, Patient.id),
    "days": (Patient.stage_since, Patient.id),  # longest in stage first
}


@dataclass
class PatientFilters:
    q: str = ""
    stage: str = ""
    location_id: int | None = None
    nurse_id: int | None = None
    risk: bool = False
    status: str = "active"
    sort: str = "name"


def _matching(f: PatientFilters) -> list:
    """The WHERE clauses of the list's filters."""
    where = []
    if f.q:
        # % and _ typed by a user are letters to find, not wildcards.
        typed = f.q.strip().casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        term = f"%{typed}%"
        where.append(or_(
            Patient.mrn_key.like(term, escape="\\"),
            func.lower(Patient.last_name).like(term, escape="\\"),
            func.lower(Patient.first_name).like(term, escape="\\"),
            func.lower(Patient.first_name + " " + Patient.last_name).like(term, escape="\\"),
        ))
    if f.stage in STAGES:
        where.append(Patient.stage == f.stage)
    if f.status in ("active", "exited"):
        where.append(Patient.status == f.status)
    if f.location_id:
        where.append(Patient.location_id == f.location_id)
    if f.nurse_id:
        where.append(Patient.nurse_id == f.nurse_id)
    if f.risk:
        where.append(Patient.withdrawal_risk.is_(True))
    return where


def patient_list_query(f: PatientFilters) -> Select:
    return (select(Patient).options(joinedload(Patient.location), joinedload(Patient.nurse))
            .where(*_matching(f)).order_by(*SORTS.get(f.sort, SORTS["name"])))


def patient_count_query(f: PatientFilters) -> Select:
    """The list's total from the patient table alone (the page query's eager joins would cost a lookup a row)."""
    return select(func.count()).select_from(Patient).where(*_matching(f))


def board(session: Session, location_id: int | None, per_column: int) -> tuple[dict, dict]:
    """Active patients per stage, oldest in stage first, capped per column, with full counts."""
    counts_q = select(Patient.stage, func.count()).where(Patient.status == "active").group_by(Patient.stage)
    if location_id:
        counts_q = counts_q.where(Patient.location_id == location_id)
    counts = dict.fromkeys(STAGES, 0) | dict(session.execute(counts_q).all())
    # One query for all four columns: per stage, the first `per_column` rows of ix_patient_board (status, stage,
    # stage_since, id), so the cards cost the same however many patients wait in a stage.
    firsts = []
    for stage in STAGES:
        first = select(Patient.id).where(Patient.status == "active", Patient.stage == stage)
        if location_id:
            first = first.where(Patient.location_id == location_id)
        first = first.order_by(Patient.stage_since, Patient.id).limit(per_column).subquery()
        firsts.append(select(first.c.id))
    cards = session.scalars(
        select(Patient).where(Patient.id.in_(union_all(*firsts)))
        .options(joinedload(Patient.location), joinedload(Patient.nurse))
        .order_by(Patient.stage_since, Patient.id)
    ).all()
    columns = {stage: [p for p in cards if p.stage == stage] for stage in STAGES}
    return columns, counts


def patient_page(session: Session, patient_id: int) -> dict | None:
    patient = session.scalar(
        select(Patient).where(Patient.id == patient_id)
        .options(joinedload(Patient.location), joinedload(Patient.nurse))
    )
    if patient is None:
        return None
    events = session.scalars(
        select(StageEvent).where(StageEvent.patient_id == patient_id)
        .order_by(StageEvent.effective_date, StageEvent.id)
        .options(joinedload(StageEvent.recorded_by), joinedload(StageEvent.voided_by),
                 selectinload(StageEvent.implantation).joinedload(Implantation.surgery_centre))
    ).all()
    boluses = session.scalars(
        select(TrialBolus).where(TrialBolus.patient_id == patient_id)
        .order_by(TrialBolus.given_on, TrialBolus.id).options(joinedload(TrialBolus.recorded_by))
    ).all()
    return {"patient": patient, "events": events, "boluses": boluses}


def location_choices(session: Session, kind: str | None = None) -> list[tuple[int, str]]:
    query = select(Location.id, Location.name).where(Location.active.is_(True)).order_by(Location.name)
    if kind:
        query = query.where(Location.kind == kind)
    return [(i, n) for i, n in session.execute(query).all()]


def nurse_choices(session: Session) -> list[tuple[int, str]]:
    query = select(User.id, User.full_name).where(User.role == "nurse", User.active.is_(True))
    return [(i, n) for i, n in session.execute(query.order_by(User.full_name)).all()]


def pump_model_choices(session: Session) -> list[tuple[int, str]]:
    query = select(PumpModel.id, PumpModel.name).where(PumpModel.active.is_(True)).order_by(PumpModel.name)
    return [(i, n) for i, n in session.execute(query).all()]


def concentration_choices(session: Session, include_trial: bool = False) -> list[tuple[int, str]]:
    query = select(DrugConcentration.concentration_mcg_per_ml).where(DrugConcentration.active.is_(True))
    if not include_trial:
        query = query.where(DrugConcentration.trial_only.is_(False))
    return [(c, f"{c} mcg/mL") for c in session.scalars(query.order_by(DrugConcentration.concentration_mcg_per_ml))]
