"""A fast bulk seeder: the shape of tracker.demo.seed_demo (sites, staff, every stage, stage events, trial
boluses, implantations, pumps with refill visits and dose changes, stored refill schedules computed by the real
engine, some open bookings), written with SQLAlchemy Core executemany so 100k patients take minutes, not hours.

Rows get explicit ids (children need their parents' ids without a round trip); PostgreSQL sequences are moved
past them at the end so the app can keep inserting."""

from __future__ import annotations

import random
import time as clock
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from faker import Faker
from sqlalchemy import func, select, text

from tracker.clinic_zone import clinic_zone_name, start_of_day
from tracker.clinical import refill as engine
from tracker.clinical.journey import ADJUSTMENT, EVALUATION, EXITED, IMPLANTATION, TRIAL
from tracker.clinical.refill_risk import battery_due
from tracker.clinical.scales import DIAGNOSES
from tracker.demo import ORIGIN_OF, STATE_WEIGHTS, ensure_sites, ensure_staff, journey_shape
from tracker.demo_pumps import SEED_SETTINGS
from tracker.models import (
    DoseChange,
    DrugConcentration,
    Implantation,
    Patient,
    Pump,
    PumpModel,
    RefillAppointment,
    RefillSchedule,
    RefillVisit,
    StageEvent,
    TrialBolus,
)
from tracker.services.pumps import ensure_catalogues

STAFF_PASSWORD = "demo-password-1234"
CHUNK = 5000
TABLES = [
    Patient,
    StageEvent,
    Implantation,
    TrialBolus,
    Pump,
    RefillVisit,
    DoseChange,
    RefillSchedule,
    RefillAppointment,
]


class _Ids:
    def __init__(self, session):
        self.next = {
            m: (session.scalar(select(func.max(m.__table__.primary_key.columns.values()[0]))) or 0) + 1 for m in TABLES
        }

    def __call__(self, model) -> int:
        value = self.next[model]
        self.next[model] = value + 1
        return value


class _Writer:
    """Buffers rows per table and flushes them with one executemany per chunk, parents first."""

    def __init__(self, connection):
        self.connection = connection
        self.rows: dict = {m: [] for m in TABLES}
        self.counts: dict = {m.__tablename__: 0 for m in TABLES}

    def add(self, model, row: dict) -> None:
        self.rows[model].append(row)

    def flush(self) -> None:
        # Plain executemany: C-speed on SQLite; psycopg pipelines it (~10k rows/s here). insert().values(many)
        # and RETURNING-batched "insertmanyvalues" both measured slower on PostgreSQL (statement compilation).
        for model in TABLES:  # parents before children (foreign keys are checked on PostgreSQL)
            rows = self.rows[model]
            for i in range(0, len(rows), CHUNK):
                self.connection.execute(model.__table__.insert(), rows[i : i + CHUNK])
            self.counts[model.__tablename__] += len(rows)
            rows.clear()


def seed(session, patients: int, seed_value: int, today: date, flush_every: int = 2000) -> dict:
    """Add `patients` patients; returns row counts and seconds. `session` is the app's session (app context)."""
    started = clock.perf_counter()
    rng = random.Random(seed_value)
    fake = Faker("en_US")
    fake.seed_instance(seed_value)
    sites = ensure_sites(session)
    clinics = [s.id for s in sites if s.kind == "clinic"]
    centres = [s.id for s in sites if s.kind == "surgery_centre"]
    staff = ensure_staff(session, STAFF_PASSWORD, [s for s in sites if s.kind == "clinic"], fake)
    ensure_catalogues(session)
    session.commit()
    nurses = [u.id for u in staff["nurse"]]
    surgeons = [f"Dr {u.full_name.split()[-1]}" for u in staff["physician"]]
    models = [
        (m.id, m.reservoir_ml, m.default_alarm_ml, m.battery_life_months)
        for m in session.scalars(select(PumpModel).order_by(PumpModel.id))
    ]
    stability = dict(
        session.execute(select(DrugConcentration.concentration_mcg_per_ml, DrugConcentration.stability_days)).all()
    )
    names = {
        "female": [fake.first_name_female() for _ in range(400)],
        "male": [fake.first_name_male() for _ in range(400)],
        "last": [fake.last_name() for _ in range(1000)],
    }
    taken = set(session.scalars(select(Patient.mrn_key)))
    ids = _Ids(session)
    writer = _Writer(session.connection())
    ctx = {
        "rng": rng,
        "today": today,
        "clinics": clinics,
        "centres": centres,
        "nurses": nurses,
        "surgeons": surgeons,
        "models": models,
        "stability": stability,
        "names": names,
        "ids": ids,
        "w": writer,
        "now": datetime.now(UTC),
    }
    engine_seconds = 0.0
    created = 0
    while created < patients:
        mrn = f"MRN{rng.randrange(10**6, 10**8)}"
        if mrn.casefold() in taken:
            continue
        taken.add(mrn.casefold())
        first = list(STATE_WEIGHTS)[created] if created < len(STATE_WEIGHTS) else None
        engine_seconds += _one_patient(ctx, mrn, first)
        created += 1
        if created % flush_every == 0:
            writer.flush()
    writer.flush()
    _move_sequences(session)
    session.commit()
    return {
        "patients": created,
        "seconds": clock.perf_counter() - started,
        "engine_seconds": engine_seconds,
        "rows": dict(writer.counts),
    }


