"""Forms for the clinic settings and the pump and drug catalogues. Limits come from services.catalogue, which
checks them again (with the rules that span fields)."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, DecimalField, HiddenField, SelectField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, Regexp

from tracker.clinical.pump_events import MRI_RULES
from tracker.fields import WholeNumberField
from tracker.services.catalogue import (
    ACCURACY_FRACTION,
    ALARM_ML,
    BATTERY_MONTHS,
    CONCENTRATION_MCG_PER_ML,
    ERI_TO_STOP_DAYS,
    STABILITY_DAYS,
    limits_for,
)
from tracker.services.settings import DEFAULTS, LABELS


class SettingsForm(FlaskForm):
    """One whole-number field per setting in DEFAULTS, added by `settings_form`."""

    version = HiddenField(validators=[DataRequired()])

    def values(self) -> dict[str, int]:
        return {name: self[name].data for name in DEFAULTS}


def settings_form(**kwargs) -> SettingsForm:
    """The settings form for the settings as they are defined now (a setting added later appears by itself)."""

    class Form(SettingsForm):
        pass

    for name in DEFAULTS:
        low, high = limits_for(name)
        setattr(
            Form,
            name,
            WholeNumberField(
                LABELS.get(name, name),
                validators=[
                    InputRequired(),
                    NumberRange(min=low, max=high, message=f"Enter a whole number from {low} to {high}."),
                ],
            ),
        )
    return Form(**kwargs)


class PumpModelForm(FlaskForm):
    default_alarm_ml = DecimalField(
        "Default low-reservoir alarm volume (mL)",
        places=None,
        validators=[InputRequired(), NumberRange(min=ALARM_ML[0], max=ALARM_ML[1])],
    )
    battery_life_months = WholeNumberField(
        "Battery life (months; empty when no battery drives the pump)",
        validators=[Optional(), NumberRange(min=BATTERY_MONTHS[0], max=BATTERY_MONTHS[1])],
    )
    eri_to_stop_days = WholeNumberField(
        "Days from the replacement indicator (ERI) to the pump stopping (empty when no battery drives the pump)",
        validators=[Optional(), NumberRange(min=ERI_TO_STOP_DAYS[0], max=ERI_TO_STOP_DAYS[1])],
    )
    accuracy_fraction = DecimalField(
        "Accuracy (fraction of the volume infused: 0.145 is ±14.5%)",
        places=None,
        validators=[InputRequired(), NumberRange(min=ACCURACY_FRACTION[0], max=ACCURACY_FRACTION[1])],
    )
    # Nothing pre-selected: a model the catalogue did not seed has no rule until an administrator chooses one.
    mri_rule = SelectField(
        "What an MRI means for this pump",
        choices=[("", "—"), *MRI_RULES.items()],
        validators=[InputRequired("Choose what an MRI means for this pump.")],
    )
    active = BooleanField("In use (offered at implantation)")
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])

    FIELDS = ("default_alarm_ml", "battery_life_months", "eri_to_stop_days", "accuracy_fraction", "mri_rule", "active")

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}


class DrugForm(FlaskForm):
    stability_days = WholeNumberField(
        "Stability in the pump (days)",
        validators=[InputRequired(), NumberRange(min=STABILITY_DAYS[0], max=STABILITY_DAYS[1])],
    )
    trial_only = BooleanField("Trial only (not for pump fills)")
    active = BooleanField("In use")
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])

    FIELDS = ("stability_days", "trial_only", "active")

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}


class NewDrugForm(FlaskForm):
    concentration_mcg_per_ml = WholeNumberField(
        "Concentration (mcg/mL)",
        validators=[InputRequired(), NumberRange(min=CONCENTRATION_MCG_PER_ML[0], max=CONCENTRATION_MCG_PER_ML[1])],
    )
    stability_days = WholeNumberField(
        "Stability in the pump (days)",
        default=180,
        validators=[InputRequired(), NumberRange(min=STABILITY_DAYS[0], max=STABILITY_DAYS[1])],
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

    FIELDS = ("address", "phone", "emergency_phone")

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}
