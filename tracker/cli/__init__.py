"""Every flask command, registered here by `register(app)`, one module per group: accounts (create-user,
reset-password), setup (first-run, seed-demo, backup), the background jobs (scheduler), the what-if calculator
(refill-calc), the FHIR export (fhir-export) and the daily e-mail (`digest preview|send|status`, a click group)."""

from flask import Flask

from tracker.cli.accounts import create_user_command, reset_password_command
from tracker.cli.digest import digest_group
from tracker.cli.fhir import fhir_export_command
from tracker.cli.refill_calc import refill_calc_command
from tracker.cli.scheduler import scheduler_command
from tracker.cli.setup import backup_command, first_run_command, seed_demo_command


def register(app: Flask) -> None:
    """Add the commands to `flask --app wsgi`."""
    for command in (
        backup_command,
        create_user_command,
        reset_password_command,
        seed_demo_command,
        first_run_command,
        scheduler_command,
        refill_calc_command,
        digest_group,
        fhir_export_command,
    ):
        app.cli.add_command(command)