def _move_sequences(session) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    for model in TABLES:
        table = model.__tablename__
        seq = (
            session.scalar(text("SELECT pg_get_serial_sequence(:t, 'id')"), {"t": table})
            if "id" in model.__table__.c
            else None
        )
        if seq:
            session.execute(text(f"SELECT setval('{seq}', (SELECT coalesce(max(id), 1) FROM {table}))"))


def _one_patient(ctx, mrn: str, state: str | None) -> float:
    """One patient, as tracker.demo._one_patient draws it; returns the seconds spent in the refill engine."""
    rng, today, ids, w = ctx["rng"], ctx["today"], ctx["ids"], ctx["w"]
    state = state or rng.choices(list(STATE_WEIGHTS), weights=list(STATE_WEIGHTS.values()))[0]
    diagnosis = rng.choice(list(DIAGNOSES))
    origin = ORIGIN_OF.get(diagnosis, rng.choice(["spinal", "cerebral"]))
    sex = rng.choice(["female", "male"])
    nurse = rng.choice(ctx["nurses"])
    clinic = rng.choice(ctx["clinics"])
    path, spans, start = journey_shape(rng, state, today)
    risk = diagnosis == "sci" and rng.random() < 0.5
    patient_id = ids(Patient)
    patient = {
        "id": patient_id,
        "mrn": mrn,
        "mrn_key": mrn.casefold(),
        "first_name": rng.choice(ctx["names"][sex]),
        "last_name": rng.choice(ctx["names"]["last"]),
        "date_of_birth": start - timedelta(days=rng.randint(8 * 365, 80 * 365)),
        "sex": sex,
        "diagnosis": diagnosis,
        "spasticity_origin": origin,
        "location_id": clinic,
        "nurse_id": nurse,
        "withdrawal_risk": risk,
        "withdrawal_risk_reason": "Cervical SCI above T6" if risk else "",
        "phone": f"({rng.randint(200, 999)}) {rng.randint(200, 999)}-{rng.randint(0, 9999):04d}",
        "stage": EVALUATION,
        "stage_since": start,
        "status": "active",
        "exit_reason": None,
        "journey_started": start,
        "created_at": ctx["now"],
        "version": 1,
    }
    events = []

    def event(from_stage, to_stage, when, exit_reason=None):
        row = {
            "id": ids(StageEvent),
            "patient_id": patient_id,
            "from_stage": from_stage,
            "to_stage": to_stage,
            "exit_reason": exit_reason,
            "effective_date": when,
            "reason": "Referral" if from_stage is None else "",
            "override": False,
            "recorded_at": ctx["now"],
            "recorded_by_id": nurse,
            "voided_at": None,
            "voided_by_id": None,
            "void_reason": None,
        }
        events.append(row)
        return row

    event(None, EVALUATION, start)
    when = start
    pump = None
    boluses = []
    for previous, stage in zip(path, path[1:], strict=False):
        when += timedelta(days=spans[previous])
        ev = event(previous, stage, when)
        if stage == IMPLANTATION:
            centre = rng.choice(ctx["centres"])
            w.add(
                Implantation,
                {
                    "id": ids(Implantation),
                    "stage_event_id": ev["id"],
                    "patient_id": patient_id,
                    "surgery_centre_id": centre,
                    "surgeon": rng.choice(ctx["surgeons"]),
                },
            )
            pump = _pump(ctx, patient_id, when, centre, rng.choice(ctx["models"]), nurse)
        if previous == TRIAL:
            boluses += _boluses(
                ctx, patient_id, when - timedelta(days=spans[TRIAL]), nurse, positive=stage == IMPLANTATION
            )
    patient["stage"], patient["stage_since"] = path[-1], events[-1]["effective_date"]
    leave = None
    if state == TRIAL:
        boluses += _boluses(
            ctx,
            patient_id,
            patient["stage_since"],
            nurse,
            positive=rng.random() < 0.5,
            limit=(today - patient["stage_since"]).days,
        )
    if state == EXITED:
        reasons = {EVALUATION: "not_candidate", TRIAL: "trial_failed", ADJUSTMENT: "explanted"}
        leave = min(today, events[-1]["effective_date"] + timedelta(days=rng.randint(1, 200)))
        reason = reasons[path[-1]]
        event(path[-1], EXITED, leave, reason)
        if path[-1] == TRIAL:
            boluses += _boluses(
                ctx,
                patient_id,
                patient["stage_since"],
                nurse,
                positive=False,
                limit=(leave - patient["stage_since"]).days,
            )
        patient["status"], patient["exit_reason"], patient["stage_since"] = "exited", reason, leave
    w.add(Patient, patient)
    for row in events:
        w.add(StageEvent, row)
    for row in boluses:
        w.add(TrialBolus, row)
    spent = 0.0
    if pump is not None:
        fills, doses = _refills(ctx, pump, leave or today, nurse)
        for row in fills:
            w.add(RefillVisit, row)
        for row in doses:
            w.add(DoseChange, row)
        if leave and path[-1] == ADJUSTMENT:
            pump["explanted_on"] = leave
        w.add(Pump, pump)
        if pump["explanted_on"] is None:
            t0 = clock.perf_counter()
            schedule = _schedule(ctx, pump, fills[-1], doses, risk, patient["location_id"])
            spent = clock.perf_counter() - t0
            w.add(RefillSchedule, schedule)
            if patient["status"] == "active":
                _maybe_book(ctx, patient, pump, schedule, nurse)
    return spent


