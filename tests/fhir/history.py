"""A patient with every kind of fact the FHIR export maps, made through the app's own services."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal

from tests.support.factories import CLINIC_ZONE, implanted_days_ago
from tracker.services.bookings import book_refill
from tracker.services.doses import change_dose
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import Programme, current_pump


def refill(session, world, pump_id: int, at: datetime, residual: str, ashworth: str = "2", penn: int = 1):
    """A refill at `at` finding `residual` mL, filled back to 20 mL."""
    entry = RefillEntry(
        visit_at=at,
        expected_residual_ml=Decimal(residual),
        actual_residual_ml=Decimal(residual),
        concentration_mcg_per_ml=500,
        volume_added_ml=20 - Decimal(residual),
        resulting_volume_ml=Decimal(20),
        ashworth=ashworth,
        penn_frequency=penn,
    )
    return record_refill(session, world.actor(), pump_id, entry, True, datetime.now(CLINIC_ZONE))


def rich_patient(session, world, refills: int = 1, **patient):
    """Referred, trialled (positive bolus), implanted at 300 mcg/day, then `refills` refills ten days apart (the last
    five days ago), each followed by a dose change (+10 mcg/day), and a booked refill tomorrow."""
    p = implanted_days_ago(session, world, 15 + 10 * refills, patient=patient or None)
    pump = current_pump(session, p.id)
    now = datetime.now(CLINIC_ZONE)
    for n in range(refills):
        at = now - timedelta(days=5 + 10 * (refills - 1 - n), hours=1)
        refill(session, world, pump.id, at, "8.5")
        change_dose(
            session, world.actor(), pump.id, at + timedelta(minutes=30), Programme(Decimal(310 + 10 * n)), "tone", now
        )
    book_refill(
        session,
        world.actor("coordinator"),
        p.id,
        now + timedelta(days=1),
        world.clinic.id,
        world.users["nurse"].id,
        "first free slot",
        "",
        now,
    )
    session.refresh(p)
    return p, pump
