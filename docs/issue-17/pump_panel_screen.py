"""Issue 17, items 3, 4 and 7: the pump panel after an over-infusion found at a refill that also changed the
concentration, photographed (the date at the measured rate, the residual trend, the concentration since).

    .venv/bin/python docs/issue-17/pump_panel_screen.py PROJECT_DIR OUTPUT_PNG
    e.g. .venv/bin/python docs/issue-17/pump_panel_screen.py . docs/issue-17/over-infusion-panel.png

A fresh SQLite database: a patient implanted 40 days ago (20 mL at 500 mcg/mL, 300 mcg/day); a refill 20 days ago
within the rules, and one 2 days ago finding 1.7 mL more used than the 10.8 mL programmed, at 1000 mcg/mL with a
40 mcg bridge bolus.
"""

import os
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import screens

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
screens.setup(project)

from sqlalchemy import select  # noqa: E402

from tests import factories as f  # noqa: E402
from tracker.demo import ensure_sites  # noqa: E402
from tracker.extensions import db  # noqa: E402
from tracker.models import User  # noqa: E402
from tracker.services.refill_visits import RefillEntry, record_refill  # noqa: E402
from tracker.services.refills import current_pump  # noqa: E402


def scenario() -> int:
    s = db.session
    w = f.World({site.name: site for site in ensure_sites(s)}, {u.role: u for u in s.scalars(select(User))})
    patient = f.implanted_days_ago(s, w, 40)
    pump = current_pump(s, patient.id)
    now = datetime.now(UTC)
    for days_ago, expected, actual, concentration, bridge in ((20, "8", "7.6", 500, None), (2, "9.2", "7.5", 1000, 40)):
        at = now - timedelta(days=days_ago)
        record_refill(
            s,
            w.actor(),
            pump.id,
            RefillEntry(
                visit_at=at,
                expected_residual_ml=Decimal(expected),
                actual_residual_ml=Decimal(actual),
                concentration_mcg_per_ml=concentration,
                volume_added_ml=Decimal(20),
                resulting_volume_ml=Decimal(20),
                bridge_bolus_given=True if bridge else None,
                bridge_bolus_mcg=Decimal(bridge) if bridge else None,
            ),
            True,
            at,
        )
    return patient.id


def main() -> None:
    app = screens.app_with_staff()
    with app.app_context():
        patient_id = scenario()
        db.session.remove()
    with screens.signed_in_page(app) as (page, url):
        page.goto(f"{url}/patients/{patient_id}")
        page.locator("#pump").screenshot(path=output)


if __name__ == "__main__":
    main()
