"""Issue 19, items 2 and 3 in the browser: a nurse finds patients from the header's search box on another page,
then prints tomorrow's refills from the calendar: under print media no menu, no filters, and the table fits A4."""

import re
from datetime import UTC, datetime, time, timedelta

from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago, make_patient
from tracker.clinical.search import mrn_key
from tracker.formats import fmt_date
from tracker.services.bookings import book_refill

TOMORROW = TODAY + timedelta(days=1)
A4_PRINTABLE_PX = 718  # 210 mm less print.css's 2 x 10 mm side margins, at 96 px an inch


def named(session, patient, first, last, mrn):
    patient.first_name, patient.last_name, patient.mrn, patient.mrn_key = first, last, mrn, mrn_key(mrn)
    session.commit()
    return patient


def test_a_nurse_searches_from_the_header_and_prints_tomorrows_refills_on_a4(page, world, session, shot):
    lisa = named(session, implanted_days_ago(session, world, 20), "Lisa", "Castillo", "MRN8620417")
    make_patient(session, world, first_name="Mark", last_name="Castillo", mrn="MRN8621950")
    book_refill(
        session,
        world.actor("coordinator"),
        lisa.id,
        datetime.combine(TOMORROW, time(9, 15), CLINIC_ZONE),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        datetime.now(UTC),
    )

    sign_in(page, world.users["nurse"].email)
    page.goto("/worklist")
    search = page.get_by_role("search", name="Find a patient")
    box = search.get_by_label("Find a patient")
    box.fill("Castillo, Lisa")
    box.press("Enter")
    page.wait_for_url(f"**/patients/{lisa.id}")
    expect(page.get_by_role("heading", level=1)).to_contain_text("Castillo, Lisa")

    box.fill("castillo")  # two of them: the patient list, filtered
    box.press("Enter")
    page.wait_for_url(re.compile(r"/patients\?q=castillo&status=all$"))
    expect(page.locator("table.striped tbody tr")).to_have_count(2)

    box.fill("8620417")  # the MRN without its prefix
    box.press("Enter")
    page.wait_for_url(f"**/patients/{lisa.id}")

    page.goto(f"/calendar?view=week&date={TOMORROW.isoformat()}")
    page.get_by_role("link", name=fmt_date(TOMORROW), exact=True).click()
    page.wait_for_url(re.compile(r"/calendar/print\?span=day&date="))
    row = page.locator("tr[data-pump]").filter(has_text="Castillo, Lisa")
    expect(row).to_contain_text("09:15")
    expect(row).to_contain_text("Baclofen 500 mcg/mL")
    expect(row.locator("td.volume")).to_contain_text("20 mL")
    expect(page.get_by_role("button", name="Print")).to_be_visible()  # on screen only

    page.emulate_media(media="print")
    page.set_viewport_size({"width": A4_PRINTABLE_PX, "height": 1000})
    expect(page.get_by_role("button", name="Print")).to_be_hidden()
    expect(page.locator("nav, header.topbar, form, select, input")).to_have_count(0)
    table_right, client, scroll = page.evaluate(
        "() => [document.querySelector('table.sheet-table').getBoundingClientRect().right,"
        " document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert table_right <= client == A4_PRINTABLE_PX and scroll <= A4_PRINTABLE_PX, (table_right, client, scroll)
    pdf = page.pdf(format="A4", print_background=True)
    assert pdf.startswith(b"%PDF") and len(re.findall(rb"/Type\s*/Page\b", pdf)) == 1, "one A4 page"
    shot(page, "print-day-list")
