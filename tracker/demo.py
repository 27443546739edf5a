"""Deterministic demo data across the clinic's five sites and every stage."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from faker import Faker
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinic_zone import start_of_day
from tracker.clinical import refill as engine
from tracker.clinical.journey import ADJUSTMENT, EVALUATION, EXITED, IMPLANTATION, TRIAL
from tracker.clinical.refill_risk import battery_due
from tracker.clinical.scales import DIAGNOSES
from tracker.clinical.search import mrn_key
from tracker.models import (
    DoseChange,
    DrugConcentration,
    Implantation,
    Location,
    Patient,
    Pump,
    PumpModel,
    RefillAppointment,
    RefillVisit,
    StageEvent,
    TrialBolus,
    User,
)
from tracker.services.accounts import hash_password
from tracker.services.pumps import ensure_catalogues
from tracker.services.refill_visits import ENTRY_FIELDS, RefillEntry, refill_warnings
from tracker.services.refills import _ledger_for_engine, drug_catalogue, projection_inputs, recompute_schedule
from tracker.services.settings import DEFAULTS

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
# Refills whose numbers show a warning: about 3 in 100 a residual discrepancy, about 1 in 100 a pocket fill.
RESIDUAL_SHARE, POCKET_FILL_SHARE = 0.03, 0.01


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
            pump, fill, start_dose = _pump(session, rng, patient, when, centre, rng.choice(models), nurse)
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
        _refills(session, rng, findings, pump, fill, start_dose, leave or today, nurse, drugs)
        if leave and path[-1] == ADJUSTMENT:
            pump.explanted_on = leave
        session.flush()
        schedule = recompute_schedule(session, pump, SEED_SETTINGS)
        if schedule is not None and patient.status == "active":
            _maybe_book(session, rng, patient, pump, schedule, today, nurse)


SEED_SETTINGS = dict(DEFAULTS)  # the demo clinic keeps the default settings


def _pump(session, rng, patient, implanted_on: date, centre, model, nurse) -> tuple[Pump, RefillVisit, DoseChange]:
    pump = Pump(
        patient=patient,
        model=model,
        serial=f"NGP{rng.randrange(10**5, 10**6)}",
        reservoir_ml=model.reservoir_ml,
        implanted_on=implanted_on,
        surgery_centre=centre,
        catheter_tip_level=rng.choice(["T6", "T8", "T10", "T11"]),
        alarm_volume_ml=model.default_alarm_ml,
        battery_replacement_due=battery_due(implanted_on, model.battery_life_months),
    )
    session.add(pump)
    start = start_of_day(implanted_on)
    dose = Decimal(rng.choice([100, 150, 200, 250]))
    fill = RefillVisit(
        pump=pump,
        visit_at=start,
        clinician=nurse,
        at_implant=True,
        concentration_mcg_per_ml=500,
        volume_added_ml=model.reservoir_ml,
        resulting_volume_ml=model.reservoir_ml,
    )
    first_dose = DoseChange(
        pump=pump,
        effective_at=start,
        mode="simple",
        daily_dose_mcg=dose,
        reason="Starting dose at implantation",
        recorded_by=nurse,
    )
    session.add_all([fill, first_dose])
    return pump, fill, first_dose


def _refills(
    session,
    rng,
    findings,
    pump,
    fill: RefillVisit,
    first_dose: DoseChange,
    until: date,
    nurse,
    drugs: dict[int, DrugConcentration],
) -> None:
    """Titration for the first weeks, then refills a few days before each due date; a few fall behind.

    Each refill keeps what record_refill would have stored: the due date the worklist showed just before it and
    the preview's warnings. `findings` makes a few refills show a residual discrepancy or a pocket fill."""
    when, volume, concentration, dose = pump.implanted_on, pump.reservoir_ml, 500, first_dose.daily_dose_mcg
    earlier = None  # the fill before `fill`: its residual decides the measured rate, as in recompute_schedule
    ledger = [first_dose]
    for week in range(2, 9, 2):
        step_day = pump.implanted_on + timedelta(days=7 * week)
        if step_day >= until:
            return
        dose = (dose * Decimal("1.12")).quantize(Decimal(1))
        ledger.append(
            DoseChange(
                pump=pump,
                effective_at=start_of_day(step_day) + timedelta(hours=10),
                mode="simple",
                daily_dose_mcg=dose,
                reason="Titration: tone still high",
                recorded_by=nurse,
            )
        )
        session.add(ledger[-1])
    while True:
        daily_ml = dose / concentration  # the drug in the pump now
        usable = (volume - pump.alarm_volume_ml) / daily_ml
        gap = max(14, min(int(usable) - 7, 180) - rng.randint(0, 6))
        next_fill = when + timedelta(days=gap)
        # About one in twelve patients is behind on the last refill, so the worklist has work in it.
        if next_fill > until or (until - next_fill).days < gap and rng.random() < 0.08:
            return
        residual = max(Decimal(0), volume - daily_ml * gap).quantize(Decimal("0.1"))
        # Clinics move to a stronger concentration rather than refill more often than every ~2 months.
        while (pump.reservoir_ml - pump.alarm_volume_ml) * concentration / dose < 60 and concentration < 2000:
            concentration *= 2
        visit_at = start_of_day(next_fill) + timedelta(hours=rng.randint(8, 16))
        actual = residual + Decimal(rng.randint(-5, 5)) / 10
        lot = f"L{rng.randrange(10**4, 10**5)}"
        # A stronger concentration is given with a bridge bolus, as record_refill asks.
        bridge = (dose / 10).quantize(Decimal(1)) if concentration != fill.concentration_mcg_per_ml else None
        entry = _findings(
            findings,
            pump,
            RefillEntry(
                visit_at=visit_at,
                expected_residual_ml=residual,
                actual_residual_ml=actual,
                concentration_mcg_per_ml=concentration,
                volume_added_ml=pump.reservoir_ml,
                resulting_volume_ml=pump.reservoir_ml,
                lot=lot,
                bridge_bolus_given=bridge is not None,
                bridge_bolus_mcg=bridge,
            ),
        )
        in_force = [d for d in ledger if d.effective_at < visit_at]  # recorded by then: none is dated ahead
        warnings = refill_warnings(pump, fill, entry, in_force[-1].daily_dose_mcg, SEED_SETTINGS)
        due_in_force = _due_in_force(pump, fill, earlier, in_force, drugs)
        earlier = fill
        fill = RefillVisit(
            pump=pump,
            clinician=nurse,
            due_date_in_force=due_in_force,
            warnings=[{"code": w.code, "severity": w.severity, "message": w.message} for w in warnings],
            acknowledged_by_id=nurse.id if any(w.severity == "high" for w in warnings) else None,
            # Recorded at the visit, not at seeding time: the digest reports each day's records.
            recorded_at=visit_at,
            **{name: getattr(entry, name) for name in ENTRY_FIELDS},
        )
        session.add(fill)
        when, volume = next_fill, entry.resulting_volume_ml


