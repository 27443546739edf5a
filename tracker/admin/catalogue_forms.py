"""Forms for the clinic settings and the pump and drug catalogues. Labels and limits come from
clinical.settings_spec; services.catalogue checks them again (with the rules that span fields)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from tracker.clinical.pump_events import MRI_RULES
from tracker.clinical.settings_spec import (
    ACCURACY_FRACTION,
    BATTERY_LIFE_MONTHS,
    CONCENTRATION_MCG_PER_ML,
    DEFAULT_ALARM_ML,
    ERI_TO_STOP_DAYS,
    SETTINGS,
    STABILITY_DAYS,
    Spec,
)
from tracker.fields import WholeNumberField
from tracker.services.catalogue import DRUG_FIELDS, PUMP_MODEL_FIELDS
from tracker.services.locations import LOCATION_FIELDS


def _in_range(spec: Spec) -> NumberRange:
    return NumberRange(min=spec.low, max=spec.high)


class SettingsForm(FlaskForm):
    """One whole-number field per setting in the settings spec, added by `settings_form`."""

    version = HiddenField(validators=[DataRequired()])

    def values(self) -> dict[str, int]:
        return {spec.name: self[spec.name].data for spec in SETTINGS}


def settings_form(**kwargs) -> SettingsForm:
    """The settings form for the settings as they are defined now (a setting added later appears by itself)."""

    class Form(SettingsForm):
        pass

    for spec in SETTINGS:
        setattr(
            Form,
            spec.name,
            WholeNumberField(
                spec.label,
                validators=[
                    InputRequired(),
                    NumberRange(
                        min=spec.low, max=spec.high, message=f"Enter a whole number from {spec.low} to {spec.high}."
                    ),
                ],
            ),
        )
    return Form(**kwargs)


class PumpModelForm(FlaskForm):
    default_alarm_ml = DecimalField(
        DEFAULT_ALARM_ML.label, places=None, validators=[InputRequired(), _in_range(DEFAULT_ALARM_ML)]
    )
    battery_life_months = WholeNumberField(
        BATTERY_LIFE_MONTHS.label, validators=[Optional(), _in_range(BATTERY_LIFE_MONTHS)]
    )
    eri_to_stop_days = WholeNumberField(ERI_TO_STOP_DAYS.label, validators=[Optional(), _in_range(ERI_TO_STOP_DAYS)])
    accuracy_fraction = DecimalField(
        ACCURACY_FRACTION.label, places=None, validators=[InputRequired(), _in_range(ACCURACY_FRACTION)]
    )
    # Nothing pre-selected: a model the catalogue did not seed has no rule until an administrator chooses one.
    mri_rule = SelectField(
        "What an MRI means for this pump",
        choices=[("", "—"), *MRI_RULES.items()],
        validators=[InputRequired("Choose what an MRI means for this pump.")],
    )
    active = BooleanField("In use (offered at implantation)")
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])

    FIELDS = PUMP_MODEL_FIELDS

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}


class DrugForm(FlaskForm):
    stability_days = WholeNumberField(STABILITY_DAYS.label, validators=[InputRequired(), _in_range(STABILITY_DAYS)])
    trial_only = BooleanField("Trial only (not for pump fills)")
    active = BooleanField("In use")
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])

    FIELDS = DRUG_FIELDS

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}


class NewDrugForm(FlaskForm):
    concentration_mcg_per_ml = WholeNumberField(
        CONCENTRATION_MCG_PER_ML.label, validators=[InputRequired(), _in_range(CONCENTRATION_MCG_PER_ML)]
    )
    stability_days = WholeNumberField(
        STABILITY_DAYS.label, default=STABILITY_DAYS.default, validators=[InputRequired(), _in_range(STABILITY_DAYS)]
    )
    trial_only = BooleanField("Trial only (not for pump fills)")

    FIELDS = ("concentration_mcg_per_ml", "stability_days", "trial_only")

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}


class LocationForm(FlaskForm):
    address = StringField("Address", validators=[Length(max=300)])
    phone = StringField("Phone (office hours)", validators=[Length(max=40)])
    emergency_phone = StringField("24-hour phone (printed on every emergency summary)", validators=[Length(max=40)])
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])

    FIELDS = LOCATION_FIELDS

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}
