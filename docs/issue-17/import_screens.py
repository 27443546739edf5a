"""Issue 17, item 2: the import's dry run with the refill warnings and the pumps already late, photographed.

    .venv/bin/python docs/issue-17/import_screens.py PROJECT_DIR OUTPUT.png
    e.g. .venv/bin/python docs/issue-17/import_screens.py . docs/issue-17/import-dry-run.png

A fresh SQLite database; a nurse uploads eight rows (the rows of tests/web/test_import_programme.py): one plain,
one of each refill warning, a PTM patient with a flexible schedule, and two pumps already late.
"""

import os
import sys
from datetime import timedelta

import screens

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
screens.setup(project)

from tests.support.factories import TODAY  # noqa: E402
from tests.web.test_import import csv_bytes, row  # noqa: E402


def spreadsheet() -> bytes:
    days_ago = lambda n: (TODAY - timedelta(days=n)).isoformat()  # noqa: E731
    rows = [
        row(1, last_name="Alder"),
        row(2, last_name="Birch", expected_residual_ml="4", actual_residual_ml="1.5", previous_refill_volume_ml="40"),
        row(3, last_name="Cedar", volume_added_ml="40", last_refill_volume_ml="37.5"),
        row(4, last_name="Dogwood", previous_concentration_mcg_per_ml="1000"),
        row(5, last_name="Elm", daily_dose_mcg="2200", last_refill_date=days_ago(2), next_refill_date=""),
        row(
            6,
            last_name="Fir",
            pump_model="SynchroMed II 20 mL",
            concentration_mcg_per_ml="500",
            last_refill_volume_ml="20",
            daily_dose_mcg="",
            flex_schedule="06:00 12; 18:00 10; Sat Sun: 00:00 10; 09:00 14; 21:00 10",
            bolus_dose_mcg="25",
            max_boluses_per_day="4",
            last_refill_date=days_ago(3),
            next_refill_date="",
        ),
        row(7, last_name="Gum", last_refill_date=days_ago(185), next_refill_date=""),
        row(8, last_name="Hazel", last_refill_date=days_ago(195), next_refill_date=""),
    ]
    return csv_bytes(rows)


def main() -> None:
    with screens.signed_in_page(screens.app_with_staff(("nurse",))) as (page, url):
        page.goto(f"{url}/import/")
        page.get_by_label("CSV file").set_input_files(
            {"name": "clinic-export.csv", "mimeType": "text/csv", "buffer": spreadsheet()}
        )
        page.get_by_role("button", name="Upload and check").click()
        page.wait_for_selector("#late-h")
        page.screenshot(path=output, full_page=True)


if __name__ == "__main__":
    main()
