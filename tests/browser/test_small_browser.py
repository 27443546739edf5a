"""Issue 19's small things in the browser: the feed page's Copy button (static/js/copy.js under the CSP), the
favicon every page names, and the offer to book after a refill, followed to the booking form."""

from playwright.sync_api import expect
from sqlalchemy import func, select

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import TODAY, implanted_days_ago
from tracker.models import RefillAppointment, RefillSchedule
from tracker.services.bookings import suggested_start
from tracker.services.refills import current_pump


def test_the_feed_address_is_copied_with_one_click_and_the_page_has_its_icon(page, world):
    missing = []
    page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    sign_in(page, world.users["nurse"].email)
    page.goto("/account/calendar")
    page.get_by_role("button", name="Make my feed address").click()
    expect(page.get_by_text("Calendar address made")).to_be_visible()
    address = page.get_by_label("Feed address", exact=True).input_value()
    page.get_by_role("button", name="Copy address").click()
    expect(page.locator("#feed-copied")).to_have_text("Copied.")
    assert page.evaluate("navigator.clipboard.readText()") == address and address.endswith(".ics")
    assert page.evaluate("fetch('/favicon.ico').then(r => r.status)") == 200
    assert missing == []


def test_after_recording_a_refill_the_nurse_is_offered_the_booking_form(page, world, session):
    patient = implanted_days_ago(session, world, 15)
    pump_id = current_pump(session, patient.id).id
    sign_in(page, world.users["nurse"].email)
    page.goto(f"/patients/{patient.id}/refill")
    residual = page.get_by_label("Expected residual (mL, from the programmer)").input_value()
    page.get_by_label("Actual residual aspirated (mL)").fill(residual)
    page.get_by_role("button", name="Preview dates and warnings").click()
    page.get_by_role("button", name="Save refill").click()
    offer = page.locator("#book-next")
    expect(offer).to_contain_text("Book the next refill?")
    offer.get_by_role("button", name="Book the next refill").click()
    session.expire_all()
    slot = suggested_start(session.get(RefillSchedule, pump_id).due_date, TODAY)
    expect(page.get_by_label("Date and time (clinic's local time)")).to_have_value(slot.strftime("%Y-%m-%dT%H:%M"))
    assert session.scalar(select(func.count(RefillAppointment.id))) == 0, "the form is the user's to save"
