"""Issue 19, item 1: each role's Today page (where sign-in lands), photographed at 1280 px (desktop) and 820 px
(tablet) wide.

    .venv/bin/python docs/issue-19/home_screens.py PROJECT_DIR OUTPUT_DIR
    e.g. .venv/bin/python docs/issue-19/home_screens.py . docs/issue-19

A fresh SQLite database with the demo clinic (160 patients, its staff), the scheduler running in the served
process, and what a morning holds: calls that did not reach the patient, requests to a physician (one answered),
refills booked for this afternoon, a dead letter from yesterday's e-mail. Uses issue 17's screenshot helper.
"""

import os
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "issue-17"))
import screens  # noqa: E402

project, output = os.path.abspath(sys.argv[1]), Path(os.path.abspath(sys.argv[2]))
screens.setup(project)
os.environ["TRACKER_SCHEDULER"] = "1"  # the admin's page shows the served process's scheduler at work

from sqlalchemy import select  # noqa: E402

from tracker.clinic_zone import clinic_zone, local_date  # noqa: E402
from tracker.demo import seed_demo  # noqa: E402
from tracker.extensions import db  # noqa: E402
from tracker.models import DigestRun, OutboxMessage, User  # noqa: E402
from tracker.models.digest import DEAD, SENT  # noqa: E402
from tracker.models.requests import BOOKING_AFTER_ALARM  # noqa: E402
from tracker.services import Actor, escalation  # noqa: E402
from tracker.services.bookings import book_refill, log_contact  # noqa: E402
from tracker.services.settings import risk_windows  # noqa: E402
from tracker.services.worklist import refill_facts  # noqa: E402

WIDTHS = {"desktop": (1280, 900), "tablet": (820, 1180)}
USERS = {
    "nurse": "nurse1@demo.example",
    "coordinator": "coordinator1@demo.example",
    "physician": "physician1@demo.example",
    "admin": "admin@example.org",
}


def actor(user: User) -> Actor:
    return Actor(user.id, user.role, "127.0.0.1")


def morning() -> None:
    """The demo clinic, and the morning's calls, requests, bookings and e-mail."""
    s = db.session
    now = datetime.now(UTC)
    today = local_date(now)
    seed_demo(s, 160, 19, today, screens.PASSWORD)
    staff = {u.email: u for u in s.scalars(select(User))}
    nurse, coordinator = staff[USERS["nurse"]], staff[USERS["coordinator"]]
    physician, admin = staff[USERS["physician"]], staff[USERS["admin"]]
    windows = risk_windows(s)

    # Calls that did not reach the coordinator's most urgent patients; one of them reached after all.
    needing = refill_facts(s, today, now, windows, [coordinator.location_id], needing_action=True)
    for n, fact in enumerate(needing[:5]):
        log_contact(
            s,
            actor(coordinator),
            fact.patient_id,
            "phone",
            ("no_answer", "voicemail")[n % 2],
            "",
            now - timedelta(hours=2, minutes=10 * n),
        )
    log_contact(
        s, actor(coordinator), needing[4].patient_id, "phone", "reached", "Comes Thursday", now - timedelta(minutes=30)
    )

    # The nurse asks a physician about two late pumps; one is answered.
    late = [
        f
        for f in refill_facts(s, today, now, windows, nurse_id=nurse.id, needing_action=True)
        if f.judgement.risk.status != "due_soon"
    ][:2]
    asked = [
        escalation.ask_physician(
            s,
            actor(nurse),
            f.patient_id,
            BOOKING_AFTER_ALARM,
            "First clinic slot is next Tuesday",
            None,
            now - timedelta(hours=20 - n),
        )
        for n, f in enumerate(late)
    ]
    escalation.answer(
        s,
        actor(physician),
        asked[0].id,
        asked[0].version,
        False,
        "Too late for Tuesday: refill in clinic today, I will be there at 2 pm",
        now - timedelta(hours=1),
    )

    # This afternoon's refills at the nurse's clinic (the demo books from tomorrow on).
    soon = [
        f
        for f in refill_facts(
            s, today, now, windows, [nurse.location_id], due_from=today, due_to=today + timedelta(days=10)
        )
        if f.appointment_id is None
    ]
    for n, fact in enumerate(soon[:3]):
        starts_at = datetime.combine(today, time(14 + n, 30 * (n % 2)), clinic_zone())
        if starts_at > now:
            book_refill(s, actor(coordinator), fact.patient_id, starts_at, nurse.location_id, nurse.id, "", "", now)

    # Yesterday's e-mail left one message undelivered; the day before went out in full.
    for days_ago, dead in ((2, 0), (1, 1)):
        day = today - timedelta(days=days_ago)
        s.add(
            DigestRun(
                digest_day=day,
                started_at=now - timedelta(days=days_ago),
                built_at=now,
                recipients=3,
                sent=3 - dead,
                dead=dead,
                completed_at=None if dead else now - timedelta(days=days_ago),
            )
        )
        for n, user in enumerate((nurse, coordinator, admin)):
            s.add(
                OutboxMessage(
                    digest_day=day,
                    user_id=user.id,
                    to_address=user.email,
                    subject="ITB refills",
                    text_body="",
                    html_body="",
                    message_id=f"<{day}.{user.id}@demo>",
                    status=DEAD if n < dead else SENT,
                    last_error="SMTPRecipientsRefused" if n < dead else "",
                )
            )
    s.commit()


def main() -> None:
    app = screens.app_with_staff(roles=("admin",))
    with app.app_context():
        morning()
        db.session.remove()
    output.mkdir(parents=True, exist_ok=True)
    for role, email in USERS.items():
        with screens.signed_in_page(app, email) as (page, url):
            for name, (width, height) in WIDTHS.items():
                page.set_viewport_size({"width": width, "height": height})
                page.goto(f"{url}/")
                page.screenshot(path=str(output / f"home-{role}-{name}.png"), full_page=True)


if __name__ == "__main__":
    main()
