"""One way to write a date and a count, everywhere: a scan of the code and templates for the ways they were written
before (issue 19: "03 Dec 2026" on one page and "3 Dec 2026" on another, "1 day(s)"). tracker/formats.py holds the
one way (fmt_date, fmt_datetime, plural; the `date`, `datetime` and `plural` filters)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [
    p
    for pattern in ("tracker/**/*.py", "templates/**/*.html", "templates/**/*.txt", "static/js/*.js")
    for p in ROOT.glob(pattern)
    if p.name != "formats.py"
]
# A day and month spelled by hand: strftime("%d %b %Y"), f"{day:%d %b}", f"{day.day} {day:%b %Y}", "%d/%m/%Y" (a
# month alone, "%b %Y" or "%B %Y", is a month heading, not a date).
HAND_MADE_DATE = re.compile(r"%-?d %b|\.day\} \{[^{}]*:%b|%d/%m/%Y|%m/%d/%Y")
BRACKETED_PLURAL = re.compile(r"[a-z]\((?:s|es)\)")


def offending(pattern: re.Pattern, allowed=()) -> list[str]:
    found = []
    for path in SOURCES:
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if pattern.search(line) and not any(a in line for a in allowed):
                found.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()[:100]}")
    return found


def test_no_page_message_or_e_mail_formats_a_date_by_hand():
    # The import guide's example file writes a US date on purpose: it shows what a spreadsheet may hold.
    assert offending(HAND_MADE_DATE, allowed=('strftime("%m/%d/%Y")',)) == []


def test_no_text_says_day_s_or_patient_s():
    assert offending(BRACKETED_PLURAL, allowed=("str(s)", "tls_context(s)")) == []  # code, not words
