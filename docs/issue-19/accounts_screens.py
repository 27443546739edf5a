"""Issue 19 item 6's screenshots: the users page with a locked account, the edit form, a one-time password, the
forced password change, the audit page and an e-mail body, on a fresh SQLite database.

    .venv/bin/python docs/issue-19/accounts_screens.py PROJECT_DIR OUTPUT_DIR

The nurse mistypes her password four times in another browser (past the three free failures: locked); the admin
edits the coordinator, resets the physician's password and unlocks the nurse. A patient is walked to adjustment
and has a dose change, and the day's e-mails are built (they wait in the outbox: no SMTP server).
"""

import os
import sys
from datetime import UTC, datetime, timedelta

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
sys.path.insert(0, os.path.join(project, "docs", "issue-17"))
import screens  # noqa: E402

screens.setup(project)
os.environ["TRACKER_RATE_LIMITS"] = "1"  # the sign-in limits on, counting in the served process (memory://)


def clinic_data(app) -> None:
    from decimal import Decimal

    from sqlalchemy import select

    from tests.support.factories import TODAY, World, implanted_days_ago, make_patient, to_adjustment
    from tracker.extensions import db
    from tracker.models import Location, User
    from tracker.services import digest
    from tracker.services.doses import change_dose
    from tracker.services.patients import update_patient
    from tracker.services.refills import Programme, current_pump

    with app.app_context():
        session = db.session
        world = World(
            {site.name: site for site in session.scalars(select(Location))},
            {user.role: user for user in session.scalars(select(User))},
        )
        patient = to_adjustment(session, world, make_patient(session, world, first_name="Lisa", last_name="Castillo"))
        implanted_days_ago(session, world, 20)  # due within days: the nurse's e-mail lists it
        data = {
            name: getattr(patient, name)
            for name in (
                "mrn",
                "first_name",
                "last_name",
                "date_of_birth",
                "sex",
                "diagnosis",
                "spasticity_origin",
                "location_id",
                "nurse_id",
                "withdrawal_risk",
                "withdrawal_risk_reason",
                "phone",
            )
        }
        update_patient(
            session,
            world.actor("nurse"),
            patient.id,
            patient.version,
            data
            | {
                "location_id": world.sites["Buckhead Clinic"].id,
                "phone": "770-555-0142",
                "withdrawal_risk": True,
                "withdrawal_risk_reason": "C6 injury; lives alone",
            },
            TODAY,
        )
        now = datetime.now(UTC)
        change_dose(
            session,
            world.actor("physician"),
            current_pump(session, patient.id).id,
            now - timedelta(minutes=5),
            Programme(Decimal(330)),
            "More tone in the legs at night",
            now,
        )
        digest.build_outbox(session, TODAY, now, digest.DigestOptions.from_config(app.config, "screens"))


def main() -> None:
    app = screens.app_with_staff(("nurse", "coordinator", "physician", "admin"))
    clinic_data(app)
    with screens.signed_in_page(app, "admin@example.org") as (page, url):
        typo = page.context.browser.new_page()
        for _ in range(4):
            typo.goto(f"{url}/login")
            typo.fill("input[name=email]", "nurse@example.org")
            typo.fill("input[name=password]", "not my password")
            typo.click("button[type=submit]")
        typo.close()

        page.goto(f"{url}/admin/users")
        page.screenshot(path=f"{output}/accounts-users.png", full_page=True)
        page.click("a[aria-label='Edit Demo Nurse']")
        page.screenshot(path=f"{output}/accounts-edit.png", full_page=True)

        page.goto(f"{url}/admin/users")
        page.click("a[aria-label='Edit Demo Coordinator']")
        page.fill("input[name=full_name]", "Dana Whitfield")
        page.select_option("select[name=location_id]", label="Buckhead Clinic")
        page.click("button:has-text('Save')")
        page.goto(f"{url}/admin/users")
        page.click("a[aria-label='Edit Demo Physician']")
        page.click("button:has-text('Reset password')")
        page.screenshot(path=f"{output}/accounts-reset.png", full_page=True)
        password = page.inner_text("#one-time-password")
        page.goto(f"{url}/admin/users")
        page.click("button[aria-label='Unlock Demo Nurse']")

        page.set_viewport_size({"width": 1280, "height": 1400})
        page.goto(f"{url}/admin/audit")
        page.screenshot(path=f"{output}/accounts-audit.png")  # the newest rows; the page runs on
        page.set_viewport_size({"width": 1280, "height": 900})
        page.goto(f"{url}/admin/digest")
        page.click("a:has-text('Recipients')")
        page.click("tr:has-text('nurse@example.org') a")
        page.screenshot(path=f"{output}/accounts-email.png", full_page=True)

        physician = page.context.browser.new_page(viewport={"width": 1280, "height": 700})
        physician.goto(f"{url}/login")
        physician.fill("input[name=email]", "physician@example.org")
        physician.fill("input[name=password]", password)
        physician.click("button[type=submit]")
        physician.goto(f"{url}/calendar")  # sent back to the password form
        physician.screenshot(path=f"{output}/accounts-forced-change.png", full_page=True)


if __name__ == "__main__":
    main()
