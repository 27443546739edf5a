"""Issue 18, item 1: no duplicate clinical records under concurrency or a double submit.

Posts race from threads (each with its own signed-in client, session and database connection) and the rows are
counted after. Before: ten identical refill posts stored two visits, ten identical bolus and contact posts ten
rows, two people booking at once two open bookings, and the loser of an MRN race a 500 quoting the MRN."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.support.factories import TODAY, bolus_data, implanted_days_ago, make_patient, move, patient_data
from tests.web.test_calendar import at, due
from tests.web.test_escalation import dose_form
from tests.web.test_patients import form_of
from tests.web.test_refill_visit_rules import refill_form
from tracker.models import (
    ContactAttempt,
    DoseChange,
    FormSubmission,
    Patient,
    RefillAppointment,
    RefillVisit,
    TrialBolus,
)
from tracker.services import refill_visits, refills
from tracker.services.refills import current_pump

KEY = "k" * 32


def race(clients, url, forms):
    """Post forms[i] from clients[i], all released at once; the responses in order."""
    barrier, out = threading.Barrier(len(clients)), [None] * len(clients)

    def post(i):
        barrier.wait()
        out[i] = clients[i].post(url, forms[i])

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return out


def count(session, column, *where) -> int:
    session.expire_all()
    return session.scalar(select(func.count(column)).where(*where))


def codes(responses) -> list[int]:
    return sorted(r.status_code for r in responses)


@pytest.mark.slow
def test_ten_identical_refill_posts_store_one_visit(world, session, as_role):
    patient = implanted_days_ago(session, world, 10)
    pump = current_pump(session, patient.id)
    form = refill_form(patient, pump, concentration_mcg_per_ml="500", submission_key=KEY)
    responses = race([as_role("nurse") for _ in range(10)], f"/patients/{patient.id}/refill", [form] * 10)
    assert count(session, RefillVisit.id, RefillVisit.pump_id == pump.id) == 2  # the fill at implant and one
    assert 500 not in codes(responses)
    assert codes(responses).count(302) == 1  # the one stored; the others are sent where it went (303)
    assert all(r.status_code in (302, 303) for r in responses), codes(responses)


def read_together(monkeypatch, module, name, racers: int):
    """Hold each racer after it reads what its form was opened against until every racer has read it (or 1.5 s
    passed), so without the row lock they would all pass the check; with it, the others wait at the lock and the
    first goes on once the wait times out."""
    real, gate = getattr(module, name), threading.Barrier(racers, timeout=1.5)

    def held(*args, **kwargs):
        found = real(*args, **kwargs)
        try:
            gate.wait()
        except threading.BrokenBarrierError:
            pass
        return found

    monkeypatch.setattr(module, name, held)


@pytest.mark.slow
def test_two_tabs_recording_a_refill_against_the_same_fill_store_one(world, session, as_role, monkeypatch):
    """Two tabs, same last fill: the check of what the form was opened against is atomic. No submission keys
    here, so the row lock alone must hold (on SQLite a key's insert would also serialize the writers)."""
    patient = implanted_days_ago(session, world, 10)
    pump = current_pump(session, patient.id)
    forms = [refill_form(patient, pump, concentration_mcg_per_ml="500") for _ in range(5)]
    clients = [as_role("nurse") for _ in range(5)]
    read_together(monkeypatch, refill_visits, "last_fill", 5)
    responses = race(clients, f"/patients/{patient.id}/refill", forms)
    assert count(session, RefillVisit.id, RefillVisit.pump_id == pump.id) == 2
    stale = [r for r in responses if r.status_code != 302]
    assert len(stale) == 4 and all("Someone else recorded a refill" in r.get_data(as_text=True) for r in stale)


@pytest.mark.slow
def test_racing_dose_changes_against_the_same_ledger_store_one(world, session, as_role, monkeypatch):
    patient = implanted_days_ago(session, world, 10)
    pump = current_pump(session, patient.id)
    last_dose = session.scalar(select(DoseChange.id).where(DoseChange.pump_id == pump.id))
    from datetime import UTC, datetime

    form = dose_form(datetime.now(UTC).astimezone(at(TODAY).tzinfo), "320") | {"last_dose_id": str(last_dose)}
    forms = [form] * 4 + [form | {"submission_key": KEY}] * 4  # two tabs without keys, a double click with one
    clients = [as_role("physician") for _ in range(8)]
    read_together(monkeypatch, refills, "dose_ledger", 8)
    responses = race(clients, f"/patients/{patient.id}/dose", forms)
    assert count(session, DoseChange.id, DoseChange.pump_id == pump.id) == 2, codes(responses)
    assert 500 not in codes(responses)


@pytest.mark.slow
def test_identical_bolus_posts_store_one_whether_racing_or_one_after_another(world, session, as_role):
    patient = make_patient(session, world)
    move(session, world, patient, "trial", days_ago=3)
    form = form_of(bolus_data(TODAY), submission_key=KEY)
    responses = race([as_role("nurse") for _ in range(10)], f"/patients/{patient.id}/bolus", [form] * 10)
    assert count(session, TrialBolus.id) == 1 and 500 not in codes(responses)

    nurse = as_role("nurse")  # a double click: the second post arrives after the first is stored
    again = form_of(bolus_data(TODAY - timedelta(days=1)), submission_key="second" * 6)
    first, second = (
        nurse.post(f"/patients/{patient.id}/bolus", again),
        nurse.post(f"/patients/{patient.id}/bolus", again),
    )
    assert first.status_code == 302 and second.status_code == 303
    assert second.location == first.location  # sent to the page the first post led to
    assert count(session, TrialBolus.id) == 2
    assert "already saved" in nurse.get(second.location).get_data(as_text=True)


@pytest.mark.slow
def test_identical_contact_attempts_store_one(world, session, as_role):
    patient = implanted_days_ago(session, world, 20)
    form = {"method": "phone", "outcome": "voicemail", "notes": "left a message", "submission_key": KEY}
    responses = race([as_role("coordinator") for _ in range(10)], f"/patients/{patient.id}/contacts", [form] * 10)
    assert count(session, ContactAttempt.id) == 1 and 500 not in codes(responses)


@pytest.mark.slow
def test_two_people_booking_at_once_leave_one_open_booking(world, session, as_role):
    patient = implanted_days_ago(session, world, 20)
    d = due(session, patient)
    forms = [
        {
            "starts_at": at(d, 9 + i % 6).strftime("%Y-%m-%dT%H:%M"),
            "location_id": world.clinic.id,
            "clinician_id": world.users["nurse"].id,
            "submission_key": f"book{i}" * 8,
        }
        for i in range(12)
    ]
    responses = race([as_role("coordinator") for _ in range(12)], f"/patients/{patient.id}/book", forms)
    assert count(session, RefillAppointment.id, RefillAppointment.status == "booked") == 1, codes(responses)
    assert count(session, RefillAppointment.id) == 1
    assert codes(responses).count(302) == 12  # the losers are sent back to the booking page with the message...
    losers = [r for r in responses if r.location.endswith(f"/patients/{patient.id}/book")]
    assert len(losers) == 11


def test_the_database_refuses_a_second_open_booking_for_a_pump(world, session):
    """The partial unique index itself: whatever path writes, one open booking per pump."""
    import pytest
    from sqlalchemy.exc import IntegrityError

    patient = implanted_days_ago(session, world, 20)
    pump = current_pump(session, patient.id)
    rows = [
        RefillAppointment(
            patient_id=patient.id,
            pump_id=pump.id,
            starts_at=at(due(session, patient), h),
            location_id=world.clinic.id,
            clinician_id=world.users["nurse"].id,
            booked_by_id=world.users["nurse"].id,
        )
        for h in (9, 10)
    ]
    session.add(rows[0])
    session.commit()
    session.add(rows[1])
    with pytest.raises(IntegrityError):
        session.commit()
    session.rollback()


@pytest.mark.slow
def test_two_people_creating_the_same_mrn_get_one_patient_and_a_form_error(world, session, as_role, caplog):
    data = form_of(
        patient_data(world, mrn="RACE-4471", first_name="Ada", last_name="Byron"), referred_on=TODAY.isoformat()
    )
    forms = [data | {"submission_key": f"mrn{i}" * 8} for i in range(6)]
    with caplog.at_level(logging.DEBUG):
        responses = race([as_role("nurse") for _ in range(6)], "/patients/new", forms)
    assert count(session, Patient.id, Patient.mrn_key == "race-4471") == 1
    assert codes(responses) == [302] + [422] * 5
    assert all(
        "Another patient already has this MRN." in r.get_data(as_text=True) for r in responses if r.status_code == 422
    )
    assert "RACE-4471" not in caplog.text and "race-4471" not in caplog.text  # no identifier in any log line


def test_a_refused_post_frees_its_key_for_the_corrected_one(world, session, as_role):
    patient = make_patient(session, world)
    move(session, world, patient, "trial", days_ago=3)
    nurse = as_role("nurse")
    bad = form_of(bolus_data(TODAY), outcome="", submission_key=KEY)
    assert nurse.post(f"/patients/{patient.id}/bolus", bad).status_code == 422
    assert count(session, FormSubmission.key) == 0
    good = form_of(bolus_data(TODAY), submission_key=KEY)
    assert nurse.post(f"/patients/{patient.id}/bolus", good).status_code == 302
    assert count(session, TrialBolus.id) == 1


def test_old_form_keys_are_purged_nightly(world, session):
    from datetime import UTC, datetime

    from tracker.services.maintenance import purge_form_keys

    now = datetime(2026, 12, 3, 8, tzinfo=UTC)
    session.add_all(
        [
            FormSubmission(key="old", user_id=world.users["nurse"].id, created_at=now - timedelta(days=3)),
            FormSubmission(key="new", user_id=world.users["nurse"].id, created_at=now - timedelta(hours=5)),
        ]
    )
    session.commit()
    assert purge_form_keys(session, now, 2) == 1
    assert session.scalars(select(FormSubmission.key)).all() == ["new"]
