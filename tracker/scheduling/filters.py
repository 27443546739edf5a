"""The clinic and nurse filters the calendar, the worklist and their printed and exported forms take."""

from datetime import date

from flask import request
from flask_login import current_user

from tracker.auth.permissions import own_clinic_only
from tracker.services.calendar import feed_locations
from tracker.web.args import int_arg


def list_filters(home_clinic: bool = False):
    """The location and nurse filters. With `home_clinic`, a request that names no location (not even the empty
    "All clinics") shows the user's home clinic, as the calendar feed does: clinic staff plan their own clinic's
    refills, and a month of every clinic is thousands of events."""
    location_id, nurse_id = int_arg("location"), int_arg("nurse")
    if home_clinic and "location" not in request.args:
        location_id = (feed_locations(current_user) or [None])[0]
    location_id = own_clinic_only() or location_id  # the settings may show only the user's own clinic
    return {"location": location_id, "nurse": nurse_id}, ([location_id] if location_id else None), nurse_id


def iso_day(day: date | None) -> str:
    """An ISO date, or an empty cell."""
    return day.isoformat() if day else ""
