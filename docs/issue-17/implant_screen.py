"""Issue 17, item 1: the implant form refusing a nurse's starting dose above the trial's guide, photographed.

    .venv/bin/python docs/issue-17/implant_screen.py PROJECT_DIR OUTPUT_PNG
    e.g. .venv/bin/python docs/issue-17/implant_screen.py . docs/issue-17/implant-dose-sign-off.png

A fresh SQLite database: one patient in the trial with a positive 50 mcg bolus (6 h of effect), so the guide is
100 mcg/day; the nurse types 1000 mcg/day on the implantation form and records it.
"""

import os
import sys
from datetime import timedelta
from decimal import Decimal

import screens

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
screens.setup(project)

from sqlalchemy import select  # noqa: E402

from tests import factories as f  # noqa: E402
from tracker.demo import ensure_sites  # noqa: E402
from tracker.extensions import db  # noqa: E402
from tracker.models import User  # noqa: E402
from tracker.services import trial_boluses  # noqa: E402


def scenario() -> int:
    """A patient in the trial since 4 days ago, with a positive 50 mcg bolus 3 days ago (6 h of effect)."""
    s = db.session
    w = f.World({site.name: site for site in ensure_sites(s)}, {u.role: u for u in s.scalars(select(User))})
    patient = f.make_patient(s, w, referred_days_ago=30, first_name="Pat", last_name="Elm")
    f.move(s, w, patient, "trial", days_ago=4, reason="Back-dated for the issue 17 screenshot")
    trial_boluses.record_bolus(
        s, w.actor(), patient.id, f.bolus_data(f.TODAY - timedelta(days=3), hours_of_effect=Decimal(6)), f.TODAY
    )
    return patient.id


def main() -> None:
    app = screens.app_with_staff()
    with app.app_context():
        patient_id = scenario()
        db.session.remove()
    with screens.signed_in_page(app) as (page, url):
        page.goto(f"{url}/patients/{patient_id}/move?to=implantation")
        for label, value in (
            ("Surgery centre (implantation)", "Snellville Surgery Center"),
            ("Pump model", "SynchroMed II 20 mL"),
            ("Concentration", "500 mcg/mL"),
        ):
            page.get_by_label(label).select_option(label=value)
        for label, value in (
            ("Surgeon (implantation)", "Dr Shaw"),
            ("Serial number", "NGP448120"),
            ("Catheter tip level", "T10"),
            ("Fill volume (mL)", "20"),
            ("Starting dose (mcg/day)", "1000"),
        ):
            page.get_by_label(label).fill(value)
        page.get_by_role("button", name="Record stage change").click()
        page.locator("#sign-off-h").wait_for()
        page.screenshot(path=output, full_page=True)


if __name__ == "__main__":
    main()
