"""Correction forms: the entry's own form, prefilled with the original's values, plus why it is corrected."""

from flask_wtf import FlaskForm
from wtforms import DateField, DecimalField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from tracker.patients.forms import BolusForm
from tracker.refills.forms import DoseForm, RefillForm

WHY_LABEL = "Why is the entry corrected? (shown with the original)"


def _why(label: str = WHY_LABEL) -> TextAreaField:
    return TextAreaField(label, validators=[DataRequired("Say why."), Length(max=2000)])


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class RefillCorrectionForm(RefillForm):
    why = _why()


class FirstFillCorrectionForm(FlaskForm):
    """The fill at implantation (or an import's first fill): it has no residuals and keeps its time."""

    fill_volume_ml = DecimalField(
        "Fill volume (mL)", places=1, validators=[InputRequired(), NumberRange(min=0.5, max=40)]
    )
    concentration_mcg_per_ml = SelectField(
        "Concentration",
        coerce=_optional_int,
        validate_choice=True,
        validators=[InputRequired("Choose the concentration.")],
    )
    lot = StringField("Lot", validators=[Length(max=40)])
    why = _why()


class DoseCorrectionForm(DoseForm):
    why = _why()


class BolusCorrectionForm(BolusForm):
    why = _why()


class VoidEntryForm(FlaskForm):
    why = _why("Why is this entry a mistake? (shown with the original)")


class ImplantCorrectionForm(FlaskForm):
    serial = StringField("Serial number", validators=[DataRequired(), Length(max=40)])
    catheter_tip_level = StringField("Catheter tip level", validators=[DataRequired(), Length(max=10)])
    alarm_volume_ml = DecimalField(
        "Low-reservoir alarm (mL)", places=1, validators=[InputRequired(), NumberRange(min=0.5, max=10)]
    )
    surgeon = StringField("Surgeon", validators=[Length(max=120)])
    surgery_centre_id = SelectField("Surgery centre", coerce=_optional_int, validate_choice=True)
    why = _why("Why are the details corrected? (shown with the values replaced)")
    version = HiddenField()  # the pump as the form was opened
    last_correction_id = HiddenField()  # and its newest correction: a second tab's change is refused


class EriCorrectionForm(FlaskForm):
    eri_on = DateField("Corrected ERI date (empty to void it)", validators=[Optional()])
    why = _why("Why is the ERI date corrected or voided? (shown with the date replaced)")
    version = HiddenField()
    last_correction_id = HiddenField()
