"""Booking rules shared by the booking form and the importer: pure, no Flask, no database."""

from __future__ import annotations

from datetime import time

# The clinic's first slot of the day: the booking form suggests it, and an imported booking with a date but no
# time is placed there.
DEFAULT_BOOKING_TIME = time(9, 0)