def _pump(ctx, patient_id, implanted_on: date, centre, model, nurse) -> dict:
    rng = ctx["rng"]
    model_id, reservoir, alarm, battery = model
    dose = Decimal(rng.choice([100, 150, 200, 250]))
    pump = {
        "id": ctx["ids"](Pump),
        "patient_id": patient_id,
        "model_id": model_id,
        "serial": f"NGP{rng.randrange(10**5, 10**6)}",
        "reservoir_ml": reservoir,
        "implanted_on": implanted_on,
        "surgery_centre_id": centre,
        "catheter_tip_level": rng.choice(["T6", "T8", "T10", "T11"]),
        "alarm_volume_ml": alarm,
        "battery_replacement_due": battery_due(implanted_on, battery),
        "explanted_on": None,
        "version": 1,
        "_dose": dose,
        "_nurse": nurse,
    }
    return pump


def _fill(ctx, pump, visit_at, nurse, concentration, at_implant=False, expected=None, actual=None, lot="") -> dict:
    return {
        "id": ctx["ids"](RefillVisit),
        "pump_id": pump["id"],
        "visit_at": visit_at,
        "clinician_id": nurse,
        "at_implant": at_implant,
        "expected_residual_ml": expected,
        "actual_residual_ml": actual,
        "concentration_mcg_per_ml": concentration,
        "lot": lot,
        "volume_added_ml": pump["reservoir_ml"],
        "resulting_volume_ml": pump["reservoir_ml"],
        "bridge_bolus_mcg": None,
        "ashworth": None,
        "penn_frequency": None,
        "complications": "",
        "notes": "",
        "warnings": None,
        "acknowledged_by_id": None,
        "recorded_at": ctx["now"],
    }


def _dose(ctx, pump, effective_at, dose, reason, nurse) -> dict:
    return {
        "id": ctx["ids"](DoseChange),
        "pump_id": pump["id"],
        "effective_at": effective_at,
        "mode": "simple",
        "daily_dose_mcg": dose,
        "flex_schedule": None,
        "bolus_dose_mcg": Decimal(0),
        "max_boluses_per_day": 0,
        "reason": reason,
        "recorded_at": ctx["now"],
        "recorded_by_id": nurse,
        "signed_off_by_id": None,
    }


def _refills(ctx, pump, until: date, nurse) -> tuple[list[dict], list[dict]]:
    """The implant fill and starting dose, titration, then refills a few days before each due date."""
    rng = ctx["rng"]
    start = start_of_day(pump["implanted_on"])
    dose = pump.pop("_dose")
    pump.pop("_nurse")
    fills = [_fill(ctx, pump, start, nurse, 500, at_implant=True)]
    doses = [_dose(ctx, pump, start, dose, "Starting dose at implantation", nurse)]
    when, volume, concentration = pump["implanted_on"], pump["reservoir_ml"], 500
    for week in range(2, 9, 2):
        step_day = pump["implanted_on"] + timedelta(days=7 * week)
        if step_day >= until:
            return fills, doses
        dose = (dose * Decimal("1.12")).quantize(Decimal(1))
        doses.append(
            _dose(ctx, pump, start_of_day(step_day) + timedelta(hours=10), dose, "Titration: tone still high", nurse)
        )
    while True:
        daily_ml = dose / concentration
        usable = (volume - pump["alarm_volume_ml"]) / daily_ml
        gap = max(14, min(int(usable) - 7, 180) - rng.randint(0, 6))
        next_fill = when + timedelta(days=gap)
        if next_fill > until or (until - next_fill).days < gap and rng.random() < 0.08:
            return fills, doses
        residual = max(Decimal(0), volume - daily_ml * gap).quantize(Decimal("0.1"))
        while (pump["reservoir_ml"] - pump["alarm_volume_ml"]) * concentration / dose < 60 and concentration < 2000:
            concentration *= 2
        fills.append(
            _fill(
                ctx,
                pump,
                start_of_day(next_fill) + timedelta(hours=rng.randint(8, 16)),
                nurse,
                concentration,
                expected=residual,
                actual=residual + Decimal(rng.randint(-5, 5)) / 10,
                lot=f"L{rng.randrange(10**4, 10**5)}",
            )
        )
        when, volume = next_fill, pump["reservoir_ml"]


