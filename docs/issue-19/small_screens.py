"""Issue 19, item 7 ("the small things"): the patient page with its phone as a tel: link and its contact history,
the patient list sorted by the next refill due, the offer to book after a refill, the feed page's Copy button and a
too-long calendar export, photographed with Debian's chromium.

    .venv/bin/python docs/issue-19/small_screens.py PROJECT_DIR OUTPUT_DIR
    e.g. .venv/bin/python docs/issue-19/small_screens.py . docs/issue-19

A fresh SQLite database with the demo data (60 patients, seed 19) and three contact attempts for the most urgent
patient on the worklist; the coordinator (and a nurse, for the refill) signed in.
"""

import os
import sys
import tempfile
import threading
from datetime import UTC, datetime, timedelta

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.environ.update(
    TRACKER_DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/tracker.sqlite3",
    TRACKER_SCHEDULER="0",
    TRACKER_RATE_LIMITS="0",
)
os.chdir(project)
sys.path.insert(0, project)

from flask_migrate import upgrade  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from tracker import create_app  # noqa: E402
from tracker.clinic_zone import clinic_today  # noqa: E402
from tracker.demo import seed_demo  # noqa: E402
from tracker.extensions import db  # noqa: E402
from tracker.models import User  # noqa: E402
from tracker.services import Actor  # noqa: E402
from tracker.services.bookings import log_contact  # noqa: E402
from tracker.services.settings import risk_windows  # noqa: E402
from tracker.services.worklist import worklist  # noqa: E402

PASSWORD = "issue-19 screenshots only"


def scenario(app) -> int:
    """The demo data, and three attempts to reach the worklist's first patient who has a phone number."""
    with app.app_context():
        upgrade()
        s = db.session
        today = clinic_today()
        seed_demo(s, 60, 19, today, PASSWORD)
        s.commit()
        now = datetime.now(UTC)
        row = next(r for r in worklist(s, today, now, risk_windows(s)) if r.patient.phone)
        coordinator = s.query(User).filter_by(email="coordinator1@demo.example").one()
        nurse = s.query(User).filter_by(email="nurse1@demo.example").one()
        for by, method, outcome, notes, hours in (
            (coordinator, "phone", "no_answer", "", 50),
            (coordinator, "phone", "voicemail", "Left the clinic's number; asked her to call back", 26),
            (nurse, "sms", "reached", "Daughter will drive her on Thursday morning", 3),
        ):
            log_contact(
                s,
                Actor(by.id, by.role, "127.0.0.1"),
                row.patient.id,
                method,
                outcome,
                notes,
                now - timedelta(hours=hours),
            )
        patient_id = row.patient.id
        db.session.remove()
        return patient_id


def sign_in(browser, url, email):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def main() -> None:
    app = create_app()
    patient_id = scenario(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"])
            page = sign_in(browser, url, "coordinator1@demo.example")
            page.goto(f"{url}/patients/{patient_id}")
            page.locator(".patient-head").screenshot(path=f"{output}/small-patient-phone.png")
            page.locator("#contacts").screenshot(path=f"{output}/small-patient-contacts.png")
            page.goto(f"{url}/patients?sort=due")
            page.screenshot(path=f"{output}/small-patient-list-next-due.png")
            page.goto(f"{url}/calendar/export.csv?start={clinic_today()}&end={clinic_today() + timedelta(days=400)}")
            page.screenshot(path=f"{output}/small-export-range.png")
            page.context.grant_permissions(["clipboard-read", "clipboard-write"])
            page.goto(f"{url}/account/calendar")
            page.get_by_role("button", name="Make my feed address").click()
            page.get_by_role("button", name="Copy address").click()
            page.screenshot(path=f"{output}/small-feed-copy.png")
            nurse = sign_in(browser, url, "nurse1@demo.example")
            nurse.goto(f"{url}/patients/{patient_id}/refill")
            residual = nurse.get_by_label("Expected residual (mL, from the programmer)").input_value()
            nurse.get_by_label("Actual residual aspirated (mL)").fill(residual)
            nurse.get_by_role("button", name="Preview dates and warnings").click()
            acknowledge = nurse.get_by_label("I have read the high-severity warnings above and act on them")
            if acknowledge.count():
                acknowledge.check()
            nurse.get_by_role("button", name="Save refill").click()
            nurse.locator("#pump").screenshot(path=f"{output}/small-book-next.png")
            browser.close()
    finally:
        server.shutdown()


if __name__ == "__main__":
    main()
