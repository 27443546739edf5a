"""A nurse opens the quality dashboard on demo data, reads the charts, opens the patients behind a figure,
and prints it. Screenshots: artifacts/screenshots/dashboard*.png."""

from playwright.sync_api import expect

from tests.support.factories import TODAY
from tracker.demo import seed_demo

DEMO_PASSWORD = "demo-password-1234"


def test_nurse_reads_the_dashboard_opens_a_figure_and_prints(page, session, shot):
    seed_demo(session, 120, 1, TODAY, DEMO_PASSWORD)
    page.goto("/login")
    page.get_by_label("E-mail").fill("nurse1@demo.example")
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.goto("/quality")

    expect(page.get_by_role("heading", name="Refills done on or before the due date")).to_be_visible()
    drawn = page.evaluate("() => [...document.querySelectorAll('canvas')].map((c) => !!window.Chart.getChart(c))")
    assert drawn == [True, True, True, True]
    shot(page, "dashboard")
    page.set_viewport_size({"width": 820, "height": 1180})
    shot(page, "dashboard-tablet")

    page.emulate_media(media="print")
    page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
    expect(page.locator("header.topbar")).to_be_hidden()
    expect(page.locator("form.filters")).to_be_hidden()
    path = shot(page, "dashboard-print")
    page.pdf(path=str(path.with_suffix(".pdf")), format="A4", print_background=True)
    page.emulate_media(media="screen")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.locator(".tile").first.click()
    expect(page.get_by_role("heading", name="Refills on or before the due date")).to_be_visible()
    expect(page.locator("td.counted li").first).to_contain_text("on time")
    shot(page, "dashboard-drilldown")
