"""How dates, times, counts and phone numbers read (tracker/formats.py), and the worklist's "how far off" words."""

from datetime import UTC, date, datetime

from tracker.clinic_zone import clinic_zone
from tracker.clinical.refill_risk import due_words
from tracker.formats import csv_datetime, fmt_date, fmt_datetime, fmt_iso, plural, tel_href


def test_a_date_reads_day_month_year_without_a_leading_zero():
    assert fmt_date(date(2026, 12, 3)) == "3 Dec 2026"
    assert fmt_date(date(2027, 1, 21)) == "21 Jan 2027"
    assert fmt_date(None) == ""


def test_a_stored_instant_reads_on_the_clinics_clock():
    instant = datetime(2026, 12, 3, 19, 5, tzinfo=UTC)
    local = instant.astimezone(clinic_zone())
    assert fmt_datetime(instant) == f"{local.day} {local:%b %Y %H:%M}"
    assert fmt_datetime(datetime(2026, 12, 3, 9, 0)) == "3 Dec 2026 09:00"  # a form's wall-clock value, as typed
    assert csv_datetime(instant) == local.strftime("%Y-%m-%d %H:%M")


def test_iso_text_from_a_request_reads_like_every_other_date():
    assert fmt_iso("2026-12-03") == "3 Dec 2026"
    assert fmt_iso("2026-12-03T10:00") == "3 Dec 2026 10:00"
    assert fmt_iso("not a date") == "not a date" and fmt_iso(None) == ""


def test_plurals_are_words_not_brackets():
    assert [plural(n, "day") for n in (0, 1, 2)] == ["0 days", "1 day", "2 days"]
    assert plural(1, "patient row") == "1 patient row" and plural(3, "person", "people") == "3 people"


def test_due_words_say_how_far_off_the_due_date_is():
    today = date(2026, 12, 3)
    assert due_words(date(2026, 9, 28), today) == "66 days past due"
    assert due_words(date(2026, 12, 2), today) == "1 day past due"
    assert due_words(today, today) == "due today"
    assert due_words(date(2026, 12, 4), today) == "1 day left"


def test_a_tel_link_dials_the_digits_and_a_leading_plus():
    assert tel_href("+1 (404) 555-0134") == "tel:+14045550134"
    assert tel_href("(770) 555-0199") == "tel:7705550199"
    assert tel_href("404.555.0134 ext. 12") == "tel:4045550134"  # an extension cannot be dialled from a link
    assert tel_href("ask the daughter") is None and tel_href("") is None and tel_href(None) is None
