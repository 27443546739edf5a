"""The refill what-if calculator page, thin over clinical.what_if (as `flask refill-calc` is: tracker/cli)."""

from flask import render_template, request

from tracker.auth.permissions import requires
from tracker.calculator import bp
from tracker.calculator.forms import CalculatorForm
from tracker.clinic_zone import clinic_today, clinic_zone_name
from tracker.clinical.errors import DomainError
from tracker.clinical.what_if import default_inputs, usual_dose, what_if
from tracker.extensions import db
from tracker.services.settings import all_settings


@bp.get("/")
@requires("patient.view")
def index():
    settings = all_settings(db.session)
    if not request.args:
        defaults = default_inputs(clinic_today(), settings["safety_buffer_days"])
        return render_template(
            "calculator/index.html", form=CalculatorForm(formdata=None, data=defaults), result=None, problem=None
        )
    form = CalculatorForm(formdata=request.args)
    result = problem = None
    if form.validate():
        try:
            result = what_if(**form.inputs(), tz=clinic_zone_name(), usual_dose_mcg=usual_dose(settings))
        except DomainError as error:
            field = getattr(form, error.field, None)
            if field is not None:
                field.errors = list(field.errors) + [error.message]
            else:
                problem = error.message
    return render_template("calculator/index.html", form=form, result=result, problem=problem), (200 if result else 422)
