"""The daily e-mail's content as a pure function: every section, per role, and no identity beyond the MRN."""

from datetime import date, datetime, timedelta

import pytest

from tracker.clinical import pump_events
from tracker.clinical import refill_risk as risk
from tracker.clinical.digest import REFILL_SECTIONS, build_digest, late_note
from tracker.clinical.digest_input import (
    BatteryItem,
    DeadLetter,
    DigestInput,
    PatientRef,
    PhysicianRequestItem,
    RefillItem,
    SchedulerHealth,
    StageChangeItem,
    WarningItem,
    WorkItem,
)
from tracker.digest_email import DigestEmail, render, with_note

DAY = date(2026, 3, 12)
# The fixture patient as the database holds it; the content builder must never show more than the MRN.
PATIENT = {
    "id": 41,
    "mrn": "KC-20417",
    "first_name": "Ada",
    "last_name": "Lovelace",
    "date_of_birth": date(1970, 5, 17),
    "diagnosis": "ms",
    "diagnosis_label": "Multiple sclerosis",
}
REF = PatientRef(PATIENT["mrn"], f"https://tracker.example/patients/{PATIENT['id']}")
OTHER = PatientRef("KC-99", "https://tracker.example/patients/99")


def refill(
    ref: PatientRef,
    urgency: str,
    status: str,
    booking: str,
    due: date,
    booked_on: date | None = None,
    location: str = "Kennesaw Clinic",
) -> RefillItem:
    """A pump as the model judged it; alarm a week after the due date, empty a week after that."""
    return RefillItem(
        ref, location, urgency, status, booking, due, due + timedelta(days=7), due + timedelta(days=14), booked_on
    )


NO_ITEMS = dict(refills=[], warnings=[], battery=[], device_work=[], stage_changes=[])
CHECK = WorkItem(
    OTHER, "Kennesaw Clinic", pump_events.PUMP_CHECK, date(2026, 3, 11), pump_events.MRI, date(2026, 3, 11)
)
REVIEW = WorkItem(
    REF,
    "Kennesaw Clinic",
    pump_events.PHYSICIAN_REVIEW,
    date(2026, 3, 12),
    pump_events.SUSPECTED_OCCLUSION,
    date(2026, 3, 12),
)


def nurse_input(**changes) -> DigestInput:
    data = dict(
        day=DAY,
        role="nurse",
        scope="Your patients",
        home_url="https://tracker.example/",
        refills=[
            refill(REF, risk.EMPTY, risk.EMPTY, risk.NOT_BOOKED, date(2026, 2, 20)),
            refill(OTHER, risk.PAST_ALARM, risk.PAST_ALARM, risk.AFTER_EMPTY, date(2026, 2, 27), date(2026, 3, 16)),
            refill(REF, risk.OVERDUE, risk.OVERDUE, risk.AFTER_DUE, date(2026, 3, 9), date(2026, 3, 13)),
            refill(REF, risk.MISSED, risk.DUE_SOON, risk.MISSED, date(2026, 3, 19), date(2026, 3, 11)),
            refill(
                OTHER,
                "booked_late",
                risk.DUE_SOON,
                risk.AFTER_DUE,
                date(2026, 3, 20),
                date(2026, 3, 24),
                "Buckhead Clinic",
            ),
            refill(OTHER, risk.DUE_SOON, risk.DUE_SOON, risk.NOT_BOOKED, date(2026, 3, 15)),
            refill(REF, risk.DUE_SOON, risk.DUE_SOON, risk.NOT_BOOKED, date(2026, 3, 12)),
        ],
        warnings=[
            WarningItem(REF, "residual_discrepancy", "Residual 4 mL less than expected", date(2026, 3, 11)),
            WarningItem(OTHER, "pocket_fill", "Fill mismatch of 3 mL on a 20 mL pump", date(2026, 3, 11)),
        ],
        battery=[
            BatteryItem(OTHER, "Kennesaw Clinic", risk.BATTERY_DUE_SOON, date(2026, 7, 1)),
            BatteryItem(REF, "Kennesaw Clinic", risk.BATTERY_PAST_DUE, date(2025, 12, 12)),
            BatteryItem(OTHER, "Kennesaw Clinic", risk.BATTERY_ERI, date(2027, 1, 1), date(2026, 3, 2), 90),
        ],
        device_work=[REVIEW, CHECK],
        stage_changes=[
            StageChangeItem(REF, "implantation", "adjustment", date(2026, 3, 11)),
            StageChangeItem(OTHER, "adjustment", "exited", date(2026, 3, 11), "deceased"),
        ],
    )
    data.update(changes)
    return DigestInput(**data)


