"""Deterministic demo data across the clinic's five sites and every stage."""

from __future__ import annotations

import random
from datetime import date, timedelta

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical.journey import ADJUSTMENT, EVALUATION, EXITED, IMPLANTATION, TRIAL
from tracker.clinical.scales import DIAGNOSES
from tracker.clinical.search import mrn_key
from tracker.demo_pumps import SEED_SETTINGS, demo_pump, demo_refills, maybe_book
from tracker.models import (
    DrugConcentration,
    Implantation,
    Location,
    Patient,
    PumpModel,
    StageEvent,
    TrialBolus,
    User,
)
from tracker.services.accounts import hash_password
from tracker.services.pumps import ensure_catalogues
from tracker.services.refills import drug_catalogue, recompute_schedule

SITES = [  # name, kind, address, phone, 24-hour phone
    (
        "Snellville Surgery Center",
        "surgery_centre",
        "2160 Fountain Dr, Snellville, GA 30078",
        "(770) 555-0110",
        "(770) 555-0119",
    ),
    (
        "Marietta Surgery Center",
        "surgery_centre",
        "790 Church St, Marietta, GA 30060",
        "(770) 555-0120",
        "(770) 555-0129",
    ),
    ("Kennesaw Clinic", "clinic", "3000 Chastain Meadows Pkwy, Kennesaw, GA 30144", "(770) 555-0130", "(770) 555-0139"),
    ("Snellville Clinic", "clinic", "1700 Tree Ln, Snellville, GA 30078", "(770) 555-0140", "(770) 555-0149"),
    ("Buckhead Clinic", "clinic", "3400 Peachtree Rd NE, Atlanta, GA 30326", "(404) 555-0150", "(404) 555-0159"),
]
STAFF = [("nurse", 6), ("coordinator", 2), ("physician", 2)]
# Share of patients per current state: most programmes are mostly in long-term adjustment.
STATE_WEIGHTS = {EVALUATION: 18, TRIAL: 10, IMPLANTATION: 7, ADJUSTMENT: 55, EXITED: 10}
ORIGIN_OF = {"ms": "spinal", "sci": "spinal", "cp": "cerebral", "stroke": "cerebral", "tbi": "cerebral"}


def ensure_sites(session: Session) -> list[Location]:
    existing = {loc.name: loc for loc in session.scalars(select(Location))}
    for name, kind, address, phone, emergency_phone in SITES:
        if name not in existing:
            existing[name] = Location(
                name=name, kind=kind, address=address, phone=phone, emergency_phone=emergency_phone, active=True
            )
            session.add(existing[name])
    session.flush()
    return list(existing.values())


def ensure_staff(session: Session, password: str, clinics: list[Location], fake: Faker) -> dict[str, list[User]]:
    staff: dict[str, list[User]] = {}
    password_hash = hash_password(password)
    for role, count in STAFF:
        for n in range(1, count + 1):
            email = f"{role}{n}@demo.example"
            user = session.scalar(select(User).where(User.email == email))
            if user is None:
                user = User(
                    email=email,
                    full_name=fake.name(),
                    role=role,
                    password_hash=password_hash,
                    location_id=clinics[(n - 1) % len(clinics)].id,
                )
                session.add(user)
            staff.setdefault(role, []).append(user)
    session.flush()
    return staff


def seed_demo(session: Session, patients: int, seed: int, today: date, staff_password: str) -> int:
    """Add `patients` demo patients with realistic histories; the same seed gives the same data."""
    rng = random.Random(seed)  # nosec B311
    # A stream of its own for the refill findings, so drawing them does not shift every later draw of `rng`.
    findings = random.Random(f"findings-{seed}")  # nosec B311
    fake = Faker("en_US")
    fake.seed_instance(seed)
    sites = ensure_sites(session)
    clinics = [s for s in sites if s.kind == "clinic"]
    centres = [s for s in sites if s.kind == "surgery_centre"]
    staff = ensure_staff(session, staff_password, clinics, fake)
    ensure_catalogues(session)
    models = list(session.scalars(select(PumpModel).order_by(PumpModel.id)))
    drugs = drug_catalogue(session)
    nurses, physicians = staff["nurse"], staff["physician"]
    taken = set(session.scalars(select(Patient.mrn_key)))
    created = 0
    while created < patients:
        mrn = f"MRN{rng.randrange(10**6, 10**7)}"
        if mrn_key(mrn) in taken:
            continue
        taken.add(mrn_key(mrn))
        # The first few cover every state, so even a small demo shows the whole journey.
        first = list(STATE_WEIGHTS)[created] if created < len(STATE_WEIGHTS) else None
        _one_patient(
            session, rng, fake, mrn, today, clinics, centres, nurses, physicians, models, first, findings, drugs
        )
        created += 1
        if created % 500 == 0:
            session.flush()
    session.commit()
    return created


def journey_shape(rng: random.Random, state: str, today: date) -> tuple[list[str], dict[str, int], date]:
    """A seeded patient's stages so far, days spent in each, and the referral date that fits (demo and bench)."""
    path = {
        EVALUATION: [EVALUATION],
        TRIAL: [EVALUATION, TRIAL],
        IMPLANTATION: [EVALUATION, TRIAL, IMPLANTATION],
        ADJUSTMENT: [EVALUATION, TRIAL, IMPLANTATION, ADJUSTMENT],
    }.get(state, None)
    if path is None:  # exited: from some stage
        path = rng.choice([[EVALUATION], [EVALUATION, TRIAL], [EVALUATION, TRIAL, IMPLANTATION, ADJUSTMENT]])
    spans = {
        EVALUATION: rng.randint(7, 60),
        TRIAL: rng.randint(3, 40),
        IMPLANTATION: rng.randint(1, 21),
        ADJUSTMENT: rng.randint(20, 2900),
    }
    total = sum(spans[s] for s in path)
    start = today - timedelta(days=total + (rng.randint(1, 200) if state == EXITED else 0))
    return path, spans, start


