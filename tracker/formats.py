"""How dates, times and counts read, in one place: pages (the `date`, `datetime` and `plural` filters), e-mails,
messages and CSV words all call these, so "3 Dec 2026" is never "03 Dec 2026" or "2026-12-03" on another screen.
Form inputs keep their own ISO formats (the browser's date pickers need them). Pure: no Flask, no database."""

from __future__ import annotations

import re
from datetime import date, datetime

from tracker.clinic_zone import clinic_zone


def fmt_date(value: date | None) -> str:
    """3 Dec 2026 (a clinic-local day; '' for none)."""
    return f"{value.day} {value:%b %Y}" if value else ""


def fmt_day_month(value: date) -> str:
    """3 Dec: a date whose year the sentence already gives (an e-mail's subject, "due 3 Dec 2026 ... alarm 9 Dec")."""
    return f"{value.day} {value:%b}"


def fmt_datetime(value: datetime | None) -> str:
    """3 Dec 2026 14:05, on the clinic's wall clock (stored instants are UTC; a naive value, as a datetime-local
    form field gives, is that wall clock already)."""
    if value is None:
        return ""
    local = value if value.tzinfo is None else value.astimezone(clinic_zone())
    return f"{fmt_date(local.date())} {local:%H:%M}"


def csv_datetime(value: datetime | None) -> str:
    """An instant in a CSV file: "2026-12-05 09:00" on the clinic's clock (spreadsheets read it as a date and time,
    in any locale; the ISO instant in UTC read as the wrong hour)."""
    return value.astimezone(clinic_zone()).strftime("%Y-%m-%d %H:%M") if value else ""


def fmt_iso(text: str | None) -> str:
    """A date or time kept as ISO text (a request's proposal: "2026-12-03", "2026-12-03T10:00" on the clinic's
    clock; an instant with its offset) in the same words; text that is neither is shown as it is."""
    if not text:
        return ""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        return text
    return fmt_date(value.date()) if len(text) == 10 else fmt_datetime(value)


def plural(count: int, word: str, many: str | None = None) -> str:
    """'1 day', '2 days', '0 days'; `many` for words that do not just add an s ('1 patient', '3 people')."""
    return f"{count} {word if count == 1 else many or word + 's'}"


_EXTENSION = re.compile(r"(?i)\s*(?:ext\.?|extension|x)\s*\d+\s*$")


def tel_href(phone: str | None) -> str | None:
    """A phone number as a tel: link dials it: "+1 (404) 555-0134" -> "tel:+14045550134" (digits, and a leading +
    kept). An extension ("x12", "ext. 12") is left off: phones cannot dial it from a link. None when too few
    digits remain to dial (a note typed in the phone field)."""
    number = _EXTENSION.sub("", (phone or "").strip())
    digits = re.sub(r"\D", "", number)
    if len(digits) < 3:
        return None
    return f"tel:{'+' if number.startswith('+') else ''}{digits}"
