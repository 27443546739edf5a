"""Patient, stage-change and trial-bolus forms. Choices that come from the database are set by the route."""

from wtforms import (
    BooleanField,
    DateField,
    DecimalField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from tracker.clinical.scales import ASHWORTH, DIAGNOSES, ORIGINS, PENN_FREQUENCY, PENN_SEVERITY, SEXES, TRIAL_OUTCOMES
from tracker.fields import WholeNumberField
from tracker.once import OnceForm

DATE_HELP = "Use the date picker, or type YYYY-MM-DD."
EMPTY = [("", "—")]  # nothing is pre-selected: a clinical choice is made, never defaulted


def _optional_str(value):
    return str(value) if value not in (None, "") else None


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


def _chosen(label: str, choices, message: str, coerce=_optional_str) -> SelectField:
    """A required choice that starts empty ("—"); leaving it empty gives `message` beside the field."""
    return SelectField(
        label,
        choices=EMPTY + list(choices),
        coerce=coerce,
        validate_choice=True,
        validators=[InputRequired(message=message)],
    )


class PatientForm(OnceForm):
    mrn = StringField("MRN", validators=[DataRequired(), Length(max=40)])
    first_name = StringField("First name", validators=[DataRequired(), Length(max=80)])
    last_name = StringField("Last name", validators=[DataRequired(), Length(max=80)])
    date_of_birth = DateField("Date of birth", validators=[InputRequired(message=DATE_HELP)])
    sex = _chosen("Sex", SEXES.items(), "Choose the sex (or Unknown).")
    diagnosis = _chosen("Diagnosis", DIAGNOSES.items(), "Choose the diagnosis (or Other).")
    spasticity_origin = _chosen("Spasticity origin", ORIGINS.items(), "Choose spinal or cerebral.")
    location_id = SelectField("Home location", coerce=int, validators=[InputRequired("Choose the home location.")])
    nurse_id = SelectField("Primary nurse", coerce=_optional_int)
    withdrawal_risk = BooleanField("High withdrawal risk")
    withdrawal_risk_reason = StringField("Why (high withdrawal risk)", validators=[Length(max=300)])
    phone = StringField("Phone", validators=[Optional(), Length(max=40)])
    version = HiddenField()

    DETAIL_FIELDS = (
        "mrn",
        "first_name",
        "last_name",
        "date_of_birth",
        "sex",
        "diagnosis",
        "spasticity_origin",
        "location_id",
        "nurse_id",
        "withdrawal_risk",
        "withdrawal_risk_reason",
        "phone",
    )

    def details(self) -> dict:
        data = {name: getattr(self, name).data for name in self.DETAIL_FIELDS}
        data["phone"] = (data["phone"] or "").strip()
        data["withdrawal_risk_reason"] = (data["withdrawal_risk_reason"] or "").strip()
        return data


class NewPatientForm(PatientForm):
    referred_on = DateField("Referral date", validators=[InputRequired(message=DATE_HELP)])


class MoveForm(OnceForm):
    # The journey rules (not WTForms) refuse a move, with a message listing the allowed ones.
    move = SelectField("Move to", validators=[DataRequired()], validate_choice=False)
    effective_date = DateField("Effective date", validators=[InputRequired(message=DATE_HELP)])
    reason = TextAreaField("Reason", validators=[Length(max=2000)])
    override_reason = TextAreaField(
        "Physician override: why implant without a positive trial", validators=[Length(max=2000)]
    )
    surgery_centre_id = SelectField("Surgery centre (implantation)", coerce=_optional_int, validate_choice=True)
    surgeon = StringField("Surgeon (implantation)", validators=[Length(max=120)])
    # The pump placed at implantation, its first fill and the starting dose.
    model_id = SelectField("Pump model", coerce=_optional_int, validate_choice=True)
    serial = StringField("Serial number", validators=[Length(max=40)])
    catheter_tip_level = StringField("Catheter tip level", validators=[Length(max=10)])
    alarm_volume_ml = DecimalField(
        "Low-reservoir alarm (mL)", places=1, validators=[Optional(), NumberRange(min=0.5, max=10)]
    )
    fill_volume_ml = DecimalField("Fill volume (mL)", places=1, validators=[Optional(), NumberRange(min=0.5, max=40)])
    concentration_mcg_per_ml = SelectField("Concentration", coerce=_optional_int, validate_choice=True)
    daily_dose_mcg = DecimalField(
        "Starting dose (mcg/day)", places=1, validators=[Optional(), NumberRange(min=1, max=3000)]
    )
    version = HiddenField(validators=[DataRequired()])

    IMPLANT_REQUIRED = (
        "model_id",
        "serial",
        "catheter_tip_level",
        "fill_volume_ml",
        "concentration_mcg_per_ml",
        "daily_dose_mcg",
    )

    def validate(self, extra_validators=None) -> bool:
        ok = super().validate(extra_validators)
        if self.move.data == "implantation":
            for name in self.IMPLANT_REQUIRED:
                field = getattr(self, name)
                if field.data in (None, "") and not field.errors:
                    field.errors = list(field.errors) + ["Required for an implantation."]
                    ok = False
        return ok


class VoidForm(OnceForm):
    why = TextAreaField("Why is this entry a mistake?", validators=[DataRequired(), Length(max=2000)])
    version = HiddenField(validators=[DataRequired()])


def _severity(label):
    return SelectField(
        label,
        choices=[("", "—")] + [(str(s), str(s)) for s in PENN_SEVERITY],
        coerce=_optional_int,
        validate_choice=True,
    )


class BolusForm(OnceForm):
    given_on = DateField("Date given", validators=[InputRequired(message=DATE_HELP)])
    dose_mcg = WholeNumberField("Dose (mcg)", validators=[InputRequired(), NumberRange(min=5, max=200)])
    concentration_mcg_per_ml = WholeNumberField(
        "Concentration (mcg/mL)", validators=[InputRequired(), NumberRange(min=10, max=2000)]
    )
    ashworth_before = _chosen("Ashworth before", [(a, a) for a in ASHWORTH], "Choose the Ashworth score before.")
    ashworth_after = _chosen("Ashworth after", [(a, a) for a in ASHWORTH], "Choose the Ashworth score after.")
    penn_frequency_before = _chosen(
        "Penn frequency before",
        [(str(f), str(f)) for f in PENN_FREQUENCY],
        "Choose the Penn frequency before (0-4).",
        _optional_int,
    )
    penn_severity_before = _severity("Penn severity before")
    penn_frequency_after = _chosen(
        "Penn frequency after",
        [(str(f), str(f)) for f in PENN_FREQUENCY],
        "Choose the Penn frequency after (0-4).",
        _optional_int,
    )
    penn_severity_after = _severity("Penn severity after")
    hours_of_effect = DecimalField("Hours of effect", places=1, validators=[Optional(), NumberRange(min=0, max=72)])
    outcome = _chosen("Outcome", TRIAL_OUTCOMES.items(), "Choose the outcome: positive, negative or equivocal.")
    notes = TextAreaField("Notes", validators=[Length(max=4000)])
    acknowledge = BooleanField("I have read the warnings above; save the bolus as entered")
    shown_warnings = HiddenField()  # the warning codes the nurse saw when ticking the box

    FIELDS = (
        "given_on",
        "dose_mcg",
        "concentration_mcg_per_ml",
        "ashworth_before",
        "ashworth_after",
        "penn_frequency_before",
        "penn_severity_before",
        "penn_frequency_after",
        "penn_severity_after",
        "hours_of_effect",
        "outcome",
        "notes",
    )

    def values(self) -> dict:
        data = {name: getattr(self, name).data for name in self.FIELDS}
        data["notes"] = (data["notes"] or "").strip()
        return data

    def acknowledged(self) -> list[str]:
        """The warnings acknowledged: those shown when the box was ticked (a new one must be seen first)."""
        return (self.shown_warnings.data or "").split(",") if self.acknowledge.data else []
