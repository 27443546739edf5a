"""Titration at the dose form: the 24-hour limit from the lowest dose in force, children, cuts, the usual range."""

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tests.support.clock import NOW
from tests.support.factories import TODAY, bolus_data, implant_details, make_patient, move, to_adjustment
from tracker.models import AuditEvent, DoseChange, RefillVisit
from tracker.services import trial_boluses
from tracker.services.doses import change_dose
from tracker.services.refills import Programme, current_pump


def implanted(session, world, **patient):
    """Implanted 10 days ago at 300 mcg/day (spinal origin, born 1970, unless overridden)."""
    p = to_adjustment(session, world, make_patient(session, world, referred_days_ago=40, **patient))
    return p, current_pump(session, p.id)


def post_dose(client, patient, dose: str, **extra):
    form = {
        "effective_at": (NOW - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M"),
        "mode": "simple",
        "daily_dose_mcg": dose,
        "bolus_dose_mcg": "0",
        "max_boluses_per_day": "0",
        "reason": "tone",
        **extra,
    }
    return client.post(f"/patients/{patient.id}/dose", form)


def changes(session) -> int:
    return session.scalar(select(func.count(DoseChange.id)))


def test_cut_then_raise_within_a_day_needs_a_physician(as_role, world, session):
    patient, pump = implanted(session, world, spasticity_origin="cerebral")
    change_dose(
        session,
        world.actor("nurse"),
        pump.id,
        NOW - timedelta(hours=12),
        Programme(Decimal(150)),
        "drowsy",
        NOW,
        acknowledged=True,
    )
    # 300 -> 150 -> 345: +15% from 300 but +130% from 150, which was in force within the last 24 h.
    response = post_dose(as_role("nurse"), patient, "345")
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "physician must sign off" in text and "Send for sign-off" in text
    assert changes(session) == 2


def test_a_childs_plus_20_percent_needs_sign_off_and_an_adult_cerebral_plus_14_does_not(as_role, world, session):
    ten = TODAY.replace(year=TODAY.year - 10)
    child, _ = implanted(session, world, date_of_birth=ten, spasticity_origin="spinal")
    page = as_role("nurse").get(f"/patients/{child.id}/dose").get_data(as_text=True)
    # 15% of 300 = 45: up to 345 mcg/day.
    assert "+15% in 24 h (child)" in page and "up to 345 mcg/day" in page
    response = post_dose(as_role("nurse"), child, "360")  # +20%: within the adult spinal 30%, not a child's 15%
    assert response.status_code == 422 and "titration limit for a child" in response.get_data(as_text=True)
    adult, _ = implanted(session, world, spasticity_origin="cerebral")
    page = as_role("nurse").get(f"/patients/{adult.id}/dose").get_data(as_text=True)
    assert "+15% in 24 h (cerebral)" in page and "up to 345 mcg/day" in page
    assert post_dose(as_role("nurse"), adult, "342").status_code == 302  # +14%
    assert changes(session) == 3


def test_the_form_shows_the_spinal_limit_before_typing(as_role, world, session):
    patient, _ = implanted(session, world)
    page = as_role("nurse").get(f"/patients/{patient.id}/dose").get_data(as_text=True)
    assert "Limit without a physician's sign-off:</b> +30% in 24 h (spinal)" in page and "up to 390 mcg/day" in page


def test_a_30_percent_cut_warns_and_saves_only_acknowledged(as_role, world, session):
    patient, _ = implanted(session, world)
    nurse = as_role("nurse")
    response = post_dose(nurse, patient, "210")  # (300 - 210) / 300 = 30% > 20%
    text = response.get_data(as_text=True)
    assert response.status_code == 422 and "A cut of 30% within 24 h" in text and 'name="acknowledge"' in text
    assert changes(session) == 1
    assert post_dose(nurse, patient, "210", acknowledge="y").status_code == 302
    assert changes(session) == 2
    audit = session.scalars(
        select(AuditEvent).where(AuditEvent.entity == "dose_change").order_by(AuditEvent.id.desc())
    ).first()
    assert "A cut of 30%" in str(audit.after)


def test_a_dose_outside_the_usual_range_warns_at_a_change_and_at_implant(as_role, world, session):
    patient, _ = implanted(session, world)
    response = post_dose(as_role("physician"), patient, "2100")
    assert response.status_code == 422 and "above the usual 20-2000 mcg/day" in response.get_data(as_text=True)
    assert post_dose(as_role("physician"), patient, "2100", acknowledge="y").status_code == 302
    other = make_patient(session, world, referred_days_ago=40)
    move(session, world, other, "trial", days_ago=20)
    trial_boluses.record_bolus(session, world.actor(), other.id, bolus_data(TODAY - timedelta(days=19)), TODAY)
    move(
        session,
        world,
        other,
        "implantation",
        days_ago=10,
        surgery_centre_id=world.centre.id,
        surgeon="Dr Shaw",
        implant=implant_details(session, dose_mcg="15"),
    )
    fill = session.scalars(select(RefillVisit).where(RefillVisit.pump_id == current_pump(session, other.id).id)).one()
    assert "below the usual 20-2000 mcg/day" in fill.warnings[0]["message"]
