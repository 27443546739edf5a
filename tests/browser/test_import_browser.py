"""A nurse imports a spreadsheet: upload, match two renamed columns, see the dry run's errors, fix the file,
import it with the progress bar, and read the summary."""

import re
from datetime import timedelta

from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import TODAY
from tests.web.test_import import HEADER, csv_bytes, evaluation_row, row, uploads_in_tmp  # noqa: F401

ROWS = 1100  # three batches of writes: the bar moves more than once


def spreadsheet(bad_line: int | None = None) -> bytes:
    rows = [row(n) if n % 3 else evaluation_row(n) for n in range(1, ROWS + 1)]
    if bad_line:
        rows[bad_line - 2]["date_of_birth"] = "02/30/1968"
    renamed = {"mrn": "Medical record number", "date_of_birth": "DOB"}
    header = [renamed.get(h, h) for h in HEADER]
    for r in rows:
        r["Medical record number"], r["DOB"] = r["mrn"], r["date_of_birth"]
    return csv_bytes(rows, header=header, encoding="cp1252")


def upload(page, data: bytes, shot=None) -> None:
    page.get_by_label("CSV file").set_input_files({"name": "clinic-export.csv", "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Upload and check").click()
    expect(page.get_by_role("heading", name="Match the columns")).to_be_visible()
    expect(page.get_by_label(re.compile("^MRN"))).to_have_value("0")  # guessed from "Medical record number"
    if shot:
        shot(page, "import-columns")
    page.get_by_role("button", name="Check the file").click()


def test_import_a_spreadsheet_fixing_its_errors_first(page, world, session, shot):
    sign_in(page, world.users["nurse"].email)
    page.goto("/import/")
    expect(page.get_by_role("link", name=re.compile("Download the template"))).to_be_visible()

    upload(page, spreadsheet(bad_line=5), shot)
    expect(page.get_by_role("heading", name=re.compile("1 problem"))).to_be_visible()
    problem = page.locator("table.issues tbody tr").first
    expect(problem).to_contain_text("5")
    expect(problem).to_contain_text("DOB")
    expect(problem).to_contain_text("02/30/1968")
    expect(problem).to_contain_text("not a real date")
    shot(page, "import-dry-run-errors")

    upload(page, spreadsheet())
    expect(page.get_by_role("heading", name="Ready to import")).to_be_visible()
    expect(page.locator(".figures")).to_contain_text(str(ROWS))
    expect(page.get_by_text("Windows-1252")).to_be_visible()
    page.get_by_role("button", name=f"Import {ROWS} patients").click()

    bar = page.locator("#import-progress")
    expect(bar).to_be_visible()
    summary = page.locator(".import-summary")
    expect(summary).to_be_visible(timeout=120_000)
    expect(summary).to_contain_text("Import finished")
    expect(summary).to_contain_text(f"{ROWS} patient rows")
    assert bar.evaluate("b => b.value === b.max")
    updates = int(page.locator("#import-run").get_attribute("data-updates"))
    assert updates >= 3, updates  # checking, then each batch written
    shot(page, "import-summary")

    page.get_by_role("button", name="Go to the patients").click()
    page.get_by_label("Search by name or MRN").fill("IMP000005")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_role("link", name=re.compile("Peña5"))).to_be_visible()


def test_a_late_pump_and_a_pocket_fill_are_seen_and_acknowledged_before_the_import(page, world, session, shot):
    overdue = (TODAY - timedelta(days=185)).isoformat()  # 40 mL, 400 mcg/day: due on day 180, alarm on day 190
    data = csv_bytes(
        [
            row(1),
            row(2, volume_added_ml="40", last_refill_volume_ml="37.5"),
            row(3, last_refill_date=overdue, next_refill_date=""),
        ]
    )
    sign_in(page, world.users["nurse"].email)
    page.goto("/import/")
    page.get_by_label("CSV file").set_input_files({"name": "clinic.csv", "mimeType": "text/csv", "buffer": data})
    page.get_by_role("button", name="Upload and check").click()
    late = page.get_by_role("alert").filter(has_text="already late")
    expect(late).to_contain_text("1 pump is already late")
    expect(late.locator("tbody tr")).to_contain_text("Refill overdue")
    warning = page.locator("table.import-warnings tbody tr").first
    expect(warning).to_contain_text("volume_added_ml")
    expect(warning).to_contain_text("pocket fill")
    shot(page, "import-dry-run-warnings")

    page.get_by_role("button", name="Import 3 patients").click()  # without the acknowledgement: refused
    expect(page.locator("#import-status")).to_contain_text("tick the box")
    page.wait_for_url(re.compile(r"/import/check"))
    page.get_by_label(re.compile("I have read the high-severity warnings")).check()
    page.get_by_role("button", name="Import 3 patients").click()
    expect(page.locator(".import-summary")).to_contain_text("3 patient rows")