def email(data: DigestInput) -> DigestEmail | None:
    """The e-mail as it is sent: the clinical sections rendered by the e-mail templates."""
    digest = build_digest(data)
    return render(digest) if digest else None


def section(text: str, title: str) -> str:
    """One section of the text part: its title line to the blank line after it."""
    return text.split(title, 1)[1].split("\n\n", 1)[0]


def test_nurse_digest_shows_every_section_with_rows_links_and_counts():
    digest = email(nurse_input())
    text = digest.text
    empty = section(text, "PUMPS PROJECTED EMPTY (1)")
    assert "Withdrawal may already be under way" in empty
    assert (
        "MRN KC-20417 · due 20 Feb 2026 (20 days ago) · alarm 27 Feb 2026 (13 days ago) · "
        "empty 6 Mar 2026 (6 days ago) · Kennesaw Clinic · Not booked"
    ) in empty
    alarm = section(text, "PAST THE LOW-RESERVOIR ALARM (1)")
    assert "MRN KC-99" in alarm and "Booked after the pump runs empty (16 Mar 2026)" in alarm
    overdue = section(text, "OVERDUE REFILLS (1)")
    assert "due 9 Mar 2026 (3 days ago)" in overdue and "Booked after the due date (13 Mar 2026)" in overdue
    missed = section(text, "MISSED APPOINTMENTS (TIME PASSED, NO REFILL RECORDED) (1)")
    assert "Missed appointment: its time passed with no refill recorded (11 Mar 2026)" in missed
    late = section(text, "BOOKED LATE (AFTER THE DUE, ALARM OR EMPTY DATE) (1)")
    assert "Buckhead Clinic · Booked after the due date (24 Mar 2026)" in late
    soon = section(text, "DUE SOON (WITHIN 14 DAYS) AND NOT BOOKED (2)")
    assert "due today, 12 Mar 2026" in soon and "due 15 Mar 2026 (in 3 days)" in soon
    battery = section(text, "PUMP BATTERIES: ERI, REPLACEMENT PAST DUE OR DUE WITHIN 6 MONTHS (3)")
    assert (
        "Battery at its replacement indicator (ERI): the pump will stop · ERI recorded 2 Mar 2026, the pump "
        "stops within 90 days of it" in battery
    )
    assert "Battery replacement past due · replacement due 12 Dec 2025 (90 days ago)" in battery
    assert "Battery replacement due within 6 months · due 1 Jul 2026 (in 111 days)" in battery
    assert battery.index("(ERI)") < battery.index("past due") < battery.index("within 6 months ·")
    assert "Residual discrepancy · Residual 4 mL less than expected" in text
    assert "Possible pocket fill · Fill mismatch of 3 mL" in text
    assert "Implantation → Adjustment" in text and "Adjustment → Exited (Deceased)" in text
    assert "https://tracker.example/patients/41" in text and 'href="https://tracker.example/patients/41"' in digest.html
    work = section(text, "DEVICE EVENTS AND ADVISORIES: PUMP CHECKS, CATHETER REVIEWS AND ADVISORY FOLLOW-UPS OPEN (2)")
    # Earliest due first: the post-MRI check was due yesterday, the occlusion's review is due today.
    assert (
        "MRN KC-99 · Post-MRI pump check · due 11 Mar 2026 (1 day ago) · MRI scan 11 Mar 2026 · Kennesaw Clinic"
    ) in work
    assert work.index("Post-MRI pump check") < work.index("Catheter event: physician review · due today")
    assert digest.counts == {
        "empty": 1,
        "past_alarm": 1,
        "overdue": 1,
        "missed": 1,
        "booked_late": 1,
        "due_soon": 2,
        "device_work": 2,
        "battery": 3,
        "warnings": 2,
        "stage_changes": 2,
    }
    assert digest.subject == (
        "ITB tracker 12 Mar: 1 projected empty, 1 past the alarm date, 1 overdue, "
        "1 missed appointment, 1 booked late, 2 due soon unbooked, 2 device checks or reviews, "
        "3 battery replacements, 2 refill warnings, 2 stage changes"
    )


