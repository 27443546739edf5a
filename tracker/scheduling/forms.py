from flask_wtf import FlaskForm
from wtforms import DateTimeLocalField, HiddenField, SelectField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from tracker.once import OnceForm
from tracker.services.bookings import CONTACT_METHODS, CONTACT_OUTCOMES


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


def _optional_str(value):
    return str(value) if value not in (None, "") else None


class BookingForm(OnceForm):
    starts_at = DateTimeLocalField(
        "Date and time (clinic's local time)",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired("Use the picker, or type YYYY-MM-DDTHH:MM.")],
    )
    location_id = SelectField(
        "Clinic", coerce=_optional_int, validate_choice=True, validators=[InputRequired("Choose the clinic.")]
    )
    clinician_id = SelectField(
        "Clinician",
        coerce=_optional_int,
        validate_choice=True,
        validators=[InputRequired("Choose the nurse or physician.")],
    )
    late_reason = TextAreaField("Why after the due date (only if it is)", validators=[Length(max=1000)])
    override_reason = TextAreaField(
        "Physician override: why after the alarm date (only if it is)", validators=[Length(max=1000)]
    )
    why = TextAreaField("Why rebook (rebooking only)", validators=[Length(max=1000)])
    appointment_id = HiddenField()  # the open booking this form was opened against ("" when none)
    version = HiddenField()


class CancelForm(FlaskForm):
    why = TextAreaField("Why cancel", validators=[DataRequired(), Length(max=1000)])
    version = HiddenField(validators=[DataRequired()])


class ContactForm(OnceForm):
    method = SelectField("How", choices=list(CONTACT_METHODS.items()), validators=[InputRequired("Choose how.")])
    # Not pre-selected: an attempt's outcome is chosen, never defaulted to "Reached".
    outcome = SelectField(
        "Outcome",
        choices=[("", "—")] + list(CONTACT_OUTCOMES.items()),
        coerce=_optional_str,
        validators=[InputRequired("Choose the outcome of the attempt.")],
    )
    notes = TextAreaField("Notes", validators=[Length(max=1000)])
