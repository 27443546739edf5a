"""The pump's battery: replacement due in calendar months from the implant, the ERI recorded on the pump, and the
refill visit's battery warning in the refill-risk model's words (issue 16, item 5)."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.factories import TODAY, implant_details, implanted_days_ago, make_patient
from tracker.clinical import refill_risk
from tracker.clinical.refill_risk import battery_due
from tracker.formats import fmt_date
from tracker.models import AuditEvent, Pump
from tracker.services import DomainError, PermissionDenied, StaleEdit
from tracker.services.pumps import implant_pump, record_eri
from tracker.services.refill_visits import RefillEntry, preview_refill
from tracker.services.refills import current_pump

IMPLANTED_ON = TODAY - timedelta(days=10)


def pump_of(session, patient) -> Pump:
    session.expire_all()
    return current_pump(session, patient.id)


def eri_form(pump: Pump, eri_on: date) -> dict:
    return {"eri_on": eri_on.isoformat(), "version": str(pump.version)}


def audit_of_pump(session) -> list[AuditEvent]:
    return list(session.scalars(select(AuditEvent).where(AuditEvent.entity == "pump", AuditEvent.action == "update")))


# -- calendar months ---------------------------------------------------------------------------------------------


def test_battery_life_is_counted_in_calendar_months_from_the_implant():
    # 84 x 30 days from 31 Aug 2018 fell on 25 Jul 2025: five weeks before the battery's seven years were up.
    assert battery_due(date(2018, 8, 31), 84) == date(2025, 8, 31)
    assert battery_due(date(2016, 2, 29), 84) == date(2023, 2, 28)  # no 29 Feb in 2023: the month's last day
    assert battery_due(date(2016, 2, 29), 48) == date(2020, 2, 29)
    assert battery_due(date(2018, 8, 31), 6) == date(2019, 2, 28)
    assert battery_due(date(2018, 8, 31), None) is None  # no battery-driven pump


def test_an_implant_on_31_august_is_due_for_its_battery_on_31_august_seven_years_later(world, session):
    patient = make_patient(session, world, referred_days_ago=4000)
    pump = implant_pump(session, world.actor(), patient, date(2018, 8, 31), world.centre.id, implant_details(session))
    session.commit()
    assert pump.battery_replacement_due == date(2025, 8, 31)
    prometra = make_patient(session, world, referred_days_ago=4000)
    pump = implant_pump(
        session,
        world.actor(),
        prometra,
        date(2018, 8, 31),
        world.centre.id,
        implant_details(session, model="Prometra II 20 mL"),
    )
    assert pump.battery_replacement_due is None


# -- recording the ERI -------------------------------------------------------------------------------------------


def test_a_nurse_records_the_eri_and_the_replacement_falls_due_within_the_models_window(as_role, world, session):
    patient = implanted_days_ago(session, world, 10)
    pump = pump_of(session, patient)
    assert pump.battery_replacement_due == battery_due(IMPLANTED_ON, 84)
    nurse = as_role("nurse")
    page = nurse.get(f"/patients/{patient.id}/eri").get_data(as_text=True)
    assert "Record battery ERI" in page and "stops within 90 days" in page

    eri_on = TODAY - timedelta(days=3)
    response = nurse.post(f"/patients/{patient.id}/eri", eri_form(pump, eri_on))

    assert response.status_code == 302, response.get_data(as_text=True)[-1500:]
    assert response.location.endswith(f"/patients/{patient.id}#pump")
    pump = pump_of(session, patient)
    assert (pump.eri_on, pump.battery_replacement_due) == (eri_on, eri_on + timedelta(days=90))
    (audit,) = audit_of_pump(session)
    assert audit.user_id == world.users["nurse"].id and audit.patient_id == patient.id
    assert audit.before == {"eri_on": None, "battery_replacement_due": battery_due(IMPLANTED_ON, 84).isoformat()}
    assert audit.after == {
        "eri_on": eri_on.isoformat(),
        "battery_replacement_due": (eri_on + timedelta(days=90)).isoformat(),
    }
    assert (
        refill_risk.battery_verdict(refill_risk.Battery(pump.battery_replacement_due, pump.eri_on), TODAY, 6)
        == refill_risk.BATTERY_ERI
    )


def test_an_eri_never_moves_a_replacement_already_due_sooner(world, session):
    patient = implanted_days_ago(session, world, 10)
    pump = pump_of(session, patient)
    pump.battery_replacement_due = TODAY + timedelta(days=20)
    session.commit()
    record_eri(session, world.actor(), pump.id, TODAY - timedelta(days=1), pump.version, datetime.now(UTC))
    pump = pump_of(session, patient)
    assert (pump.eri_on, pump.battery_replacement_due) == (TODAY - timedelta(days=1), TODAY + timedelta(days=20))


def test_an_eri_in_the_future_is_refused_beside_the_date_and_what_was_typed_stays(as_role, world, session):
    patient = implanted_days_ago(session, world, 10)
    pump = pump_of(session, patient)
    tomorrow = TODAY + timedelta(days=1)

    response = as_role("nurse").post(f"/patients/{patient.id}/eri", eri_form(pump, tomorrow))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="eri_on-error"' in page and "The ERI date cannot be in the future" in page
    assert f'value="{tomorrow.isoformat()}"' in page
    pump = pump_of(session, patient)
    assert (pump.eri_on, pump.battery_replacement_due) == (None, battery_due(IMPLANTED_ON, 84))
    assert audit_of_pump(session) == []


def test_an_eri_before_the_implant_is_refused(as_role, world, session):
    patient = implanted_days_ago(session, world, 10)
    pump = pump_of(session, patient)
    response = as_role("nurse").post(f"/patients/{patient.id}/eri", eri_form(pump, IMPLANTED_ON - timedelta(days=1)))
    assert response.status_code == 422
    assert f"cannot be before the implant ({fmt_date(IMPLANTED_ON)})" in response.get_data(as_text=True)
    assert pump_of(session, patient).eri_on is None and audit_of_pump(session) == []


def test_an_eri_from_a_form_opened_before_another_change_is_refused(world, session):
    patient = implanted_days_ago(session, world, 10)
    pump = pump_of(session, patient)
    opened = pump.version
    record_eri(session, world.actor(), pump.id, TODAY - timedelta(days=2), opened, datetime.now(UTC))
    with pytest.raises(StaleEdit, match="Someone else changed this pump"):
        record_eri(session, world.actor(), pump.id, TODAY - timedelta(days=5), opened, datetime.now(UTC))
    session.rollback()
    assert pump_of(session, patient).eri_on == TODAY - timedelta(days=2)


def test_a_pump_without_a_battery_has_no_eri_to_record(as_role, world, session):
    patient = implanted_days_ago(session, world, 10, model="Prometra II 20 mL")
    pump = pump_of(session, patient)
    with pytest.raises(DomainError, match="has no battery"):
        record_eri(session, world.actor(), pump.id, TODAY, pump.version, datetime.now(UTC))
    session.rollback()
    assert "has no battery" in as_role("nurse").get(f"/patients/{patient.id}/eri").get_data(as_text=True)


def test_only_clinicians_record_an_eri(as_role, world, session):
    patient = implanted_days_ago(session, world, 10)
    pump = pump_of(session, patient)
    for role in ("coordinator", "admin"):
        client = as_role(role)
        assert client.get(f"/patients/{patient.id}/eri").status_code == 403
        assert client.post(f"/patients/{patient.id}/eri", eri_form(pump, TODAY)).status_code == 403
    with pytest.raises(PermissionDenied):
        record_eri(session, world.actor("coordinator"), pump.id, TODAY, pump.version, datetime.now(UTC))
    assert pump_of(session, patient).eri_on is None


# -- the refill visit's battery warning --------------------------------------------------------------------------


def battery_warning(session, pump: Pump):
    visit = RefillEntry(
        visit_at=datetime.now(UTC) - timedelta(hours=1),
        expected_residual_ml=Decimal(14),
        actual_residual_ml=Decimal(14),
        concentration_mcg_per_ml=500,
        volume_added_ml=Decimal(20),
        resulting_volume_ml=Decimal(20),
    )
    found = [w for w in preview_refill(session, pump.id, visit, datetime.now(UTC)).warnings if w.code == "battery"]
    return found[0] if found else None


@pytest.mark.parametrize(
    "case, due_in_days, eri_days_ago, severity, words",
    [
        ("years away", 2000, None, None, None),
        ("due within the warning months", 100, None, "medium", "Battery replacement due soon"),
        ("past due", -90, None, "high", "Battery replacement past due"),
        ("at its indicator", 60, 30, "high", "replacement indicator (ERI)"),
    ],
)
def test_the_refill_visit_warns_about_the_battery_as_the_model_judges_it(
    world, session, case, due_in_days, eri_days_ago, severity, words
):
    patient = implanted_days_ago(session, world, 10)
    pump = pump_of(session, patient)
    pump.battery_replacement_due = TODAY + timedelta(days=due_in_days)
    pump.eri_on = TODAY - timedelta(days=eri_days_ago) if eri_days_ago is not None else None
    session.commit()
    warning = battery_warning(session, pump)
    if severity is None:
        assert warning is None
        return
    assert warning.severity == severity and words in warning.message
    assert f"replacement due {fmt_date(pump.battery_replacement_due)}" in warning.message