def test_sections_run_most_severe_first_one_per_urgency_that_needs_action():
    text = email(nurse_input()).text
    titles = [
        "PUMPS PROJECTED EMPTY",
        "PAST THE LOW-RESERVOIR ALARM",
        "OVERDUE REFILLS",
        "MISSED APPOINTMENTS",
        "BOOKED LATE",
        "DUE SOON",
        "DEVICE EVENTS",
        "PUMP BATTERIES",
        "NEW REFILL WARNINGS",
        "STAGE CHANGES",
    ]
    assert [text.index(t) for t in titles] == sorted(text.index(t) for t in titles)
    # Every urgency the model can give a pump needing action has its section, in the model's order.
    needing = [u for u in risk.URGENCIES if u not in ("booked", risk.OK)]
    assert list(REFILL_SECTIONS) == needing


def test_rows_within_a_section_are_sorted_by_due_date():
    soon = section(email(nurse_input()).text, "DUE SOON (WITHIN 14 DAYS) AND NOT BOOKED (2)")
    assert soon.index("due today") < soon.index("in 3 days")


def test_the_due_soon_window_is_worded_from_the_clinic_setting():
    assert "DUE SOON (WITHIN 10 DAYS) AND NOT BOOKED" in email(nurse_input(due_soon_days=10)).text
    assert "DUE WITHIN 3 MONTHS (3)" in email(nurse_input(battery_months=3)).text


def test_no_name_birth_date_or_diagnosis_anywhere_and_the_subject_has_counts_only():
    digest = email(nurse_input())
    for raw in (digest.subject, digest.text, digest.html):
        for secret in (
            PATIENT["first_name"],
            PATIENT["last_name"],
            "1970",
            "17 May",
            "May 17",
            "05-17",
            PATIENT["diagnosis_label"],
            "sclerosis",
        ):
            assert secret not in raw
    assert PATIENT["mrn"] not in digest.subject and "KC-" not in digest.subject


def test_html_part_escapes_what_it_is_given():
    ref = PatientRef("<b>X&1</b>", "https://tracker.example/patients/1?a=1&b=2")
    item = refill(ref, risk.OVERDUE, risk.OVERDUE, risk.NOT_BOOKED, date(2026, 3, 1), location="A & B Clinic")
    digest = email(nurse_input(refills=[item]))
    assert "<b>X&1</b>" not in digest.html and "&lt;b&gt;X&amp;1&lt;/b&gt;" in digest.html
    assert "A &amp; B Clinic" in digest.html and "a=1&amp;b=2" in digest.html


def test_a_user_with_nothing_to_do_gets_a_short_nothing_due_email_not_silence():
    digest = email(nurse_input(**NO_ITEMS))
    assert digest.subject == "ITB tracker 12 Mar: nothing due"
    assert digest.nothing_due
    assert "Nothing is due for you today." in digest.text and "Nothing is due for you today." in digest.html
    assert "No refill is overdue." in digest.text and "No pump is projected empty." in digest.text


def test_nothing_due_email_can_be_turned_off():
    assert email(nurse_input(**NO_ITEMS, nothing_due_email=False)) is None
    assert email(nurse_input(nothing_due_email=False)) is not None


