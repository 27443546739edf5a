"""Today, each role's home page: sign-in lands there, the most urgent work is first, in the worklist's words, and
every count opens the full list it counts."""

import re
from datetime import datetime, time, timedelta
from html import unescape

import pytest
import time_machine

from tests.support.factories import PASSWORD, TODAY, implanted_days_ago, make_user
from tracker.clinic_zone import clinic_zone
from tracker.formats import fmt_date, fmt_datetime
from tracker.models import DigestRun, OutboxMessage
from tracker.models.digest import DEAD, SENT
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.services import escalation
from tracker.services.bookings import book_refill, log_contact
from tracker.services.home import HOME_ROWS

TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture(autouse=True)
def now(app):
    """The clinic's clock, pinned to 11:00 on the factories' TODAY (pages and services read it)."""
    pinned = datetime.combine(TODAY, time(11), clinic_zone())
    with time_machine.travel(pinned, tick=False):
        yield pinned


def words(page: str) -> str:
    """The page's text, tags dropped and spaces folded: what a reader sees."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", page)).split())


def card(page: str, heading_id: str) -> str:
    """One card of the home page, from its heading to the end of its section."""
    start = page.index(f'id="{heading_id}"')
    return page[start : page.index("</section>", start)]


def count_link(page: str, heading_id: str) -> tuple[str, str]:
    """(href, count) of the count beside a card's heading."""
    found = re.search(r'<a class="home-count[^"]*" href="([^"]+)" data-count="([^"]*)"', card(page, heading_id))
    return unescape(found.group(1)), found.group(2)


def signed_in(make_client, user):
    client = make_client()
    client.login(user.email)
    return client


def past_alarm(session, world, **patient):
    """Default pump (due day 23, alarm day 30, empty day 33) filled 31 days ago: past its alarm date."""
    return implanted_days_ago(session, world, 31, patient)


def book(session, world, patient, day, hour=10, role="coordinator", **reasons):
    starts_at = datetime.combine(day, time(hour), clinic_zone())
    return book_refill(
        session,
        world.actor(role),
        patient.id,
        starts_at,
        world.clinic.id,
        world.users["nurse"].id,
        reasons.get("late_reason", ""),
        reasons.get("override_reason", ""),
        datetime.combine(TODAY, time(11), clinic_zone()),
    )


def test_every_role_lands_on_today_after_signing_in(world, make_client):
    for role, heading in (
        ("nurse", "My patients who need action"),
        ("coordinator", "Needs booking or a call"),
        ("physician", "Needs a physician"),
        ("admin", "Health"),
    ):
        client = make_client()
        client.refresh_token("/login")
        response = client.post("/login", {"email": world.users[role].email, "password": PASSWORD})
        assert response.status_code == 302 and response.location == "/", role
        page = client.get("/").get_data(as_text=True)
        assert "<h1>Today" in page and heading in words(page), role
        assert '<a href="/" class="brand">' in page, "the brand link goes home"


def test_an_overdue_pump_is_first_on_its_nurses_today_and_not_on_another_nurses(session, world, as_role, make_client):
    due_soon = implanted_days_ago(session, world, 20)  # due on day 23: in 3 days, not booked
    late = past_alarm(session, world)
    other_nurse = make_user(session, "nurse", "nurse2@example.org", world.clinic)
    theirs = past_alarm(session, world, nurse_id=other_nurse.id)

    page = as_role("nurse").get("/").get_data(as_text=True)
    needing = card(page, "needing-h")
    assert late.mrn in needing and needing.index(late.mrn) < needing.index(due_soon.mrn), "most urgent first"
    assert theirs.mrn not in needing
    seen = words(needing)
    assert f"{late.last_name}, {late.first_name} {late.mrn} Past the low-reservoir alarm date" in seen
    assert f"{due_soon.mrn} Refill due soon" in seen and "not booked" in seen
    assert count_link(page, "needing-h") == (f"/worklist?nurse={world.users['nurse'].id}", "2")
    assert "1 Past the low-reservoir alarm date" in seen and "1 Refill due soon" in seen, "counts per reason"

    other_card = card(signed_in(make_client, other_nurse).get("/").get_data(as_text=True), "needing-h")
    assert theirs.mrn in other_card and late.mrn not in other_card and due_soon.mrn not in other_card


