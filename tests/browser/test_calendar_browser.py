"""A coordinator books an overdue patient from the worklist: the pump stays late (red) until the refill is
recorded, with the booking's verdict beside it."""

from datetime import timedelta

from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import TODAY, implanted_days_ago
from tracker.models import RefillSchedule
from tracker.services.refills import current_pump


def test_coordinator_books_an_overdue_patient_from_the_worklist(page, world, session, shot):
    overdue = implanted_days_ago(session, world, 26)  # Kennesaw Clinic; due 3 days ago, alarm in 4
    elsewhere = implanted_days_ago(session, world, 26)
    elsewhere.location_id = world.sites["Buckhead Clinic"].id
    session.commit()
    due = session.get(RefillSchedule, current_pump(session, overdue.id).id).due_date

    sign_in(page, world.users["coordinator"].email)
    page.goto(f"/calendar?date={due.isoformat()}")
    page.get_by_label("Location").select_option(label="Kennesaw Clinic")  # applies on change
    page.wait_for_url("**location=*")
    chip = page.locator(f"a.chip.kind-due[href='/patients/{overdue.id}#pump']")
    expect(chip).to_have_class("chip urgency-overdue kind-due")
    expect(page.locator(f"a.chip[href='/patients/{elsewhere.id}#pump']")).to_have_count(0)
    shot(page, "calendar-month-filtered")

    page.get_by_role("link", name="Worklist", exact=True).click()
    row = page.locator(f"#p{overdue.id}")
    expect(row.locator(".reasons")).to_contain_text("Refill overdue")
    row.get_by_role("button", name="Book").click()
    page.get_by_label("Date and time (clinic's local time)").fill(
        (TODAY + timedelta(days=1)).strftime("%Y-%m-%dT10:30")
    )
    page.get_by_label("Why after the due date (only if it is)").fill("Earliest slot the patient can reach")
    page.get_by_role("button", name="Book refill").click()

    expect(page.get_by_text("Refill booked for")).to_be_visible()
    expect(page.get_by_role("heading", name="Refills needing action")).to_be_visible()
    late = page.locator(f"#p{overdue.id}")
    expect(late).to_have_count(1)  # a booking after the due date does not make the pump safe
    expect(late.locator(".reasons")).to_contain_text("Booked after the due date")
    expect(page.locator(f"#p{elsewhere.id}")).to_have_count(1)

    page.goto(f"/calendar?date={due.isoformat()}&location={world.clinic.id}")
    expect(chip).to_have_class("chip urgency-overdue kind-due")
    expect(page.locator(f"a.chip.kind-appointment[href='/patients/{overdue.id}#pump']")).to_contain_text("10:30")
    shot(page, "calendar-after-booking")