def test_physician_sees_requests_and_every_pump_past_its_alarm_or_empty():
    asked = PhysicianRequestItem(REF, "Booking after the alarm date", "Test Coordinator", datetime(2026, 3, 11, 14, 5))
    past_alarm = refill(
        OTHER,
        risk.PAST_ALARM,
        risk.PAST_ALARM,
        risk.AFTER_EMPTY,
        date(2026, 2, 27),
        date(2026, 3, 16),
        "Buckhead Clinic",
    )
    empty = refill(REF, risk.EMPTY, risk.EMPTY, risk.NOT_BOOKED, date(2026, 2, 20))
    digest = email(nurse_input(role="physician", physician_requests=[asked], physician_pumps=[past_alarm, empty]))
    rows = section(digest.text, "NEEDS A PHYSICIAN (3)")
    assert "MRN KC-20417 · Booking after the alarm date · asked by Test Coordinator on 11 Mar 2026 14:05" in rows
    assert rows.index("Booking after") < rows.index("Pump projected empty") < rows.index("Past the low-reservoir")
    assert "Buckhead Clinic · Booked after the pump runs empty (16 Mar 2026)" in rows
    assert "OVERDUE" not in digest.text and "STAGE CHANGES" not in digest.text
    assert digest.subject == "ITB tracker 12 Mar: 3 need a physician"
    quiet = email(nurse_input(role="physician"))
    assert (
        "No request is waiting for a physician, no pump is past its alarm date and no catheter review is open."
        in quiet.text
    )
    assert quiet.nothing_due and "no queue" not in quiet.text


def test_admin_sees_dead_letters_and_scheduler_health():
    health = SchedulerHealth("running", date(2026, 3, 10), missed_days=(date(2026, 3, 11),), unsent=2)
    dead = DeadLetter(date(2026, 3, 11), "nurse@example.org", 5, "SMTPDataError: (451, b'Try again later')")
    digest = email(nurse_input(role="admin", dead_letters=[dead], scheduler=health))
    assert "nurse@example.org · 5 attempts · SMTPDataError" in digest.text
    assert "Scheduler: running" in digest.text and "Last completed digest before today: 10 Mar 2026" in digest.text
    assert "Days with no completed digest: 11 Mar 2026" in digest.text
    assert "Messages of earlier days still unsent: 2" in digest.text
    assert "OVERDUE" not in digest.text and "KC-20417" not in digest.text
    assert digest.subject == "ITB tracker 12 Mar: 1 undelivered e-mail, 2 scheduler problems"
    healthy = email(nurse_input(role="admin", scheduler=SchedulerHealth("running", date(2026, 3, 11))))
    assert healthy.subject == "ITB tracker 12 Mar: nothing due" and "Every digest e-mail was delivered." in healthy.text


@pytest.mark.parametrize("role", ["nurse", "coordinator"])
def test_nurses_and_coordinators_get_the_same_clinical_sections(role):
    assert "STAGE CHANGES SINCE YESTERDAY (2)" in email(nurse_input(role=role)).text


def test_a_late_message_says_so_in_its_first_line_with_the_outage_start():
    # The digest of Thu 3 Dec, first refused at 06:00 that morning: only the time is named.
    thursday = date(2026, 12, 3)
    note = late_note(thursday, datetime(2026, 12, 3, 6, 0))
    assert note == "Sent late: this is the reminder for Thu 3 Dec, delayed by a mail outage since 06:00"
    # First refused after midnight (the app was down at the send time): the outage's day is named too.
    assert late_note(thursday, datetime(2026, 12, 4, 1, 30)).endswith("since Fri 4 Dec 01:30")
    digest = email(nurse_input())
    text, html = with_note(digest.text, digest.html, note)
    assert text.splitlines()[0] == note and text.endswith(digest.text)
    assert html.startswith('<!doctype html><html><body style="font-family:sans-serif"><p><strong>Sent late: ')
    assert "<p>Sent late" not in digest.html and html.count(note) == 1


def test_physicians_see_every_open_catheter_review_after_the_pumps():
    empty = refill(REF, risk.EMPTY, risk.EMPTY, risk.NOT_BOOKED, date(2026, 2, 20))
    digest = email(nurse_input(role="physician", physician_pumps=[empty], physician_work=[REVIEW]))
    rows = section(digest.text, "NEEDS A PHYSICIAN (2)")
    assert rows.index("Pump projected empty") < rows.index(
        "MRN KC-20417 · Catheter event: physician review · due today, 12 Mar 2026 · Suspected catheter occlusion or "
        "kink 12 Mar 2026"
    )
    assert "DEVICE EVENTS" not in digest.text  # the nurses' section; physicians get the reviews in theirs
