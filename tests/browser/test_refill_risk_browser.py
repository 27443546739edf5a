"""Issue 16's whole task in a real browser: a pump past its alarm date is red at the top of the coordinator's
worklist; the coordinator cannot book that late and asks a physician in one click; the physician sees it in the
queue and books with an override; the pump stays on the worklist (booked after the alarm date) until the refill is
recorded, then leaves it. Screenshots of each step go to artifacts/screenshots/."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import TODAY, implanted_days_ago
from tracker.clinical import refill_risk
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import current_pump


def sign_out(page):
    page.locator(".topbar .who summary").click()  # sign-out sits in the account's drop-down under the name
    page.get_by_role("button", name="Sign out").click()


def test_a_pump_past_its_alarm_goes_to_a_physician_and_stays_until_refilled(page, world, session, shot):
    late = implanted_days_ago(session, world, 31)  # due 8 days ago, alarm yesterday, empty in 2 days
    implanted_days_ago(session, world, 20)  # due in 3 days: less urgent, below it
    slot = (TODAY + timedelta(days=5)).strftime("%Y-%m-%dT10:00")

    sign_in(page, world.users["coordinator"].email)
    page.goto("/worklist")
    first = page.locator("article.work-row").first
    expect(first).to_have_attribute("id", f"p{late.id}")  # most urgent first
    expect(first).to_have_attribute("data-urgency", refill_risk.PAST_ALARM)
    expect(first.locator(".reasons")).to_contain_text(refill_risk.LABELS[refill_risk.PAST_ALARM])
    shot(page, "issue16-1-worklist-past-alarm")

    first.get_by_role("button", name="Book").click()
    page.get_by_label("Date and time (clinic's local time)").fill(slot)
    page.get_by_label("Why after the due date (only if it is)").fill("Patient abroad until then")
    page.get_by_role("button", name="Book refill").click()
    expect(page.get_by_text("refused unless a physician overrides")).to_be_visible()
    page.get_by_label("Note for the physician").fill("No earlier slot the patient can reach; please decide")
    shot(page, "issue16-2-coordinator-refused-asks")
    page.get_by_role("button", name="Ask a physician").click()
    expect(page.get_by_text("Sent to the physicians")).to_be_visible()
    expect(page.locator("#physician-requests")).to_contain_text("No earlier slot the patient can reach")
    sign_out(page)

    sign_in(page, world.users["physician"].email)
    page.goto("/queue")
    request = page.locator("article[id^='request-']").filter(has_text=late.mrn)
    expect(request).to_contain_text(refill_risk.LABELS[refill_risk.PAST_ALARM])
    expect(request).to_contain_text("No earlier slot the patient can reach")
    shot(page, "issue16-3-physician-queue")
    request.get_by_label("Your answer (required to decline)").fill("Book it; I will call the patient today")
    request.get_by_role("button", name="Approve").click()
    page.get_by_label("Date and time (clinic's local time)").fill(slot)
    page.get_by_label("Why after the due date (only if it is)").fill("Patient abroad until then")
    page.get_by_label("Physician override: why after the alarm date (only if it is)").fill(
        "Called the patient: no withdrawal signs; seen in emergency if any"
    )
    page.get_by_role("button", name="Book refill").click()
    expect(page.locator(".flash.success")).to_contain_text("Refill booked for")
    sign_out(page)

    sign_in(page, world.users["coordinator"].email)
    page.goto("/worklist")
    row = page.locator(f"#p{late.id}")
    expect(row).to_have_count(1)  # the booking does not make the pump safe
    expect(row).to_have_attribute("data-urgency", refill_risk.PAST_ALARM)
    expect(row.locator(".reasons")).to_contain_text(refill_risk.LABELS[refill_risk.AFTER_EMPTY])
    shot(page, "issue16-4-worklist-booked-late-stays")
    page.goto(f"/patients/{late.id}")
    expect(page.locator(".risk-banner.tone-red")).to_contain_text(refill_risk.LABELS[refill_risk.PAST_ALARM])
    expect(page.locator(".risk-banner.tone-amber")).to_contain_text(refill_risk.LABELS[refill_risk.AFTER_EMPTY])
    expect(page.locator("#physician-requests")).to_contain_text("Approved")
    shot(page, "issue16-5-patient-page")

    now = datetime.now(UTC)
    record_refill(
        session,
        world.actor("nurse"),
        current_pump(session, late.id).id,
        RefillEntry(
            visit_at=now - timedelta(minutes=5),
            expected_residual_ml=Decimal("0.5"),
            actual_residual_ml=Decimal("0.5"),
            concentration_mcg_per_ml=500,
            volume_added_ml=Decimal("19.5"),
            resulting_volume_ml=Decimal(20),
        ),
        True,
        now,
    )
    page.goto("/worklist")
    expect(page.locator(f"#p{late.id}")).to_have_count(0)
    page.goto(f"/patients/{late.id}")
    expect(page.locator(".risk-banner")).to_have_count(0)
    shot(page, "issue16-6-after-refill")
