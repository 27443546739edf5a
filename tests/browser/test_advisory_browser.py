"""Issue 21 in the browser: a nurse enters a device advisory from a serial range, the advisory page lists the
affected pumps with "reached n of N", and a follow-up recorded inline moves the count and leaves the worklist."""

from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import implanted_days_ago


def test_an_advisory_entered_in_the_browser_lists_the_range_and_counts_each_patient_reached(page, world, session):
    inside = implanted_days_ago(session, world, 3, serial="NGP100010")
    edge = implanted_days_ago(session, world, 3, serial="ngp 100500")
    outside = implanted_days_ago(session, world, 3, serial="NGP100501")
    session.commit()
    sign_in(page, world.users["nurse"].email)
    page.get_by_role("link", name="Advisories").click()
    page.get_by_role("button", name="New advisory").click()
    page.get_by_label("Title").fill("Motor stall: foreign particle")
    page.get_by_label("Source (regulator or manufacturer)").fill("FDA Class I recall")
    page.get_by_label("Issued on").fill("2026-06-30")
    page.get_by_label("Pump models affected").select_option(label="SynchroMed II 20 mL")
    page.get_by_label("Serial numbers and ranges").fill("NGP100000-NGP100500")
    page.get_by_label("Recommended action (as the notice says)").fill("Confirm the pump runs; teach the signs.")
    page.get_by_label("The clinic's follow-up").select_option(label="Call the patient within N days")
    page.get_by_label("Call within (days)").fill("7")
    page.get_by_role("button", name="Save and list affected pumps").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Motor stall: foreign particle")
    expect(page.locator("[data-progress]")).to_have_text("reached 0 of 2")
    expect(page.locator(f'tr[data-mrn="{inside.mrn}"]')).to_be_visible()
    expect(page.locator(f'tr[data-mrn="{edge.mrn}"]')).to_be_visible()
    expect(page.locator(f'tr[data-mrn="{outside.mrn}"]')).to_have_count(0)

    row = page.locator(f'tr[data-mrn="{inside.mrn}"]')
    row.get_by_label("Status").select_option(label="Informed")
    row.get_by_label("Notes").fill("Phoned; knows the signs")
    row.get_by_role("button", name="Save").click()
    expect(page.locator("[data-progress]")).to_have_text("reached 1 of 2")
    expect(page.locator(f'tr[data-mrn="{inside.mrn}"]')).to_have_attribute("data-status", "informed")

    page.goto("/worklist")
    expect(page.get_by_text(edge.mrn)).to_be_visible()
    expect(page.get_by_text(inside.mrn)).to_have_count(0)