def test_the_nurses_count_matches_the_worklist_it_opens(session, world, as_role):
    for days in (20, 25, 31, 34):
        implanted_days_ago(session, world, days)
    nurse = as_role("nurse")
    url, count = count_link(nurse.get("/").get_data(as_text=True), "needing-h")
    listed = nurse.get(url).get_data(as_text=True)
    assert re.search(rf'<span class="count-badge danger">{count}</span>', listed), (url, count)


def test_only_the_first_rows_are_shown_and_the_rest_are_one_click_away(session, world, as_role):
    for _ in range(HOME_ROWS + 2):
        past_alarm(session, world)
    page = as_role("nurse").get("/").get_data(as_text=True)
    needing = card(page, "needing-h")
    assert needing.count('class="home-row ') == HOME_ROWS
    assert f"All {HOME_ROWS + 2} on the worklist" in words(needing)


def test_tomorrows_booked_refill_appears_on_today_for_the_nurse_and_the_coordinator(session, world, as_role):
    patient = implanted_days_ago(session, world, 20)  # due in 3 days
    book(session, world, patient, TOMORROW, hour=14)
    for role in ("nurse", "coordinator"):
        page = as_role(role).get("/").get_data(as_text=True)
        booked = card(page, "booked-h")
        tomorrow_part = words(booked.split("Tomorrow")[1])
        assert f"14:00 {patient.last_name}, {patient.first_name} {patient.mrn}" in tomorrow_part, role
        assert "Booked before the due date" in tomorrow_part, "the calendar's words for the booking"
        assert patient.mrn not in booked.split("Tomorrow")[0], "not under today"
        links = re.findall(r'href="([^"]+)" data-count="(\d+)">\d+ refills? booked', booked)
        assert [(unescape(u), n) for u, n in links] == [
            (f"/calendar?view=list&date={TODAY}&location={world.clinic.id}", "0"),
            (f"/calendar?view=list&date={TOMORROW}&location={world.clinic.id}", "1"),
        ], role


def test_a_refill_booked_at_another_clinic_is_not_on_the_nurses_today(session, world, as_role):
    elsewhere = world.sites["Buckhead Clinic"]
    patient = implanted_days_ago(session, world, 20, {"location_id": elsewhere.id})
    here = implanted_days_ago(session, world, 20)
    book(session, world, patient, TOMORROW)
    book(session, world, here, TOMORROW, hour=9)
    booked = card(as_role("nurse").get("/").get_data(as_text=True), "booked-h")
    assert here.mrn in booked and patient.mrn not in booked


def test_an_answered_request_shows_its_answer_and_an_open_one_shows_it_waits(session, world, as_role, now):
    answered, waiting = past_alarm(session, world), past_alarm(session, world)
    nurse = world.actor("nurse")
    asked = escalation.ask_physician(
        session, nurse, answered.id, BOOKING_AFTER_ALARM, "Earliest slot is Friday", None, now
    )
    escalation.answer(
        session, world.actor("physician"), asked.id, asked.version, False, "Refill her in clinic today instead", now
    )
    escalation.ask_physician(session, nurse, waiting.id, BOOKING_AFTER_ALARM, "", None, now)

    seen = words(card(as_role("nurse").get("/").get_data(as_text=True), "requests-h"))
    assert f"{answered.last_name}, {answered.first_name} {answered.mrn} Declined · Booking after the alarm date" in seen
    assert "Test Physician" in seen and "“Refill her in clinic today instead”" in seen
    assert f"{waiting.mrn} Waiting for a physician · Booking after the alarm date" in seen

    physician = as_role("physician").get("/").get_data(as_text=True)
    tally = words(card(physician, "tally-h"))
    assert "1 request to answer 1 Booking after the alarm date" in tally and "Dose sign-off" not in tally
    assert "1 pump nobody has asked about 1 Past the low-reservoir alarm date" in tally, "as the queue lists them"
    assert count_link(physician, "queue-h") == ("/queue", "2")
    assert f"{waiting.mrn} Request: Booking after the alarm date" in words(card(physician, "queue-h"))


def test_an_answer_older_than_the_window_leaves_today(session, world, as_role, now):
    patient = past_alarm(session, world)
    asked = escalation.ask_physician(
        session, world.actor("nurse"), patient.id, BOOKING_AFTER_ALARM, "", None, now - timedelta(days=20)
    )
    escalation.answer(
        session, world.actor("physician"), asked.id, asked.version, False, "Too late now", now - timedelta(days=15)
    )
    assert patient.mrn not in card(as_role("nurse").get("/").get_data(as_text=True), "requests-h")


