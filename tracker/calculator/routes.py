"""The refill what-if calculator: a page and `flask refill-calc`, both thin over clinical.what_if."""

import json

import click
from flask import Blueprint, Flask, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from tracker.calculator.forms import CalculatorForm
from tracker.clinic_zone import clinic_zone_name
from tracker.clinical.refill import DEFAULTS, RefillInputError
from tracker.clinical.what_if import calculate, default_inputs, what_if
from tracker.extensions import db
from tracker.services.settings import all_settings
from tracker.web import clinic_today, requires

bp = Blueprint("calculator", __name__, url_prefix="/calculator")


def usual_dose(settings: dict) -> tuple[int, int]:
    """The clinic's usual daily dose range, for the engine's dose-range warning."""
    return settings["usual_dose_min_mcg_per_day"], settings["usual_dose_max_mcg_per_day"]


@bp.get("/")
@requires("patient.view")
def index():
    settings = all_settings(db.session)
    if not request.args:
        defaults = default_inputs(clinic_today(), settings["safety_buffer_days"])
        return render_template("calculator/index.html", form=CalculatorForm(formdata=None, data=defaults),
                               result=None, problem=None)
    form = CalculatorForm(formdata=request.args)
    result = problem = None
    if form.validate():
        try:
            result = what_if(**form.inputs(), tz=clinic_zone_name(), usual_dose_mcg=usual_dose(settings))
        except RefillInputError as error:
            field = getattr(form, error.field, None)
            if field is not None:
                field.errors = list(field.errors) + [error.message]
            else:
                problem = error.message
    return render_template("calculator/index.html", form=form, result=result, problem=problem), (
        200 if result else 422
    )


def register_cli(app: Flask) -> None:
    @app.cli.command("refill-calc")
    @click.option("--reservoir", "reservoir_ml", required=True, metavar="ML",
                  help="Reservoir capacity (20 or 40 mL).")
    @click.option("--fill-volume", "fill_volume_ml", required=True, metavar="ML",
                  help="Volume in the reservoir after the fill.")
    @click.option("--concentration", "concentration_mcg_per_ml", required=True, metavar="MCG/ML",
                  help="Usually 500, 1000 or 2000.")
    @click.option("--previous-concentration", "previous_concentration_mcg_per_ml", default=None, metavar="MCG/ML",
                  help="What the pump held before: a change needs a bridge bolus (a warning).")
    @click.option("--dose", "dose_mcg_per_day", default=None, metavar="MCG/DAY",
                  help="Simple continuous daily dose (or --flex).")
    @click.option("--flex", "flex_schedule", default=None, metavar="STEPS",
                  help='Flexible schedule (the import\'s format): steps "HH:MM mcg-per-hour" separated by ";", and '
                       '"Sat Sun:" or "Mon-Fri:" before days with steps of their own. '
                       'E.g. "00:00 8; 07:00 12; Sat Sun: 00:00 8".')
    @click.option("--bolus", "bolus_dose_mcg", default=None, metavar="MCG",
                  help="Patient-activated bolus dose (with --max-boluses): every permitted bolus is counted.")
    @click.option("--max-boluses", "max_boluses_per_day", default=None, metavar="N",
                  help="Maximum patient-activated boluses a day.")
    @click.option("--alarm-volume", "alarm_volume_ml", default=str(DEFAULTS.alarm_volume_ml), show_default=True,
                  metavar="ML", help="Low-reservoir alarm volume.")
    @click.option("--buffer-days", default=None, metavar="DAYS",
                  help="Days before the alarm.  [default: the clinic's safety buffer]")
    @click.option("--stability-days", default=str(DEFAULTS.stability_days), show_default=True, metavar="DAYS",
                  help="Drug stability limit.")
    @click.option("--fill-date", default=None, metavar="YYYY-MM-DD",
                  help="[default: today in the clinic's time zone]")
    @click.option("--fill-time", default=None, metavar="HH:MM",
                  help="The clinic's wall-clock time of the fill.  [default: midnight, as for a date alone]")
    def refill_calc(buffer_days, fill_date, **given):
        """Project one refill (alarm, empty, stability and due dates) and print it as JSON, with its warnings."""
        try:
            settings = all_settings(db.session)
        except SQLAlchemyError:
            if buffer_days is None:
                raise click.ClickException(
                    "Could not read the clinic's safety buffer from the database: pass --buffer-days."
                ) from None
            settings = {"usual_dose_min_mcg_per_day": DEFAULTS.usual_dose_min_mcg_per_day,
                        "usual_dose_max_mcg_per_day": DEFAULTS.usual_dose_max_mcg_per_day}
        if buffer_days is None:
            buffer_days = settings["safety_buffer_days"]
        try:
            result = calculate(**given, buffer_days=buffer_days, fill_date=fill_date or clinic_today(),
                               tz=clinic_zone_name(), usual_dose_mcg=usual_dose(settings))
        except RefillInputError as error:
            raise click.ClickException(error.message) from None
        click.echo(json.dumps(result, indent=2))
