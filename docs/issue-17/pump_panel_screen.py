"""Issue 17, items 3, 4 and 7: the pump panel after an over-infusion found at a refill that also changed the
concentration, photographed (the date at the measured rate, the residual trend, the concentration since).

    .venv/bin/python docs/issue-17/pump_panel_screen.py PROJECT_DIR OUTPUT_PNG
    e.g. .venv/bin/python docs/issue-17/pump_panel_screen.py . docs/issue-17/over-infusion-panel.png

A fresh SQLite database: a patient implanted 40 days ago (20 mL at 500 mcg/mL, 300 mcg/day); a refill 20 days ago
within the rules, and one 2 days ago finding 1.7 mL more used than the 10.8 mL programmed, at 1000 mcg/mL with a
40 mcg bridge bolus.
"""

import logging
import os
import subprocess
import sys
import tempfile
import threading
from datetime import timedelta
from decimal import Decimal

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.environ.update(TRACKER_DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/tracker.sqlite3",
                  TRACKER_SCHEDULER="0", TRACKER_RATE_LIMITS="0")
os.chdir(project)
sys.path.insert(0, project)  # import this checkout's tracker, config and tests

from playwright.sync_api import sync_playwright  # noqa: E402
from sqlalchemy import select  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from tests import factories as f  # noqa: E402
from tracker import create_app  # noqa: E402
from tracker.demo import ensure_sites  # noqa: E402
from tracker.extensions import db  # noqa: E402
from tracker.models import User  # noqa: E402
from tracker.services import patients as service  # noqa: E402
from tracker.services.refills import ensure_catalogues  # noqa: E402

PASSWORD = "issue-17 screenshots only"


def flask(*args: str, stdin: str = "") -> str:
    return subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], input=stdin, text=True,
                          capture_output=True, check=True).stdout


def scenario() -> int:
    from datetime import UTC, datetime

    from tracker.services.refill_visits import RefillEntry, record_refill
    from tracker.services.refills import current_pump

    s = db.session
    w = f.World({site.name: site for site in ensure_sites(s)}, {u.role: u for u in s.scalars(select(User))})
    patient = f.implanted_days_ago(s, w, 40)
    pump = current_pump(s, patient.id)
    now = datetime.now(UTC)
    for days_ago, expected, actual, concentration, bridge in ((20, "8", "7.6", 500, None), (2, "9.2", "7.5", 1000, 40)):
        at = now - timedelta(days=days_ago)
        record_refill(s, w.actor(), pump.id, RefillEntry(
            visit_at=at, expected_residual_ml=Decimal(expected), actual_residual_ml=Decimal(actual),
            concentration_mcg_per_ml=concentration, volume_added_ml=Decimal(20), resulting_volume_ml=Decimal(20),
            bridge_bolus_given=True if bridge else None, bridge_bolus_mcg=Decimal(bridge) if bridge else None),
            True, at)
    return patient.id


def main() -> None:
    flask("db", "upgrade")
    app = create_app()
    for name in ("werkzeug", "tracker.request"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with app.app_context():
        ensure_sites(db.session)
        ensure_catalogues(db.session)
        db.session.commit()
    for role in ("nurse", "physician"):
        flask("create-user", "--email", f"{role}@example.org", "--name", f"Demo {role.title()}", "--role", role,
              "--location", "Kennesaw Clinic", stdin=PASSWORD + "\n")
    with app.app_context():
        patient_id = scenario()
        db.session.remove()

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{url}/login")
        page.fill("input[name=email]", "nurse@example.org")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.goto(f"{url}/patients/{patient_id}")
        page.locator("#pump").screenshot(path=output)
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
