"""What every issue-17 screenshot script shares: a fresh SQLite database with the sites, catalogues and a nurse and
a physician, the app served on a free port, and Debian's chromium signed in as the nurse.

    from screens import app_with_staff, signed_in_page   # after the script has called screens.setup(project)
"""

import logging
import os
import subprocess
import sys
import tempfile
import threading
from contextlib import contextmanager

PASSWORD = "issue-17 screenshots only"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def setup(project: str) -> None:
    """Point the app at a new SQLite file and import this checkout's tracker, config and tests."""
    os.environ.update(
        TRACKER_DATABASE_URL=f"sqlite:///{tempfile.mkdtemp()}/tracker.sqlite3",
        TRACKER_SCHEDULER="0",
        TRACKER_RATE_LIMITS="0",
    )
    os.chdir(project)
    sys.path.insert(0, project)


def flask(*args: str, stdin: str = "") -> str:
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args], input=stdin, text=True, capture_output=True, check=True
    ).stdout


def app_with_staff(roles=("nurse", "physician")):
    """The migrated app with the demo sites and catalogues, and one user per role (Kennesaw Clinic)."""
    from tracker import create_app
    from tracker.demo import ensure_sites
    from tracker.extensions import db
    from tracker.services.pumps import ensure_catalogues

    flask("db", "upgrade")
    app = create_app()
    for name in ("werkzeug", "tracker.request"):
        logging.getLogger(name).setLevel(logging.WARNING)
    with app.app_context():
        ensure_sites(db.session)
        ensure_catalogues(db.session)
        db.session.commit()
    for role in roles:
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
    return app


@contextmanager
def signed_in_page(app, email: str = "nurse@example.org"):
    """(page, base url): the app served in a thread, a 1280 x 900 chromium page signed in as `email`."""
    from playwright.sync_api import sync_playwright
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(f"{url}/login")
            page.fill("input[name=email]", email)
            page.fill("input[name=password]", PASSWORD)
            page.click("button[type=submit]")
            yield page, url
            browser.close()
    finally:
        server.shutdown()
