"""Each main page reads in a fixed number of SQL statements, however many patients the clinic has (issue #8).

A page whose count grows with the data has a query inside a loop; the benchmark (bench/) measures the speed."""

import calendar as cal
from datetime import datetime, time, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.support.bulk import copy_patients
from tests.support.factories import TODAY, implanted_days_ago, make_patient
from tracker.clinic_zone import clinic_zone
from tracker.demo import seed_demo
from tracker.extensions import db
from tracker.models import Patient, Pump, RefillSchedule
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.services.bookings import book_refill, log_contact
from tracker.services.escalation import ask_physician
from tracker.statements import statements_run

DEMO_PASSWORD = "demo-password-1234"


def statements(client, url) -> int:
    """SQL statements one GET runs (the session's user load included), asserting the page renders."""
    with client.app.app_context():
        engine = db.engine
    with statements_run(engine) as seen:
        response = client.get(url)
    assert response.status_code == (302 if url.startswith("/search") else 200), (url, response.status_code)
    return len(seen)


def implanted_patient(session) -> int:
    """The first active patient in adjustment whose pump holds drug (seed_demo makes one among its first five)."""
    return session.scalar(
        select(Patient.id)
        .join(Pump, Pump.patient_id == Patient.id)
        .join(RefillSchedule, RefillSchedule.pump_id == Pump.id)
        .where(Patient.stage == "adjustment", Patient.status == "active")
        .order_by(Patient.id)
        .limit(1)
    )


def page_urls(session, world) -> dict[str, str]:
    weeks = cal.Calendar(firstweekday=0).monthdatescalendar(TODAY.year, TODAY.month)
    return {
        "patient list": f"/patients?stage=adjustment&location={world.clinic.id}",
        "patient list, unfiltered": "/patients",
        "patient list, by next refill due": "/patients?sort=due",
        "stage board": "/board",
        "patient page": f"/patients/{implanted_patient(session)}",
        "calendar month page": "/calendar",
        "calendar week page": f"/calendar?view=week&date={TODAY}",
        "calendar month data": f"/calendar/events.json?start={weeks[0][0]}&end={weeks[-1][-1]}",
        "calendar month data, every clinic": f"/calendar/events.json?start={weeks[0][0]}&end={weeks[-1][-1]}&location=",
        "worklist": "/worklist",
        "worklist, page 2": "/worklist?page=2",
        "printed day list": f"/calendar/print?span=day&date={TODAY}",
        "printed week list": f"/calendar/print?span=week&date={TODAY}",
        "printed worklist": "/worklist/print",
        "header search": "/search?q=a",  # several: the list (a redirect, counted as itself)
    }


SEEDED = 10  # seed_demo's first five patients cover every state; ten give each state's lists a second row


