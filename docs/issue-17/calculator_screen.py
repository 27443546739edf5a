"""Issue 17 item 10's screenshot: the what-if calculator with the PTM example, on a fresh SQLite database.

    .venv/bin/python docs/issue-17/calculator_screen.py PROJECT_DIR OUTPUT.png

A 20 mL pump refilled at 14:30 with 500 mcg/mL (it held 1000 before), 200 mcg/day plus up to 4 boluses of
25 mcg a day, alarm 2 mL: due on day 23 (0.6 mL/day), with the bridge-bolus warning and the boluses' note.
"""

import os
import sys
from urllib.parse import urlencode

import screens

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
screens.setup(project)

PTM = {
    "reservoir_ml": "20",
    "fill_volume_ml": "20",
    "concentration_mcg_per_ml": "500",
    "previous_concentration_mcg_per_ml": "1000",
    "fill_date": "2027-01-04",
    "fill_time": "14:30",
    "dose_mcg_per_day": "200",
    "flex_schedule": "",
    "bolus_dose_mcg": "25",
    "max_boluses_per_day": "4",
    "alarm_volume_ml": "2",
    "buffer_days": "7",
    "stability_days": "180",
}


def main() -> None:
    with screens.signed_in_page(screens.app_with_staff(("nurse",))) as (page, url):
        page.goto(f"{url}/calculator/?{urlencode(PTM)}")
        page.screenshot(path=output, full_page=True)


if __name__ == "__main__":
    main()
