"""Issue 16's before/after screenshots: one scenario on a fresh SQLite database, served and photographed.

    .venv/bin/python docs/issue-16/screens.py PROJECT_DIR OUTPUT_PREFIX
    e.g. .venv/bin/python docs/issue-16/screens.py . docs/issue-16/after-

Patients (default pump: due on day 23 after a fill, alarm on day 30, empty about day 33):
  A Alder   implanted 31 days ago (past its alarm), booked by a physician for 5 days from now (late + override)
  B Birch   implanted 40 days ago (projected empty), not booked
  C Cedar   due in 3 days, not booked
  D Dogwood due in 12 days, booked on time
The same script runs on both versions (PROJECT_DIR is a checkout); it branches only where they differ.
"""

import html as markup
import logging
import os
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

project, prefix = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
os.environ.update(
    TRACKER_DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/tracker.sqlite3",
    TRACKER_SCHEDULER="0",
    TRACKER_RATE_LIMITS="0",
)
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
from tracker.services import trial_boluses  # noqa: E402
from tracker.services.bookings import book_refill  # noqa: E402
from tracker.services.pumps import ensure_catalogues  # noqa: E402

PASSWORD = "issue-16 screenshots only"
ROLES = ("nurse", "coordinator", "physician", "admin")
BACK_DATED = "Back-dated for the issue 16 screenshots"


def flask(*args: str, stdin: str = "") -> str:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args], input=stdin, text=True, capture_output=True, check=True
    ).stdout


def implanted(s, w, days: int, last_name: str):
    """tests/factories.implanted_days_ago, with a name to tell the patients apart."""
    patient = f.make_patient(s, w, referred_days_ago=days + 20, first_name="Pat", last_name=last_name)
    f.move(s, w, patient, "trial", days_ago=days + 10, reason=BACK_DATED)
    trial_boluses.record_bolus(s, w.actor(), patient.id, f.bolus_data(f.TODAY - timedelta(days=days + 9)), f.TODAY)
    f.move(
        s,
        w,
        patient,
        "implantation",
        days_ago=days,
        surgery_centre_id=w.centre.id,
        surgeon="Dr Shaw",
        implant=f.implant_details(s),
        reason=BACK_DATED,
        role="physician",
    )  # 300 mcg/day is above the 50 mcg trial's guide: a physician signs off
    f.move(s, w, patient, "adjustment", days_ago=days, reason=BACK_DATED)
    return patient


def scenario(app) -> int:
    """Build the four patients; returns patient A's id."""
    s = db.session
    zone = ZoneInfo(app.config["CLINIC_TIMEZONE"])
    w = f.World({site.name: site for site in ensure_sites(s)}, {u.role: u for u in s.scalars(select(User))})
    a, _, _, d = (
        implanted(s, w, days, name) for days, name in ((31, "Alder"), (40, "Birch"), (20, "Cedar"), (11, "Dogwood"))
    )
    now = datetime.now(UTC)

    def book(patient, days, role, late="", override=""):
        starts_at = datetime.combine(f.TODAY + timedelta(days=days), time(10), zone)
        book_refill(s, w.actor(role), patient.id, starts_at, w.clinic.id, w.users["nurse"].id, late, override, now)

    book(a, 5, "physician", "First free refill chair at Kennesaw", "Patient away; reviewed by phone, no symptoms")
    book(d, 10, "coordinator")
    return a.id


def sign_in(browser, url: str, role: str):
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/login")
    page.fill("input[name=email]", f"{role}@example.org")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    return page


def main() -> None:
    flask("db", "upgrade")
    app = create_app()
    for name in ("werkzeug", "tracker.request"):  # one line per request drowns the script's own note
        logging.getLogger(name).setLevel(logging.WARNING)
    with app.app_context():
        ensure_sites(db.session)
        ensure_catalogues(db.session)
        db.session.commit()
    for role in ROLES:
        flask(
            "create-user",
            "--email",
            f"{role}@example.org",
            "--name",
            f"Demo {role.title()}",
            "--role",
            role,
            "--location",
            "Kennesaw Clinic",
            stdin=PASSWORD + "\n",
        )
    with app.app_context():
        patient_a = scenario(app)
        db.session.remove()
    mail = flask("digest", "preview", "--user", "physician@example.org", "--html")
    subject, _, html = mail.partition("\n\n")

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        page = sign_in(browser, url, "coordinator")
        page.goto(f"{url}/patients/{patient_a}")
        page.screenshot(path=f"{prefix}patient.png", full_page=True)
        page.goto(f"{url}/worklist")
        page.screenshot(path=f"{prefix}worklist.png", full_page=True)
        page.goto(f"{url}/calendar?location=")
        boxes = [
            page.locator(sel).first.bounding_box()
            for sel in ("p.flash[role=alert]", ".legend", ".cal-grid")
            if page.locator(sel).count()
        ]
        top, bottom = min(b["y"] for b in boxes), max(b["y"] + b["height"] for b in boxes)
        page.screenshot(
            path=f"{prefix}calendar.png",
            full_page=True,
            clip={"x": 0, "y": top, "width": 1280, "height": bottom - top + 8},
        )

        page = sign_in(browser, url, "physician")
        if page.goto(f"{url}/queue").status == 404:
            print("/queue is 404 in this version: the physician's landing page instead")
            page.goto(url)
        page.screenshot(path=f"{prefix}physician.png", full_page=True)
        page.set_content(html)
        page.evaluate(
            "s => document.body.insertAdjacentHTML('afterbegin', s)",
            f"<p style='font:14px sans-serif;color:#555'>{markup.escape(subject)}</p>",
        )
        page.set_viewport_size({"width": 1280, "height": 100})  # full_page then ends where the e-mail does
        page.screenshot(path=f"{prefix}physician-email.png", full_page=True)
        browser.close()
    server.shutdown()


if __name__ == "__main__":
    main()
