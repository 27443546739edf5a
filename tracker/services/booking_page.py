"""What the booking page shows besides its form: whether the patient has a refill to book, the clinicians a
booking can name, and the patient's recent bookings."""

from sqlalchemy import select

from tracker.models import Patient, RefillAppointment, RefillSchedule, User
from tracker.services.refills import current_pump


def bookable_schedule(session, patient: Patient) -> RefillSchedule | None:
    """The refill schedule of the patient's pump, when they are on the refill list (a pump holding drug)."""
    pump = current_pump(session, patient.id)
    schedule = session.get(RefillSchedule, pump.id) if pump else None
    return schedule if schedule is not None and patient.on_refill_list else None


def clinician_choices(session) -> list[tuple[int, str]]:
    """Active nurses and physicians, by name, with their role."""
    rows = session.execute(
        select(User.id, User.full_name, User.role)
        .where(User.active.is_(True), User.role.in_(("nurse", "physician")))
        .order_by(User.full_name)
    ).all()
    return [(user_id, f"{name} ({role})") for user_id, name, role in rows]


def booking_history(session, patient_id: int, limit: int = 10) -> list[RefillAppointment]:
    """The patient's latest bookings, newest first."""
    return session.scalars(
        select(RefillAppointment)
        .where(RefillAppointment.patient_id == patient_id)
        .order_by(RefillAppointment.booked_at.desc())
        .limit(limit)
    ).all()
