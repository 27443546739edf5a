"""A nurse's whole task in a real browser: sign in, create a patient, trial bolus, the journey to adjustment."""

import re

from playwright.sync_api import expect

from tests.support.factories import PASSWORD, TODAY
from tracker.demo import seed_demo


def sign_in(page, email):
    page.goto("/login")
    page.get_by_label("E-mail").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1, name=re.compile("^Today"))).to_be_visible()  # sign-in lands on Today


def move_to(page, label, **fields):
    page.get_by_role("button", name="Move stage").click()
    page.get_by_label("Move to").select_option(label=label)
    for name, value in fields.items():
        locator = page.get_by_label(name)
        if locator.evaluate("e => e.tagName") == "SELECT":
            locator.select_option(label=value)
        else:
            locator.fill(value)
    page.get_by_role("button", name="Record stage change").click()
    expect(page.get_by_text("Stage change recorded.")).to_be_visible()


def test_nurse_takes_a_patient_from_referral_to_adjustment(page, world, shot):
    sign_in(page, world.users["nurse"].email)
    page.goto("/patients")
    page.get_by_role("button", name="New patient").click()
    page.get_by_label("MRN").fill("BRW-001")
    page.get_by_label("First name").fill("Rosa")
    page.get_by_label("Last name").fill("Parks")
    page.get_by_label("Date of birth").fill("1961-02-04")
    page.get_by_label("Sex").select_option(label="Female")  # nothing is pre-selected
    page.get_by_label("Diagnosis").select_option(label="Spinal cord injury")
    page.get_by_label("Spasticity origin").select_option(label="Spinal")
    page.get_by_label("Home location").select_option(label="Kennesaw Clinic")
    page.get_by_role("button", name="Create patient").click()
    expect(page.get_by_role("heading", name=re.compile("Parks, Rosa"))).to_be_visible()

    move_to(page, "Trial")
    page.get_by_role("button", name="Record trial bolus").click()
    page.get_by_label("Dose (mcg)").fill("50")
    page.get_by_label("Ashworth before").select_option("3")
    page.get_by_label("Ashworth after").select_option("1+")
    page.get_by_label("Penn frequency before").select_option("3")
    page.get_by_label("Penn severity before").select_option("2")
    page.get_by_label("Penn frequency after").select_option("0")
    page.get_by_label("Hours of effect").fill("6")
    page.get_by_label("Outcome").select_option(label="Positive")
    page.get_by_role("button", name="Record bolus").click()
    expect(page.get_by_text("Trial bolus recorded.")).to_be_visible()
    expect(page.get_by_role("cell", name="3 → 1+")).to_be_visible()

    # The implantation fields appear only when implantation is chosen.
    page.get_by_role("button", name="Move stage").click()
    page.get_by_label("Move to").select_option(label="Evaluation")
    expect(page.get_by_label("Surgeon (implantation)")).to_be_hidden()
    page.get_by_label("Move to").select_option(label="Implantation")
    expect(page.get_by_label("Surgeon (implantation)")).to_be_visible()
    # The starting dose's guide, before typing: twice the 50 mcg trial bolus (6 h of effect).
    expect(page.locator("#start-guide")).to_contain_text("up to 100 mcg/day: twice the effective screening dose")
    page.go_back()
    move_to(
        page,
        "Implantation",
        **{
            "Surgery centre (implantation)": "Marietta Surgery Center",
            "Surgeon (implantation)": "Dr Okafor",
            "Pump model": "SynchroMed II 20 mL",
            "Serial number": "NGP778812",
            "Catheter tip level": "T10",
            "Fill volume (mL)": "20",
            "Concentration": "500 mcg/mL",
            "Starting dose (mcg/day)": "100",
        },
    )
    move_to(page, "Adjustment")

    timeline = page.locator("ol.timeline")
    for text in (
        "Referred",
        "Evaluation → Trial",
        "Trial → Implantation",
        "Implantation → Adjustment",
        "Marietta Surgery Center, surgeon Dr Okafor",
    ):
        expect(timeline).to_contain_text(text)
    expect(page.locator("h1 .badge")).to_have_text("Adjustment")
    shot(page, "journey-patient-page")


def test_screenshots_of_the_main_pages_with_demo_data(page, world, session, shot):
    seed_demo(session, 80, 3, TODAY, PASSWORD)
    sign_in(page, world.users["nurse"].email)
    page.goto("/patients")
    expect(page.locator("tbody tr")).to_have_count(50)
    shot(page, "patient-list")
    page.set_viewport_size({"width": 820, "height": 1180})  # a tablet held upright
    shot(page, "patient-list-tablet")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.get_by_role("link", name="Stage board").click()
    expect(page.locator(".column")).to_have_count(4)
    shot(page, "stage-board")
    page.locator(".column.stage-adjustment .card").first.click()
    expect(page.locator("ol.timeline li").first).to_be_visible()
    shot(page, "patient-page")
    page.get_by_role("link", name="Calendar").click()
    expect(page.locator("table.cal-grid")).to_be_visible()
    shot(page, "calendar-month")
    page.get_by_role("link", name="Worklist", exact=True).click()
    expect(page.locator("article.work-row").first).to_be_visible()
    shot(page, "worklist")
