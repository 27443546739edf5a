"""The refill what-if calculator: a page and `flask refill-calc`, both thin over calculator.logic."""

import json

import click
from flask import Blueprint, Flask, render_template, request
from sqlalchemy.exc import SQLAlchemyError

from tracker.calculator.forms import CalculatorForm
from tracker.calculator.logic import calculate, default_inputs, what_if
from tracker.clinic_zone import clinic_zone_name
from tracker.clinical.refill import DEFAULTS, RefillInputError
from tracker.extensions import db
from tracker.services.settings import get_setting
from tracker.web import clinic_today, requires

bp = Blueprint("calculator", __name__, url_prefix="/calculator")


@bp.get("/")
@requires("patient.view")
def index():
    if not request.args:
        defaults = default_inputs(clinic_today(), get_setting(db.session, "safety_buffer_days"))
        return render_template("calculator/index.html", form=CalculatorForm(formdata=None, data=defaults),
                               result=None, problem=None)
    form = CalculatorForm(formdata=request.args)
    result = problem = None
    if form.validate():
        try:
            result = what_if(**form.inputs(), tz=clinic_zone_name())
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
    @click.option("--dose", "dose_mcg_per_day", required=True, metavar="MCG/DAY", help="Daily dose.")
    @click.option("--alarm-volume", "alarm_volume_ml", default=str(DEFAULTS.alarm_volume_ml), show_default=True,
                  metavar="ML", help="Low-reservoir alarm volume.")
    @click.option("--buffer-days", default=None, metavar="DAYS",
                  help="Days before the alarm.  [default: the clinic's safety buffer]")
    @click.option("--stability-days", default=str(DEFAULTS.stability_days), show_default=True, metavar="DAYS",
                  help="Drug stability limit.")
    @click.option("--fill-date", default=None, metavar="YYYY-MM-DD",
                  help="[default: today in the clinic's time zone]")
    def refill_calc(reservoir_ml, fill_volume_ml, concentration_mcg_per_ml, dose_mcg_per_day, alarm_volume_ml,
                    buffer_days, stability_days, fill_date):
        """Project one refill (alarm, empty, stability and due dates) and print it as JSON."""
        if buffer_days is None:
            try:
                buffer_days = get_setting(db.session, "safety_buffer_days")
            except SQLAlchemyError:
                raise click.ClickException(
                    "Could not read the clinic's safety buffer from the database: pass --buffer-days."
                ) from None
        try:
            result = calculate(reservoir_ml, fill_volume_ml, concentration_mcg_per_ml, dose_mcg_per_day,
                               alarm_volume_ml, buffer_days, stability_days, fill_date or clinic_today(),
                               clinic_zone_name())
        except RefillInputError as error:
            raise click.ClickException(error.message) from None
        click.echo(json.dumps(result, indent=2))
