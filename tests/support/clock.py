"""The suite's one clock: every test runs at the same pinned instant, whatever the machine's date.

The run starts at 10:00 clinic time on an ordinary Wednesday and ticks from there. The day is mid-month and far from
any daylight-saving change in either zone the suite runs in: the tests back-date histories by up to two months and
count whole days, and a 25-hour day among them moves a due date one day earlier (the refill model takes the earlier
of the elapsed-time and the calendar day on purpose: test_refill's DST fall-back test), so a test that states a day
count derives it from the projected dates. It ticks so a test that waits still sees time pass, a run never crosses
the clinic's midnight, and `TODAY` is the same in every module and in the app. TRACKER_TEST_NOW (ISO 8601 with an
offset, e.g. 2026-03-08T01:59:58-05:00) picks another instant, to run the suite at an edge on purpose.

The pin lives in this process only (time-machine): a subprocess or a browser reads the real clock unless the test
hands it the instant (tests/support/pinned.py runs a module under the same pin)."""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import time_machine

from config import Config

PIN_VARIABLE = "TRACKER_TEST_NOW"
ORDINARY_DAY = date(2026, 7, 15)  # a Wednesday, 74 days and more from any daylight-saving change in NY or Auckland
OPENING_HOUR = time(10, 0)

CLINIC_ZONE = ZoneInfo(Config.CLINIC_TIMEZONE)  # TRACKER_CLINIC_TIMEZONE, as the test app is configured (conftest)


def pinned_instant() -> datetime:
    """The instant the run starts at, in the clinic zone: TRACKER_TEST_NOW, or 10:00 on the ordinary day."""
    chosen = os.environ.get(PIN_VARIABLE)
    if not chosen:
        return datetime.combine(ORDINARY_DAY, OPENING_HOUR, CLINIC_ZONE)
    instant = datetime.fromisoformat(chosen)
    if instant.tzinfo is None:
        raise ValueError(f"{PIN_VARIABLE} needs an offset (e.g. 2026-03-08T01:59:58-05:00), not {chosen!r}")
    return instant.astimezone(CLINIC_ZONE)


NOW = pinned_instant()  # clinic-local; NOW.astimezone(UTC) for the stored form
NOW_UTC = NOW.astimezone(UTC)
TODAY = NOW.date()  # the clinic's today, as the app sees it during the run


def later(**delta) -> datetime:
    """The pinned instant moved on (UTC), for handing a subprocess a later 'now' (a lease run out)."""
    return NOW_UTC + timedelta(**delta)


_traveller: time_machine.travel | None = None


def start() -> None:
    """Pin this process's clock to NOW, ticking (conftest's pytest_configure)."""
    global _traveller
    if _traveller is None:
        _traveller = time_machine.travel(NOW, tick=True)
        _traveller.start()


def stop() -> None:
    global _traveller
    if _traveller is not None:
        _traveller.stop()
        _traveller = None