def _findings(findings: random.Random, pump: Pump, entry: RefillEntry) -> RefillEntry:
    """Now and then an aspirated residual 2.5-4.5 mL off the expected one, or a reservoir that reports
    2.5-4 mL less than went in: both beyond the default thresholds for every pump model."""
    if findings.random() < RESIDUAL_SHARE:
        off = findings.choice((-1, 1)) * Decimal(findings.randint(25, 45)) / 10
        entry = replace(
            entry, actual_residual_ml=min(pump.reservoir_ml, max(Decimal(0), entry.expected_residual_ml + off))
        )
    if findings.random() < POCKET_FILL_SHARE:
        entry = replace(entry, resulting_volume_ml=entry.volume_added_ml - Decimal(findings.randint(25, 40)) / 10)
    return entry


def _due_in_force(
    pump: Pump,
    previous: RefillVisit,
    earlier: RefillVisit | None,
    ledger: list[DoseChange],
    drugs: dict[int, DrugConcentration],
) -> date:
    """The due date the pump's stored schedule held before the next refill: recompute_schedule's projection from
    the previous fill (and the fill before it, for the measured rate) with the doses recorded by then."""
    inputs = projection_inputs(None, pump, previous, _ledger_for_engine(ledger), SEED_SETTINGS, drugs, previous=earlier)
    return engine.project_refill(inputs).due_date


def _maybe_book(session, rng, patient, pump, schedule, today: date, nurse) -> None:
    """Most refills due in the next month are booked, a few after the due date; some are not yet."""
    days_to_due = (schedule.due_date - today).days
    if not -3 <= days_to_due <= 30 or rng.random() < 0.35:
        return
    late = rng.random() < 0.12
    day = schedule.due_date + timedelta(days=rng.randint(1, 3) if late else -rng.randint(0, 4))
    day = max(day, today + timedelta(days=1))
    if schedule.alarm_date is not None and day > schedule.alarm_date:
        return
    session.add(
        RefillAppointment(
            patient=patient,
            pump_id=pump.id,
            location=patient.location,
            clinician=nurse,
            booked_by=nurse,
            starts_at=start_of_day(day) + timedelta(hours=rng.randint(9, 15), minutes=rng.choice([0, 30])),
            late_reason="Patient's transport only available then" if day > schedule.due_date else "",
        )
    )


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
