"""The daily e-mail's content as a pure function: every section, per role, and no identity beyond the MRN."""

from datetime import date

import pytest

from tracker.clinical.digest import (
    BatteryItem,
    DeadLetter,
    DigestInput,
    PatientRef,
    RefillItem,
    SchedulerHealth,
    SignOffItem,
    StageChangeItem,
    WarningItem,
    build_digest,
)

DAY = date(2026, 3, 12)
# The fixture patient as the database holds it; the content builder must never show more than the MRN.
PATIENT = {"id": 41, "mrn": "KC-20417", "first_name": "Ada", "last_name": "Lovelace",
           "date_of_birth": date(1970, 5, 17), "diagnosis": "ms", "diagnosis_label": "Multiple sclerosis"}
REF = PatientRef(PATIENT["mrn"], f"https://tracker.example/patients/{PATIENT['id']}")
OTHER = PatientRef("KC-99", "https://tracker.example/patients/99")


def nurse_input(**changes) -> DigestInput:
    data = dict(
        day=DAY, role="nurse", scope="Your patients", home_url="https://tracker.example/",
        overdue=[RefillItem(REF, "Kennesaw Clinic", date(2026, 3, 9))],
        due_soon_unbooked=[RefillItem(OTHER, "Kennesaw Clinic", date(2026, 3, 15)),
                           RefillItem(REF, "Kennesaw Clinic", date(2026, 3, 12))],
        booked_after_due=[RefillItem(OTHER, "Buckhead Clinic", date(2026, 3, 20), date(2026, 3, 24))],
        missed_appointments=[RefillItem(REF, "Kennesaw Clinic", date(2026, 3, 9), date(2026, 3, 11))],
        warnings=[WarningItem(REF, "residual_discrepancy", "Residual 4 mL less than expected", date(2026, 3, 11)),
                  WarningItem(OTHER, "pocket_fill", "Fill mismatch of 3 mL on a 20 mL pump", date(2026, 3, 11))],
        battery=[BatteryItem(OTHER, date(2026, 7, 1))],
        stage_changes=[StageChangeItem(REF, "implantation", "adjustment", date(2026, 3, 11)),
                       StageChangeItem(OTHER, "adjustment", "exited", date(2026, 3, 11), "deceased")],
    )
    data.update(changes)
    return DigestInput(**data)


def test_nurse_digest_shows_every_section_with_rows_links_and_counts():
    digest = build_digest(nurse_input())
    text = digest.text
    assert "OVERDUE REFILLS (1)" in text
    assert "MRN KC-20417 · due 09 Mar 2026 (3 days ago) · Kennesaw Clinic" in text
    assert "DUE WITHIN 7 DAYS AND NOT BOOKED (2)" in text
    assert "due today, 12 Mar 2026" in text and "due 15 Mar 2026 (in 3 days)" in text
    assert "BOOKED AFTER THE DUE DATE (1)" in text and "booked 24 Mar 2026" in text
    assert "MISSED APPOINTMENTS" in text and "booked 11 Mar 2026" in text
    assert "Residual discrepancy · Residual 4 mL less than expected" in text
    assert "Possible pocket fill · Fill mismatch of 3 mL" in text
    assert "BATTERY REPLACEMENT WITHIN 6 MONTHS (1)" in text and "replacement due 01 Jul 2026" in text
    assert "Implantation → Adjustment" in text and "Adjustment → Exited (Deceased)" in text
    assert "https://tracker.example/patients/41" in text and 'href="https://tracker.example/patients/41"' in digest.html
    assert digest.counts == {"overdue": 1, "due_soon_unbooked": 2, "booked_after_due": 1, "missed_appointment": 1,
                             "warnings": 2, "battery": 1, "stage_changes": 2}
    assert digest.subject == ("ITB tracker 12 Mar: 1 overdue, 2 due soon unbooked, 1 booked after due, "
                              "1 missed appointment, 2 refill warnings, 1 battery replacement, 2 stage changes")


def test_sections_are_sorted_most_urgent_first():
    text = build_digest(nurse_input()).text
    section = text.split("DUE WITHIN")[1].split("BOOKED AFTER")[0]
    assert section.index("due today") < section.index("in 3 days")


