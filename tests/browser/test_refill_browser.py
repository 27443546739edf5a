"""A nurse records a refill with a concentration change: the bridge-bolus warning, then the new due date."""

from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import make_patient, to_adjustment


def test_refill_with_a_concentration_change(page, world, session, shot):
    patient = to_adjustment(session, world, make_patient(session, world, last_name="Refillson", referred_days_ago=40))
    sign_in(page, world.users["nurse"].email)
    page.goto(f"/patients/{patient.id}")
    old_due = page.locator(".due .big").inner_text()
    expect(page.locator(".why")).to_contain_text("minus the 7-day buffer")
    page.get_by_role("button", name="Record refill").click()

    page.get_by_label("Actual residual aspirated (mL)").fill("14")
    page.get_by_label("Expected residual (mL, from the programmer)").fill("14")
    # Its accessible name is the label without the required mark (aria-hidden).
    page.get_by_role("combobox", name="Concentration", exact=True).select_option(label="1000 mcg/mL")
    page.get_by_role("button", name="Preview dates and warnings").click()
    warning = page.locator('li[data-code="bridge_bolus"]')
    expect(warning).to_be_visible()
    expect(warning).to_contain_text("bridge bolus")
    new_due = page.locator(".big-date strong").inner_text()
    assert new_due != old_due
    shot(page, "refill-preview")

    page.get_by_role("button", name="Save refill").click()  # the bridge bolus question is not answered yet
    expect(page.get_by_text("say whether a bridge bolus was programmed")).to_be_visible()
    page.get_by_label("Bridge bolus programmed?").select_option("Yes")
    page.get_by_label("Bridge bolus (mcg)").fill("40")
    page.get_by_role("button", name="Save refill").click()
    expect(page.get_by_text("Acknowledge the high-severity warnings")).to_be_visible()
    page.get_by_label("I have read the high-severity warnings above and act on them").check()
    page.get_by_role("button", name="Save refill").click()

    expect(page.get_by_text("Refill recorded")).to_be_visible()
    expect(page.locator(".due .big")).to_have_text(new_due)
    expect(page.locator(".pump-panel")).to_contain_text("bridge 40 mcg")
    expect(page.locator(".figures .concentration")).to_contain_text("bridge bolus 40 mcg programmed")
    page.locator("#pump").scroll_into_view_if_needed()
    shot(page, "pump-panel")
