"""Clinic-local days and instants: pure, stdlib only (clinic_zone and the refill engine both build on it)."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo


def start_of_day(day: date, zone: ZoneInfo) -> datetime:
    """The first instant of a clinic-local day. A fill or implant given as a date, without a time, counts from
    here: projected dates can then only come early, never late."""
    return datetime.combine(day, time(0), zone)
