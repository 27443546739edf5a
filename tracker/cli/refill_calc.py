"""The what-if calculator on the command line: `flask refill-calc`, the same arithmetic as the calculator page."""

import json

import click
from flask.cli import with_appcontext
from sqlalchemy.exc import SQLAlchemyError

from tracker.cli.common import today
from tracker.clinic_zone import clinic_zone_name
from tracker.clinical.errors import RefillInputError
from tracker.clinical.settings_spec import DEFAULT_ALARM_ML, DEFAULTS, STABILITY_DAYS
from tracker.clinical.what_if import calculate, usual_dose
from tracker.extensions import db
from tracker.services.settings import all_settings


@click.command("refill-calc")
@click.option("--reservoir", "reservoir_ml", required=True, metavar="ML", help="Reservoir capacity (20 or 40 mL).")
@click.option(
    "--fill-volume", "fill_volume_ml", required=True, metavar="ML", help="Volume in the reservoir after the fill."
)
@click.option(
    "--concentration", "concentration_mcg_per_ml", required=True, metavar="MCG/ML", help="Usually 500, 1000 or 2000."
)
@click.option(
    "--previous-concentration",
    "previous_concentration_mcg_per_ml",
    default=None,
    metavar="MCG/ML",
    help="What the pump held before: a change needs a bridge bolus (a warning).",
)
@click.option(
    "--dose", "dose_mcg_per_day", default=None, metavar="MCG/DAY", help="Simple continuous daily dose (or --flex)."
)
@click.option(
    "--flex",
    "flex_schedule",
    default=None,
    metavar="STEPS",
    help='Flexible schedule (the import\'s format): steps "HH:MM mcg-per-hour" separated by ";", and '
    '"Sat Sun:" or "Mon-Fri:" before days with steps of their own. '
    'E.g. "00:00 8; 07:00 12; Sat Sun: 00:00 8".',
)
@click.option(
    "--bolus",
    "bolus_dose_mcg",
    default=None,
    metavar="MCG",
    help="Patient-activated bolus dose (with --max-boluses): every permitted bolus is counted.",
)
@click.option(
    "--max-boluses", "max_boluses_per_day", default=None, metavar="N", help="Maximum patient-activated boluses a day."
)
@click.option(
    "--alarm-volume",
    "alarm_volume_ml",
    default=str(DEFAULT_ALARM_ML.default),
    show_default=True,
    metavar="ML",
    help="Low-reservoir alarm volume.",
)
@click.option(
    "--buffer-days", default=None, metavar="DAYS", help="Days before the alarm.  [default: the clinic's safety buffer]"
)
@click.option(
    "--stability-days",
    default=str(STABILITY_DAYS.default),
    show_default=True,
    metavar="DAYS",
    help="Drug stability limit.",
)
@click.option("--fill-date", default=None, metavar="YYYY-MM-DD", help="[default: today in the clinic's time zone]")
@click.option(
    "--fill-time",
    default=None,
    metavar="HH:MM",
    help="The clinic's wall-clock time of the fill.  [default: midnight, as for a date alone]",
)
@with_appcontext
def refill_calc_command(buffer_days, fill_date, **given):
    """Project one refill (alarm, empty, stability and due dates) and print it as JSON, with its warnings."""
    try:
        settings = all_settings(db.session)
    except SQLAlchemyError:
        if buffer_days is None:
            raise click.ClickException(
                "Could not read the clinic's safety buffer from the database: pass --buffer-days."
            ) from None
        settings = DEFAULTS
    if buffer_days is None:
        buffer_days = settings["safety_buffer_days"]
    try:
        result = calculate(
            **given,
            buffer_days=buffer_days,
            fill_date=fill_date or today(),
            tz=clinic_zone_name(),
            usual_dose_mcg=usual_dose(settings),
        )
    except RefillInputError as error:
        raise click.ClickException(error.message) from None
    click.echo(json.dumps(result, indent=2))