def _one_patient(
    session,
    rng,
    fake,
    mrn,
    today,
    clinics,
    centres,
    nurses,
    physicians,
    models,
    state: str | None,
    findings: random.Random,
    drugs: dict[int, DrugConcentration],
) -> None:
    state = state or rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()))[0]
    diagnosis = rng.choice(list(DIAGNOSES))
    origin = ORIGIN_OF.get(diagnosis, rng.choice(["spinal", "cerebral"]))
    sex = rng.choice(["female", "male"])
    first = fake.first_name_female() if sex == "female" else fake.first_name_male()
    nurse = rng.choice(nurses)
    clinic = rng.choice(clinics)
    path, spans, start = journey_shape(rng, state, today)
    birth = start - timedelta(days=rng.randint(8 * 365, 80 * 365))
    risk = diagnosis == "sci" and rng.random() < 0.5
    patient = Patient(
        mrn=mrn,
        mrn_key=mrn_key(mrn),
        first_name=first,
        last_name=fake.last_name(),
        date_of_birth=birth,
        sex=sex,
        diagnosis=diagnosis,
        spasticity_origin=origin,
        location=clinic,
        nurse=nurse,
        withdrawal_risk=risk,
        withdrawal_risk_reason="Cervical SCI above T6" if risk else "",
        phone=fake.numerify("(###) ###-####"),
        stage=EVALUATION,
        stage_since=start,
        journey_started=start,
        status="active",
    )
    session.add(patient)
    # Each event is added as it is made so ids follow the order of the journey, as in real use.
    events = [
        StageEvent(
            patient=patient,
            from_stage=None,
            to_stage=EVALUATION,
            effective_date=start,
            reason="Referral",
            recorded_by=nurse,
        )
    ]
    session.add(events[0])
    when = start
    for previous, stage in zip(path, path[1:], strict=False):
        when += timedelta(days=spans[previous])
        event = StageEvent(
            patient=patient, from_stage=previous, to_stage=stage, effective_date=when, reason="", recorded_by=nurse
        )
        events.append(event)
        session.add(event)
        if stage == IMPLANTATION:
            centre = rng.choice(centres)
            session.add(
                Implantation(
                    event=event,
                    patient=patient,
                    surgery_centre=centre,
                    surgeon=f"Dr {rng.choice(physicians).full_name.split()[-1]}",
                )
            )
            pump, fill, start_dose = demo_pump(session, rng, patient, when, centre, rng.choice(models), nurse)
        if previous == TRIAL:
            _boluses(session, rng, patient, when - timedelta(days=spans[TRIAL]), nurse, positive=stage == IMPLANTATION)
    patient.stage, patient.stage_since = path[-1], events[-1].effective_date
    leave = None
    if state == TRIAL:
        _boluses(
            session,
            rng,
            patient,
            patient.stage_since,
            nurse,
            positive=rng.random() < 0.5,
            limit=(today - patient.stage_since).days,
        )
    if state == EXITED:
        reasons = {EVALUATION: "not_candidate", TRIAL: "trial_failed", ADJUSTMENT: "explanted"}
        leave = min(today, events[-1].effective_date + timedelta(days=rng.randint(1, 200)))
        reason = reasons[path[-1]]
        session.add(
            StageEvent(
                patient=patient,
                from_stage=path[-1],
                to_stage=EXITED,
                exit_reason=reason,
                effective_date=leave,
                reason="",
                recorded_by=nurse,
            )
        )
        if path[-1] == TRIAL:
            _boluses(
                session,
                rng,
                patient,
                patient.stage_since,
                nurse,
                positive=False,
                limit=(leave - patient.stage_since).days,
            )
        patient.status, patient.exit_reason, patient.stage_since = "exited", reason, leave
    if IMPLANTATION in path:
        demo_refills(session, rng, findings, pump, fill, start_dose, leave or today, nurse, drugs)
        if leave and path[-1] == ADJUSTMENT:
            pump.explanted_on = leave
        session.flush()
        schedule = recompute_schedule(session, pump, SEED_SETTINGS)
        if schedule is not None and patient.status == "active":
            maybe_book(session, rng, patient, pump, schedule, today, nurse)


def _boluses(session, rng, patient, trial_start: date, nurse, positive: bool, limit: int = 3) -> None:
    for day, dose in enumerate((50, 75, 100)[: max(1, min(3, limit + 1))]):
        good = positive and (dose == 100 or rng.random() < 0.4)
        before = rng.choice(["2", "3", "4"])
        after = {"4": "2", "3": "1+", "2": "1"}[before] if good else before
        session.add(
            TrialBolus(
                patient=patient,
                given_on=trial_start + timedelta(days=day),
                dose_mcg=dose,
                concentration_mcg_per_ml=50,
                ashworth_before=before,
                ashworth_after=after,
                penn_frequency_before=3,
                penn_severity_before=2,
                penn_frequency_after=1 if good else 3,
                penn_severity_after=1 if good else 2,
                hours_of_effect=6 if good else 0,
                outcome="positive" if good else "negative",
                notes="",
                recorded_by=nurse,
            )
        )
        if good:
            break