def test_no_name_birth_date_or_diagnosis_anywhere_and_the_subject_has_counts_only():
    digest = build_digest(nurse_input())
    for raw in (digest.subject, digest.text, digest.html):
        for secret in (PATIENT["first_name"], PATIENT["last_name"], "1970", "17 May", "May 17", "05-17",
                       PATIENT["diagnosis_label"], "sclerosis"):
            assert secret not in raw
    assert PATIENT["mrn"] not in digest.subject and "KC-" not in digest.subject


def test_html_part_escapes_what_it_is_given():
    ref = PatientRef("<b>X&1</b>", "https://tracker.example/patients/1?a=1&b=2")
    digest = build_digest(nurse_input(overdue=[RefillItem(ref, "A & B Clinic", date(2026, 3, 1))]))
    assert "<b>X&1</b>" not in digest.html and "&lt;b&gt;X&amp;1&lt;/b&gt;" in digest.html
    assert "A &amp; B Clinic" in digest.html and "a=1&amp;b=2" in digest.html


def test_a_user_with_nothing_to_do_gets_a_short_nothing_due_email_not_silence():
    empty = nurse_input(overdue=[], due_soon_unbooked=[], booked_after_due=[], missed_appointments=[], warnings=[],
                        battery=[], stage_changes=[])
    digest = build_digest(empty)
    assert digest.subject == "ITB tracker 12 Mar: nothing due"
    assert digest.nothing_due
    assert "Nothing is due for you today." in digest.text and "Nothing is due for you today." in digest.html
    assert "No refill is overdue." in digest.text


def test_nothing_due_email_can_be_turned_off():
    empty = nurse_input(overdue=[], due_soon_unbooked=[], booked_after_due=[], missed_appointments=[], warnings=[],
                        battery=[], stage_changes=[], nothing_due_email=False)
    assert build_digest(empty) is None
    assert build_digest(nurse_input(nothing_due_email=False)) is not None


def test_physician_sees_sign_offs_only():
    waiting = SignOffItem(REF, "Dose 300 → 400 mcg/day", date(2026, 3, 11))
    digest = build_digest(nurse_input(role="physician", signoffs=[waiting]))
    assert "WAITING FOR YOUR SIGN-OFF (1)" in digest.text and "Dose 300 → 400 mcg/day" in digest.text
    assert "OVERDUE" not in digest.text
    assert digest.subject == "ITB tracker 12 Mar: 1 sign-off"
    quiet = build_digest(nurse_input(role="physician", signoff_note="No sign-offs are waiting: no queue yet."))
    assert "No sign-offs are waiting: no queue yet." in quiet.text and quiet.nothing_due


def test_admin_sees_dead_letters_and_scheduler_health():
    health = SchedulerHealth("running", date(2026, 3, 10), missed_days=(date(2026, 3, 11),), unsent=2)
    dead = DeadLetter(date(2026, 3, 11), "nurse@example.org", 5, "SMTPDataError: (451, b'Try again later')")
    digest = build_digest(nurse_input(role="admin", dead_letters=[dead], scheduler=health))
    assert "nurse@example.org · 5 attempts · SMTPDataError" in digest.text
    assert "Scheduler: running" in digest.text and "Last completed digest before today: 10 Mar 2026" in digest.text
    assert "Days with no completed digest: 11 Mar 2026" in digest.text
    assert "Messages of earlier days still unsent: 2" in digest.text
    assert "OVERDUE" not in digest.text and "KC-20417" not in digest.text
    assert digest.subject == "ITB tracker 12 Mar: 1 undelivered e-mail, 2 scheduler problems"
    healthy = build_digest(nurse_input(role="admin", scheduler=SchedulerHealth("running", date(2026, 3, 11))))
    assert healthy.subject == "ITB tracker 12 Mar: nothing due" and "Every digest e-mail was delivered." in healthy.text


@pytest.mark.parametrize("role", ["nurse", "coordinator"])
def test_nurses_and_coordinators_get_the_same_clinical_sections(role):
    assert "STAGE CHANGES SINCE YESTERDAY (2)" in build_digest(nurse_input(role=role)).text
