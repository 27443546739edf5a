"""The what-if form. It is submitted with GET (bookmarkable, changes nothing), so it carries no CSRF token."""

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField
from wtforms.validators import InputRequired, ValidationError

from tracker.calculator.logic import FIRST_FILL_DATE, LAST_FILL_DATE, LIMITS, check, check_fill_date
from tracker.clinical.refill import RefillInputError
from tracker.fields import WholeNumberField

DATE_HELP = "Use the date picker, or type YYYY-MM-DD."


class InLimits:
    """The calculator's own range check, so the page and `flask refill-calc` refuse the same values."""

    def __init__(self, name: str):
        self.name = name
        limit = LIMITS[name]
        self.field_flags = {"min": limit.low, "max": limit.high}  # rendered as min/max on the input

    def __call__(self, form, field):
        if field.data is None:  # empty or unparseable: InputRequired or the field itself says so
            return
        try:
            check(self.name, field.data)
        except RefillInputError as error:
            raise ValidationError(error.message) from None


class FillDateInWindow:
    field_flags = {"min": FIRST_FILL_DATE.isoformat(), "max": LAST_FILL_DATE.isoformat()}

    def __call__(self, form, field):
        if field.data is None:
            return
        try:
            check_fill_date(field.data)
        except RefillInputError as error:
            raise ValidationError(error.message) from None


def _number(label: str, name: str, whole: bool = False, **render_kw):
    validators = [InputRequired(), InLimits(name)]
    if whole:
        return WholeNumberField(label, validators=validators, render_kw=render_kw or None)
    return DecimalField(label, places=None, validators=validators, render_kw=render_kw or None)


class CalculatorForm(FlaskForm):
    class Meta:
        csrf = False

    reservoir_ml = _number("Reservoir (mL)", "reservoir_ml")
    fill_volume_ml = _number("Fill volume (mL)", "fill_volume_ml")
    concentration_mcg_per_ml = _number("Concentration (mcg/mL)", "concentration_mcg_per_ml", whole=True,
                                       list="concentrations")
    dose_mcg_per_day = _number("Daily dose (mcg/day)", "dose_mcg_per_day")
    alarm_volume_ml = _number("Low-reservoir alarm (mL)", "alarm_volume_ml")
    buffer_days = _number("Safety buffer (days)", "buffer_days", whole=True)
    stability_days = _number("Drug stability (days)", "stability_days", whole=True)
    fill_date = DateField("Fill date", validators=[InputRequired(message=DATE_HELP), FillDateInWindow()])

    def inputs(self) -> dict:
        """The values in the names `logic.calculate` takes."""
        return {name: field.data for name, field in self._fields.items()}
