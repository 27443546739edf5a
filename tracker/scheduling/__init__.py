"""Scheduling refills: the calendar (calendar), the worklist (worklist), booking (bookings), contact attempts
(contacts), printed lists (printing) and the personal iCal feed (feed).

The blueprint keeps the name "calendar": its endpoints (calendar.book, calendar.worklist ...) are named in
templates, tests and the request log, and its URLs do not change."""

from flask import Blueprint

bp = Blueprint("calendar", __name__)
