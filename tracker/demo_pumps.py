"""A demo patient's pump: the implant, the titration and refills since (a few with a warning, a few behind), and
the next booking. Part of tracker.demo's deterministic demo data."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta
from decimal import Decimal

from tracker.clinic_zone import start_of_day
from tracker.clinical import refill
from tracker.clinical.refill_risk import battery_due
from tracker.clinical.settings_spec import DEFAULTS
from tracker.models import DoseChange, DrugConcentration, Pump, RefillAppointment, RefillVisit
from tracker.services.refill_visits import ENTRY_FIELDS, RefillEntry, refill_warnings
from tracker.services.refills import _ledger_for_engine, projection_inputs

# Refills whose numbers show a warning: about 3 in 100 a residual discrepancy, about 1 in 100 a pocket fill.
RESIDUAL_SHARE, POCKET_FILL_SHARE = 0.03, 0.01
SEED_SETTINGS = dict(DEFAULTS)  # the demo clinic keeps the default settings


def demo_pump(session, rng, patient, implanted_on: date, centre, model, nurse) -> tuple[Pump, RefillVisit, DoseChange]:
    """A new pump at implantation, its first fill and its starting dose."""
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


def demo_refills(
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
    return refill.project_refill(inputs).due_date


def maybe_book(session, rng, patient, pump, schedule, today: date, nurse) -> None:
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
