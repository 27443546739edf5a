"""The clinic's one time zone (TRACKER_CLINIC_TIMEZONE, set by create_app): every stored refill date, every
booking's day and every "today" is a day in this zone, so a page, the e-mail and the feed can never disagree by a
day. One zone for the whole programme (README, "Time zone"): locations have none of their own."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from tracker.clinical import days

_zone = ZoneInfo("America/New_York")


def set_clinic_zone(name: str) -> None:
    """Called once by create_app; an unknown name fails start-up (ZoneInfoNotFoundError), not a refill date."""
    global _zone
    _zone = ZoneInfo(name)


def clinic_zone() -> ZoneInfo:
    return _zone


def clinic_zone_name() -> str:
    return _zone.key


def clinic_today() -> date:
    """Today in the clinic's time zone (not the server's, which is UTC)."""
    return local_date(datetime.now(UTC))


def local_date(when: datetime) -> date:
    """The clinic-local day of an aware instant."""
    return when.astimezone(_zone).date()


def start_of_day(day: date) -> datetime:
    """The first instant of a clinic-local day: a fill or implant given as a date starts then."""
    return days.start_of_day(day, _zone)
