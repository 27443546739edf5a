"""Issue 17 item 10's screenshot: the what-if calculator with the PTM example, on a fresh SQLite database.

    .venv/bin/python docs/issue-17/calculator_screen.py PROJECT_DIR OUTPUT.png

A 20 mL pump refilled at 14:30 with 500 mcg/mL (it held 1000 before), 200 mcg/day plus up to 4 boluses of
25 mcg a day, alarm 2 mL: due on day 23 (0.6 mL/day), with the bridge-bolus warning and the boluses' note.
"""

import logging
import os
import subprocess
import sys
import tempfile
import threading
from urllib.parse import urlencode

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.environ.update(TRACKER_DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/tracker.sqlite3",
                  TRACKER_SCHEDULER="0", TRACKER_RATE_LIMITS="0")
os.chdir(project)
sys.path.insert(0, project)

from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from tracker import create_app  # noqa: E402
from tracker.demo import ensure_sites  # noqa: E402
from tracker.extensions import db  # noqa: E402

PASSWORD = "issue-17 screenshots only"
PTM = {"reservoir_ml": "20", "fill_volume_ml": "20", "concentration_mcg_per_ml": "500",
       "previous_concentration_mcg_per_ml": "1000", "fill_date": "2027-01-04", "fill_time": "14:30",
       "dose_mcg_per_day": "200", "flex_schedule": "", "bolus_dose_mcg": "25", "max_boluses_per_day": "4",
       "alarm_volume_ml": "2", "buffer_days": "7", "stability_days": "180"}


def flask(*args: str, stdin: str = "") -> None:
    subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", *args], input=stdin, text=True,
                   capture_output=True, check=True)


def main() -> None:
    flask("db", "upgrade")
    app = create_app()
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("tracker.request").setLevel(logging.WARNING)
    with app.app_context():
        ensure_sites(db.session)
        db.session.commit()
    flask("create-user", "--email", "nurse@example.org", "--name", "Demo Nurse", "--role", "nurse",
          "--location", "Kennesaw Clinic", stdin=PASSWORD + "\n")
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
        page.goto(f"{url}/calculator/?{urlencode(PTM)}")
        page.screenshot(path=output, full_page=True)
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