def _schedule(ctx, pump, fill, doses, risk: bool, location_id: int) -> dict:
    """The stored projection, from the same engine inputs tracker.services.refills.projection_inputs builds."""
    projection = engine.project_refill(
        engine.RefillInputs(
            fill_time=fill["visit_at"],
            reservoir_after_fill_ml=fill["resulting_volume_ml"],
            concentration_mcg_per_ml=fill["concentration_mcg_per_ml"],
            doses=[
                engine.DosePeriod(d["effective_at"], engine.DoseProgramme(daily_dose_mcg=d["daily_dose_mcg"]))
                for d in doses
            ],
            alarm_volume_ml=pump["alarm_volume_ml"],
            buffer_days=SEED_SETTINGS["high_risk_buffer_days" if risk else "safety_buffer_days"],
            stability_days=ctx["stability"][fill["concentration_mcg_per_ml"]],
            reservoir_capacity_ml=pump["reservoir_ml"],
            tz=clinic_zone_name(),
        )
    )
    return {
        "pump_id": pump["id"],
        "patient_id": pump["patient_id"],
        "location_id": location_id,
        "fill_at": fill["visit_at"],
        "volume_after_fill_ml": fill["resulting_volume_ml"],
        "daily_volume_ml": projection.daily_volume_ml,
        "due_date": projection.due_date,
        "alarm_date": projection.alarm_date,
        "empty_date": projection.empty_date,
        "stability_date": projection.stability_date,
        "binding_rule": projection.binding_rule,
        "explanation": projection.explanation,
        "computed_at": ctx["now"],
    }


def _maybe_book(ctx, patient, pump, schedule, nurse) -> None:
    rng, today = ctx["rng"], ctx["today"]
    days_to_due = (schedule["due_date"] - today).days
    if not -3 <= days_to_due <= 30 or rng.random() < 0.35:
        return
    late = rng.random() < 0.12
    day = schedule["due_date"] + timedelta(days=rng.randint(1, 3) if late else -rng.randint(0, 4))
    day = max(day, today + timedelta(days=1))
    if schedule["alarm_date"] is not None and day > schedule["alarm_date"]:
        return
    ctx["w"].add(
        RefillAppointment,
        {
            "id": ctx["ids"](RefillAppointment),
            "patient_id": patient["id"],
            "pump_id": pump["id"],
            "starts_at": start_of_day(day) + timedelta(hours=rng.randint(9, 15), minutes=rng.choice([0, 30])),
            "location_id": patient["location_id"],
            "clinician_id": nurse,
            "status": "booked",
            "late_reason": "Patient's transport only available then" if day > schedule["due_date"] else "",
            "override_by_id": None,
            "booked_at": ctx["now"],
            "booked_by_id": nurse,
            "closed_at": None,
            "closed_by_id": None,
            "close_reason": "",
            "replaced_by_id": None,
            "refill_visit_id": None,
            "version": 1,
        },
    )


def _boluses(ctx, patient_id, trial_start: date, nurse, positive: bool, limit: int = 3) -> list[dict]:
    rng, rows = ctx["rng"], []
    for day, dose in enumerate((50, 75, 100)[: max(1, min(3, limit + 1))]):
        good = positive and (dose == 100 or rng.random() < 0.4)
        before = rng.choice(["2", "3", "4"])
        after = {"4": "2", "3": "1+", "2": "1"}[before] if good else before
        rows.append(
            {
                "id": ctx["ids"](TrialBolus),
                "patient_id": patient_id,
                "given_on": trial_start + timedelta(days=day),
                "dose_mcg": dose,
                "concentration_mcg_per_ml": 50,
                "ashworth_before": before,
                "ashworth_after": after,
                "penn_frequency_before": 3,
                "penn_severity_before": 2,
                "penn_frequency_after": 1 if good else 3,
                "penn_severity_after": 1 if good else 2,
                "hours_of_effect": Decimal(6 if good else 0),
                "outcome": "positive" if good else "negative",
                "notes": "",
                "recorded_at": ctx["now"],
                "recorded_by_id": nurse,
            }
        )
        if good:
            break
    return rows