@pytest.fixture
def clinic_of(session, world):
    """`patients` in the world's clinic (so filters find them): ten of seed_demo's, then copies of those ten in
    bulk (tests/support/bulk.py), since a statement count needs many rows, not many different histories."""

    def seed(patients: int, seed: int) -> None:
        before = set(session.scalars(select(Patient.id)))
        seed_demo(session, SEEDED, seed, TODAY, DEMO_PASSWORD)
        session.execute(Patient.__table__.update().values(location_id=world.clinic.id))
        session.commit()
        copy_patients(session, sorted(set(session.scalars(select(Patient.id))) - before), patients // SEEDED - 1)

    return seed


@pytest.mark.slow
def test_every_main_page_reads_in_the_same_number_of_queries_for_10_and_200_patients(
    session, world, as_role, clinic_of
):
    clinic_of(10, 11)
    coordinator = as_role("coordinator")
    urls = page_urls(session, world)
    for url in urls.values():  # the calendar's data is audited once per 15 minutes: count the views after that
        coordinator.get(url)
    small = {name: statements(coordinator, url) for name, url in urls.items()}
    clinic_of(190, 12)
    assert session.scalar(select(db.func.count()).select_from(Patient)) == 200
    large = {name: statements(coordinator, url) for name, url in urls.items()}
    assert small == large


@pytest.mark.slow
def test_the_pages_show_the_seeded_patients_so_the_counts_mean_something(session, world, as_role, clinic_of):
    clinic_of(60, 13)
    coordinator = as_role("coordinator")
    urls = page_urls(session, world)
    listed = coordinator.get(urls["patient list"]).get_data(as_text=True)
    adjustment = session.scalars(
        select(Patient.mrn).where(Patient.stage == "adjustment", Patient.status == "active")
    ).all()
    assert adjustment and any(mrn in listed for mrn in adjustment)
    assert coordinator.get(urls["calendar month data"]).get_json(), "the month has due dates or bookings"
    assert "Pump" in coordinator.get(urls["patient page"]).get_data(as_text=True)
    week = coordinator.get(urls["printed week list"]).get_data(as_text=True)
    assert week.count("<tr data-pump=") >= 1, "the week has refills booked or due"
    assert coordinator.get(urls["printed worklist"]).get_data(as_text=True).count("<tr data-mrn=") >= 3


def add_audited_changes(session, world, count: int) -> None:
    """Audit rows naming clinics, nurses, pump models, pumps and drug concentrations by id, `count` of each kind."""
    from tests.support.factories import make_patient, make_user
    from tracker.models import DrugConcentration, PumpModel
    from tracker.services.audit import record

    actor = world.actor("nurse")
    sites = [site.id for site in world.sites.values()]
    models = session.scalars(select(PumpModel.id)).all()
    drugs = session.scalars(select(DrugConcentration.id)).all()
    for n in range(count):
        patient = make_patient(session, world)
        nurse = make_user(session, "nurse")
        record(
            session,
            actor,
            "update",
            "patient",
            patient.id,
            patient.id,
            {"location_id": sites[n % len(sites)], "nurse_id": None},
            {"location_id": sites[(n + 1) % len(sites)], "nurse_id": nurse.id},
        )
        record(
            session,
            actor,
            "create",
            "pump",
            5000 + n,
            patient.id,
            None,
            {"model_id": models[n % len(models)], "surgery_centre_id": world.centre.id, "serial": f"S{n}"},
        )
        record(
            session,
            actor,
            "create",
            "physician_request",
            7000 + n,
            patient.id,
            None,
            {
                "kind": "booking_after_alarm",
                "pump_id": 5000 + n,
                "payload": {"location_id": sites[n % len(sites)], "clinician_id": nurse.id},
            },
        )
        record(
            session,
            actor,
            "update",
            "drug_concentration",
            drugs[n % len(drugs)],
            None,
            {"stability_days": 90},
            {"stability_days": 60 + n},
        )
    session.commit()


def test_the_audit_page_reads_in_the_same_number_of_queries_however_many_names_its_rows_show(session, world, as_role):
    admin = as_role("admin")
    add_audited_changes(session, world, 1)
    admin.get("/admin/audit")
    small = statements(admin, "/admin/audit")
    add_audited_changes(session, world, 15)
    page = admin.get("/admin/audit").get_data(as_text=True)
    assert "Page 1 of 2" in page, "a full page of rows"
    assert f'Surgery centre:</span> <span class="now">{world.centre.name}<' in page
    assert 'Pump model:</span> <span class="now">SynchroMed' in page
    assert statements(admin, "/admin/audit") == small


HOME_ROLES = ("nurse", "coordinator", "physician", "admin")


def _everyone_ours(session, world) -> None:
    """Every patient the world nurse's, at the world's clinic (the refill schedule keeps a copy of the clinic)."""
    session.execute(Patient.__table__.update().values(location_id=world.clinic.id, nurse_id=world.users["nurse"].id))
    session.execute(RefillSchedule.__table__.update().values(location_id=world.clinic.id))
    session.commit()


def _unreached(session, world, now) -> None:
    """A call that did not reach every patient on the refill list, so the calls to try again fill up too."""
    for patient_id in session.scalars(select(RefillSchedule.patient_id).order_by(RefillSchedule.patient_id)):
        log_contact(session, world.actor("coordinator"), patient_id, "phone", "no_answer", "", now)


@pytest.mark.slow
def test_every_roles_home_reads_in_the_same_number_of_queries_for_3_and_30_patients(session, world, as_role):
    now = datetime.combine(TODAY, time(11), clinic_zone())
    with time_machine.travel(now, tick=False):  # no session "last seen" write between two counts
        late = implanted_days_ago(session, world, 31)  # past its alarm: on every list, the physicians' too
        booked = implanted_days_ago(session, world, 20)
        book_refill(
            session,
            world.actor("coordinator"),
            booked.id,
            now + timedelta(days=1),
            world.clinic.id,
            world.users["nurse"].id,
            "",
            "",
            now,
        )
        make_patient(session, world)
        ask_physician(session, world.actor("nurse"), late.id, BOOKING_AFTER_ALARM, "", None, now)
        _unreached(session, world, now)
        clients = {role: as_role(role) for role in HOME_ROLES}

        def counts() -> dict[str, int]:
            for client in clients.values():  # the calendar's events are cached while nothing changes: warm both
                client.get("/")
            return {role: statements(client, "/") for role, client in clients.items()}

        small = counts()
        seed_demo(session, 7, 14, TODAY, DEMO_PASSWORD)
        copy_patients(session, sorted(session.scalars(select(Patient.id))), 2)  # these ten three times: 30
        _everyone_ours(session, world)
        _unreached(session, world, now)
        assert session.scalar(select(db.func.count()).select_from(Patient)) == 30
        nurse_page = clients["nurse"].get("/").get_data(as_text=True)
        retry = clients["coordinator"].get("/").get_data(as_text=True).split('id="retry-h"')[1].split("</section>")[0]
        assert nurse_page.count('class="home-row ') > 3 and retry.count('class="home-row ') > 1, "longer lists"
        assert counts() == small
