"""The what-if form. It is submitted with GET (bookmarkable, changes nothing), so it carries no CSRF token."""

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, TextAreaField, TimeField
from wtforms.validators import InputRequired, Length, Optional, ValidationError

from tracker.clinical.errors import RefillInputError
from tracker.clinical.what_if import (
    FIRST_FILL_DATE,
    LAST_FILL_DATE,
    LIMITS,
    MAX_SCHEDULE_TEXT,
    check,
    check_fill_date,
    read_schedule,
)
from tracker.fields import WholeNumberField

DATE_HELP = "Use the date picker, or type YYYY-MM-DD."
TIME_HELP = "Use the time picker, or type HH:MM (24-hour clock)."


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


class FlexWeek:
    """The schedule read as the import reads it (tracker.clinical.flex_text) and checked by the engine's rules."""

    def __call__(self, form, field):
        if not (field.data or "").strip():
            return
        try:
            read_schedule(field.data)
        except RefillInputError as error:
            raise ValidationError(error.message) from None


def _number(label: str, name: str, whole: bool = False, optional: bool = False, **render_kw):
    validators = [Optional() if optional else InputRequired(), InLimits(name)]
    if whole:
        return WholeNumberField(label, validators=validators, render_kw=render_kw or None)
    return DecimalField(label, places=None, validators=validators, render_kw=render_kw or None)


class CalculatorForm(FlaskForm):
    class Meta:
        csrf = False

    reservoir_ml = _number("Reservoir (mL)", "reservoir_ml")
    fill_volume_ml = _number("Fill volume (mL)", "fill_volume_ml")
    concentration_mcg_per_ml = _number(
        "Concentration (mcg/mL)", "concentration_mcg_per_ml", whole=True, list="concentrations"
    )
    previous_concentration_mcg_per_ml = _number(
        "Previous concentration (mcg/mL)",
        "previous_concentration_mcg_per_ml",
        whole=True,
        optional=True,
        list="concentrations",
    )
    fill_date = DateField("Fill date", validators=[InputRequired(message=DATE_HELP), FillDateInWindow()])
    fill_time = TimeField("Fill time", format=["%H:%M", "%H:%M:%S"], validators=[Optional()])
    dose_mcg_per_day = _number("Daily dose (mcg/day)", "dose_mcg_per_day", optional=True)
    flex_schedule = TextAreaField(
        "Or a flexible schedule (mcg/hour)",
        validators=[Length(max=MAX_SCHEDULE_TEXT), FlexWeek()],
        render_kw={"rows": 4},
    )
    bolus_dose_mcg = _number("Patient-activated bolus (mcg)", "bolus_dose_mcg", optional=True)
    max_boluses_per_day = _number("Maximum boluses a day", "max_boluses_per_day", whole=True, optional=True)
    alarm_volume_ml = _number("Alarm volume (mL)", "alarm_volume_ml")
    buffer_days = _number("Safety buffer (days)", "buffer_days", whole=True)
    stability_days = _number("Drug stability (days)", "stability_days", whole=True)

    def inputs(self) -> dict:
        """The values in the names `what_if.what_if` takes."""
        return {name: field.data for name, field in self._fields.items()}
