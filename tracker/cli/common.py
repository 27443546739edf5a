"""What the commands share: the system actor they act as, the clinic's today, a password read safely."""

import sys
from datetime import UTC, date, datetime

import click

from tracker.clinic_zone import local_date
from tracker.services import Actor

SYSTEM = Actor(user_id=None, role="admin", address="cli")


def today() -> date:
    """Today in the clinic's time zone."""
    return local_date(datetime.now(UTC))


def read_password() -> str:
    """From the terminal (asked twice, hidden) or one line of standard input; never from argv."""
    if sys.stdin.isatty():
        return click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return sys.stdin.readline().rstrip("\r\n")
