"""A nurse corrects a mistyped refill: the form starts with what was typed, the preview shows the earlier date,
and the refills table keeps the original struck through with who, when and why (issue 17, item 8)."""

from datetime import datetime, time, timedelta
from decimal import Decimal

from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago
from tracker.formats import fmt_date
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import current_pump


def test_a_nurse_corrects_a_mistyped_refill_volume(page, world, session, shot):
    patient = implanted_days_ago(session, world, 10)
    pump = current_pump(session, patient.id)
    visit_at = datetime.combine(TODAY - timedelta(days=2), time(9), CLINIC_ZONE)
    record_refill(
        session,
        world.actor(),
        pump.id,
        RefillEntry(
            visit_at=visit_at,
            expected_residual_ml=Decimal(15),
            actual_residual_ml=Decimal(15),
            concentration_mcg_per_ml=500,
            volume_added_ml=Decimal(20),
            resulting_volume_ml=Decimal(20),
        ),
        True,
        datetime.now(CLINIC_ZONE),
    )
    sign_in(page, world.users["nurse"].email)
    page.goto(f"/patients/{patient.id}")
    old_due = page.locator(".due .big").inner_text()
    page.locator(".pump-panel tr[id^=refill-]").first.get_by_role("link", name="Correct").click()

    expect(page.get_by_label("Resulting reservoir volume (mL)")).to_have_value("20.0")  # what was typed
    page.get_by_label("Volume added (mL)").fill("18")
    page.get_by_label("Resulting reservoir volume (mL)").fill("18")
    page.get_by_label("Why is the entry corrected? (shown with the original)").fill("18 mL went in; 20 was typed")
    page.get_by_role("button", name="Preview dates and warnings").click()
    # 18 mL instead of 20 at 0.6 mL a day: 3.33 days less to the alarm, due 4 days sooner (day 19, not 23).
    new_due = fmt_date(TODAY - timedelta(days=2) + timedelta(days=19))
    expect(page.locator(".big-date strong")).to_have_text(new_due)
    page.get_by_role("button", name="Save correction").click()

    expect(page.get_by_text("Refill corrected")).to_be_visible()
    expect(page.locator(".due .big")).to_have_text(new_due)
    assert new_due != old_due
    voided = page.locator(".pump-panel tr.voided")
    expect(voided).to_contain_text("20 → 20 mL")
    expect(voided.locator("td").first).to_have_css("text-decoration-line", "line-through")
    expect(page.locator(".pump-panel")).to_contain_text("Corrected by Test Nurse on")
    expect(page.locator(".pump-panel")).to_contain_text("18 mL went in; 20 was typed")
    table = page.locator(".pump-panel .patient-grid")
    table.scroll_into_view_if_needed()
    # docs/issue-17/corrected-refill.png is this panel, copied by hand when the page changes: a test run never
    # writes into the tracked tree (the full page goes to artifacts/screenshots/, which git ignores).
    shot(page, "corrected-refill")