def test_the_coordinator_sees_calls_to_try_again_until_the_patient_is_reached(session, world, as_role, now):
    unreached, reached = past_alarm(session, world), past_alarm(session, world)
    coordinator = world.actor("coordinator")
    log_contact(session, coordinator, unreached.id, "phone", "no_answer", "", now - timedelta(hours=2))
    log_contact(session, coordinator, reached.id, "phone", "voicemail", "", now - timedelta(hours=3))
    log_contact(session, coordinator, reached.id, "phone", "reached", "Coming Friday", now - timedelta(hours=1))

    page = as_role("coordinator").get("/").get_data(as_text=True)
    retry = card(page, "retry-h")
    assert unreached.mrn in retry and reached.mrn not in retry
    assert "Last attempt" in words(retry) and "no answer (phone, Test Coordinator)" in words(retry)
    assert count_link(page, "retry-h") == (f"/worklist?location={world.clinic.id}", "1")
    assert count_link(page, "needing-h") == (f"/worklist?location={world.clinic.id}", "2")


def test_the_coordinators_today_is_their_clinics(session, world, as_role):
    ours = past_alarm(session, world)
    theirs = past_alarm(session, world, location_id=world.sites["Buckhead Clinic"].id)
    page = as_role("coordinator").get("/").get_data(as_text=True)
    assert ours.mrn in card(page, "needing-h") and theirs.mrn not in card(page, "needing-h")
    assert "Kennesaw Clinic" in words(page.split("</h1>")[1][:400])


def test_the_admin_is_asked_whether_a_scheduler_runs_when_no_digest_was_built_for_a_day(session, world, as_role, now):
    health = card(as_role("admin").get("/").get_data(as_text=True), "health-h")
    question = "None built for a day: is a flask scheduler process running?"
    assert f"Scheduler No digest built yet {question} This process: Off" in words(health)
    assert '<div class="bad">\n      <dt>Scheduler</dt>' in health
    session.add(
        DigestRun(digest_day=TODAY - timedelta(days=2), started_at=now - timedelta(hours=26), started_by="sched-1:4242")
    )
    session.commit()
    health = card(as_role("admin").get("/").get_data(as_text=True), "health-h")
    built = fmt_datetime(now - timedelta(hours=26))
    assert f"Last digest built {built} by sched-1:4242 {question}" in words(health)
    assert '<div class="bad">\n      <dt>Scheduler</dt>' in health


def test_the_admin_sees_the_dead_letters_and_the_last_complete_day(session, world, as_role, now):
    yesterday = TODAY - timedelta(days=1)
    session.add_all(
        [
            DigestRun(
                digest_day=TODAY - timedelta(days=2),
                started_at=now - timedelta(days=1),
                started_by="web-1:99",
                built_at=now,
                completed_at=now,
                recipients=1,
                sent=1,
            ),
            DigestRun(
                digest_day=yesterday,
                started_at=now - timedelta(hours=2),
                started_by="sched-1:4242",
                built_at=now,
                recipients=3,
                sent=1,
                dead=2,
            ),
        ]
    )
    session.add_all(
        [
            OutboxMessage(
                digest_day=yesterday,
                user_id=world.users[role].id,
                to_address=f"{role}@x.org",
                subject="s",
                text_body="t",
                html_body="h",
                message_id=f"<{role}@x>",
                status=DEAD if role != "admin" else SENT,
            )
            for role in ("nurse", "coordinator", "admin")
        ]
    )
    session.commit()

    page = as_role("admin").get("/").get_data(as_text=True)
    seen = words(card(page, "health-h"))
    assert "Dead letters 2 e-mails given up on" in seen
    assert f"Last complete digest day {fmt_date(TODAY - timedelta(days=2))}" in seen
    # The test app runs no scheduler of its own: the last digest built, by whichever process, says one runs.
    built = fmt_datetime(now - timedelta(hours=2))
    assert f"Scheduler Last digest built {built} by sched-1:4242 This process: Off" in seen
    assert "None built for a day" not in seen
    assert '<div class="">\n      <dt>Scheduler</dt>' in card(page, "health-h")
    assert re.search(r'<a href="/admin/digest" data-count="2">', page)
    assert "Off: no SMTP server is configured" in seen
