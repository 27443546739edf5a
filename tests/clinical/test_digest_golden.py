"""The daily e-mail, byte for byte: each case's subject, text and HTML parts as captured in digest_golden/ before
the e-mail moved into templates (issue 20). A change to the wording shows here as a diff of a readable file; to
accept one on purpose, run with DIGEST_GOLDEN_WRITE=1 and review the files' diff."""

import os
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import pytest

from tests.clinical.test_digest_content import CHECK, NO_ITEMS, OTHER, REF, REVIEW, nurse_input, refill
from tracker.clinical import refill_risk as risk
from tracker.clinical.digest import build_digest, late_note
from tracker.clinical.digest_input import (
    BatteryItem,
    DeadLetter,
    PatientRef,
    PhysicianRequestItem,
    SchedulerHealth,
    StageChangeItem,
    WarningItem,
)
from tracker.digest_email import render, with_note

GOLDEN = Path(__file__).parent / "digest_golden"
QUOTED = PatientRef('O\'Neil "7" <i>&', "https://tracker.example/patients/7?a='1'&b=\"2\"")
REQUEST = PhysicianRequestItem(REF, "Booking after the alarm date", "Test Coordinator", datetime(2026, 3, 11, 14, 5))
DEAD = DeadLetter(date(2026, 3, 11), "nurse@example.org", 5, "SMTPDataError: (451, b'Try again later') <x>")
HEALTH = SchedulerHealth(
    "running",
    date(2026, 3, 10),
    missed_days=(date(2026, 3, 9), date(2026, 3, 11)),
    unsent=2,
    late_days=(date(2026, 3, 8),),
)

CASES = {
    "nurse_every_section": nurse_input(),
    "coordinator_every_section": nurse_input(role="coordinator", scope="Patients at Kennesaw Clinic"),
    "coordinator_every_location_windows": nurse_input(
        role="coordinator", scope="Patients at every location", due_soon_days=1, battery_months=3
    ),
    "nurse_nothing_due": nurse_input(**NO_ITEMS),
    "nurse_nothing_due_email_off": nurse_input(**NO_ITEMS, nothing_due_email=False),
    "nurse_only_booked_late": nurse_input(
        **NO_ITEMS
        | {
            "refills": [
                refill(OTHER, "booked_late", risk.DUE_SOON, risk.AFTER_ALARM, date(2026, 3, 20), date(2026, 3, 28))
            ]
        }
    ),
    "nurse_one_of_each_singular": nurse_input(
        refills=[refill(REF, risk.MISSED, risk.OVERDUE, risk.MISSED, date(2026, 3, 1), date(2026, 3, 10))],
        warnings=[WarningItem(REF, "some_new_code", "A warning the e-mail has no label for", date(2026, 3, 11))],
        battery=[BatteryItem(REF, "Kennesaw Clinic", risk.BATTERY_ERI, None, date(2026, 3, 12))],
        device_work=[CHECK],
        stage_changes=[
            StageChangeItem(REF, None, "evaluation", date(2026, 3, 11)),
            StageChangeItem(OTHER, "trial", "exited", date(2026, 3, 11), "unknown"),
        ],
    ),
    "nurse_beyond_projection_and_mrn_prefix": nurse_input(
        **NO_ITEMS
        | {
            "refills": [
                replace(
                    refill(
                        PatientRef("MRN0042", "https://tracker.example/patients/42"),
                        risk.DUE_SOON,
                        risk.DUE_SOON,
                        risk.NOT_BOOKED,
                        date(2026, 3, 13),
                    ),
                    alarm_date=None,
                    empty_date=None,
                )
            ]
        }
    ),
    "nurse_quotes_and_markup_escaped": nurse_input(
        refills=[
            refill(
                QUOTED,
                risk.OVERDUE,
                risk.OVERDUE,
                risk.NOT_BOOKED,
                date(2026, 3, 1),
                location='St Mary\'s "A & B" Clinic',
            )
        ],
        warnings=[WarningItem(QUOTED, "pocket_fill", "Fill <3 mL> 'odd' & \"even\"", date(2026, 3, 11))],
        scope="Patients at St Mary's <Clinic>",
        home_url="https://tracker.example/?x='1'&y=\"2\"",
    ),
    "physician_requests_pumps_reviews": nurse_input(
        role="physician",
        scope="Every clinic: what needs a physician",
        physician_requests=[REQUEST],
        physician_pumps=[
            refill(
                OTHER,
                risk.PAST_ALARM,
                risk.PAST_ALARM,
                risk.AFTER_EMPTY,
                date(2026, 2, 27),
                date(2026, 3, 16),
                "Buckhead Clinic",
            ),
            refill(REF, risk.EMPTY, risk.EMPTY, risk.NOT_BOOKED, date(2026, 2, 20)),
        ],
        physician_work=[REVIEW],
    ),
    "physician_nothing_due": nurse_input(role="physician", scope="Every clinic: what needs a physician"),
    "admin_dead_letters_and_scheduler_problems": nurse_input(
        role="admin",
        scope="Administration: e-mail delivery and the scheduler",
        dead_letters=[DEAD, DEAD],
        scheduler=HEALTH,
    ),
    "admin_healthy": nurse_input(role="admin", scheduler=SchedulerHealth("running", date(2026, 3, 11))),
    "admin_first_day_no_scheduler_report": nurse_input(role="admin", scheduler=None),
    "admin_scheduler_off_never_completed": nurse_input(role="admin", scheduler=SchedulerHealth("off", None)),
    "unknown_role": nurse_input(role="visitor"),
    "sunday_in_december": nurse_input(day=date(2026, 12, 6)),
}
NOTE = late_note(date(2026, 12, 3), datetime(2026, 12, 4, 1, 30))


def email(data) -> str:
    """One case as a readable file: the subject, the text part and the HTML part, or why there is no e-mail."""
    digest = build_digest(data)
    if digest is None:
        return "(no e-mail)\n"
    digest = render(digest)
    return f"Subject: {digest.subject}\n\n{digest.text}\n===== html =====\n{digest.html}"


def late(data) -> str:
    digest = render(build_digest(data))
    text, html = with_note(digest.text, digest.html, NOTE)
    return f"{text}\n===== html =====\n{html}"


@pytest.mark.parametrize("name", [*CASES, "late_nurse_every_section"])
def test_the_email_is_byte_for_byte_what_it_was(name):
    rendered = late(CASES["nurse_every_section"]) if name.startswith("late_") else email(CASES[name])
    path = GOLDEN / f"{name}.eml.txt"
    if os.environ.get("DIGEST_GOLDEN_WRITE"):
        path.write_text(rendered, encoding="utf-8", newline="\n")
    assert path.read_text(encoding="utf-8") == rendered
