"""Issue 19, item 3: the printed day list (tomorrow's refills at Kennesaw Clinic, as a nurse prints it from the
calendar) and the printed worklist, photographed under print media at A4's printable width, and the day list's PDF
rendered to PNG with pdftoppm when it is installed (Debian's poppler-utils).

    .venv/bin/python docs/issue-19/print_screens.py PROJECT_DIR OUTPUT_DIR
    e.g. .venv/bin/python docs/issue-19/print_screens.py . docs/issue-19

A fresh SQLite database (issue 17's helper, docs/issue-17/screens.py): six patients of the nurse's clinic, five
booked tomorrow with different pumps and concentrations (two refilled since their implant, one of them with volumes
that disagree), one due tomorrow and not booked; and an overdue pump for the worklist.
"""

import os
import shutil
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "issue-17"))
import screens  # noqa: E402

project, output = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
screens.setup(project)

from sqlalchemy import select  # noqa: E402

from tests import factories as f  # noqa: E402
from tracker.clinic_zone import clinic_today  # noqa: E402
from tracker.clinical.search import mrn_key  # noqa: E402
from tracker.demo import ensure_sites  # noqa: E402
from tracker.extensions import db  # noqa: E402
from tracker.models import User  # noqa: E402
from tracker.services.bookings import book_refill  # noqa: E402
from tracker.services.refill_visits import RefillEntry, record_refill  # noqa: E402
from tracker.services.refills import current_pump  # noqa: E402

A4_PRINTABLE_PX = 718  # 210 mm less print.css's side margins, at 96 px an inch
# first, last, MRN, days since implant, implant (model, fill mL, mcg/mL, mcg/day), refill (days ago, expected,
# actual residual, added, resulting) or None, booked at (tomorrow) or None
PATIENTS = [
    (
        "Lisa",
        "Castillo",
        "MRN8620417",
        400,
        ("SynchroMed II 40 mL", "40", 2000, "400"),
        (170, "4.1", "3.9", "40", "40"),
        time(8, 30),
    ),
    (
        "Daniel",
        "Okafor",
        "MRN8621950",
        60,
        ("SynchroMed II 20 mL", "20", 500, "300"),
        (20, "5.8", "5.5", "20", "20"),
        time(9, 15),
    ),
    ("Mai", "Nguyen", "MRN8624411", 25, ("Prometra II 20 mL", "20", 500, "250"), None, time(10, 0)),
    (
        "Patrick",
        "Brennan",
        "MRN8627302",
        200,
        ("SynchroMed II 40 mL", "40", 1000, "500"),
        (60, "10.2", "9.8", "36", "36"),
        time(11, 30),
    ),
    (
        "Sara",
        "Haddad",
        "MRN8629876",
        80,
        ("SynchroMed II 20 mL", "20", 500, "300"),
        (20, "5.9", "5.6", "20", "19"),
        time(13, 0),
    ),
    ("João", "Ferreira", "MRN8623355", 22, ("SynchroMed II 20 mL", "20", 500, "300"), None, None),
]


def scenario(tomorrow) -> None:
    s = db.session
    w = f.World({site.name: site for site in ensure_sites(s)}, {u.role: u for u in s.scalars(select(User))})
    now = datetime.now(UTC)
    for first, last, mrn, implanted, (model, fill, concentration, dose), refill, booked in PATIENTS:
        patient = f.implanted_days_ago(
            s, w, implanted, model=model, fill_ml=fill, concentration=concentration, dose_mcg=dose
        )
        patient.first_name, patient.last_name, patient.mrn, patient.mrn_key = first, last, mrn, mrn_key(mrn)
        s.commit()
        if refill:
            days, expected, actual, added, resulting = refill
            at = now - timedelta(days=days)
            record_refill(
                s,
                w.actor(),
                current_pump(s, patient.id).id,
                RefillEntry(
                    visit_at=at,
                    expected_residual_ml=Decimal(expected),
                    actual_residual_ml=Decimal(actual),
                    concentration_mcg_per_ml=concentration,
                    volume_added_ml=Decimal(added),
                    resulting_volume_ml=Decimal(resulting),
                ),
                True,
                at,
            )
        if booked:
            book_refill(
                s,
                w.actor(),
                patient.id,
                datetime.combine(tomorrow, booked, f.CLINIC_ZONE),
                w.clinic.id,
                w.users["nurse"].id,
                "",
                "",
                now,
            )
    late = f.implanted_days_ago(s, w, 26)  # due three days ago: the worklist's first row
    late.first_name, late.last_name, late.mrn, late.mrn_key = "Ruth", "Alvarez", "MRN8625120", mrn_key("MRN8625120")
    s.commit()


def main() -> None:
    app = screens.app_with_staff()
    with app.app_context():
        tomorrow = clinic_today() + timedelta(days=1)
        scenario(tomorrow)
        db.session.remove()
    with screens.signed_in_page(app) as (page, url):
        page.goto(f"{url}/calendar?view=week&date={tomorrow.isoformat()}")
        page.get_by_role("link", name=tomorrow.strftime("%d %b %Y"), exact=True).click()
        page.wait_for_url("**/calendar/print?span=day*")
        page.emulate_media(media="print")
        page.set_viewport_size({"width": A4_PRINTABLE_PX, "height": 600})
        page.screenshot(path=os.path.join(output, "print-day-list.png"), full_page=True)
        pdf = os.path.join(tempfile.mkdtemp(), "day-list.pdf")
        page.pdf(path=pdf, format="A4", print_background=True)
        if shutil.which("pdftoppm"):
            subprocess.run(
                ["pdftoppm", "-png", "-r", "80", "-singlefile", pdf, os.path.join(output, "print-day-list-pdf")],
                check=True,
            )
        page.goto(f"{url}/worklist/print")
        page.screenshot(path=os.path.join(output, "print-worklist.png"), full_page=True)


if __name__ == "__main__":
    main()
