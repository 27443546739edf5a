"""The new-advisory form, a follow-up's inline status form and the close form."""

from flask_wtf.file import FileField
from wtforms import DateField, HiddenField, SelectField, SelectMultipleField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from tracker.clinical.advisory import CALL_DAYS_MAX, CHOOSABLE, FOLLOW_UP_KINDS, STATUSES
from tracker.fields import WholeNumberField
from tracker.once import OnceForm

SERIALS_HELP = (
    "One or more a line, or separated by commas: NGP123456, ngp 0123456, and ranges NGP100000-NGP100500 (both "
    "ends included). Leave empty when the notice names no serials."
)


class AdvisoryForm(OnceForm):
    title = StringField("Title", validators=[InputRequired("Give the advisory a title."), Length(max=200)])
    source = StringField("Source (regulator or manufacturer)", validators=[InputRequired(), Length(max=200)])
    issued_on = DateField("Issued on", validators=[InputRequired("Enter the date the notice was issued.")])
    model_ids = SelectMultipleField("Pump models affected (none chosen: any model)", coerce=int)
    serials = TextAreaField("Serial numbers and ranges", validators=[Length(max=400_000)])
    serial_file = FileField("Or upload the manufacturer's list (text or CSV; a column headed “serial” is used)")
    implanted_from = DateField("Implanted from", validators=[Optional()])
    implanted_to = DateField("Implanted up to (inclusive)", validators=[Optional()])
    distributed_from = DateField("Distributed from", validators=[Optional()])
    distributed_to = DateField("Distributed up to (inclusive)", validators=[Optional()])
    concentrations = SelectMultipleField("Drug concentrations in the pump now (none chosen: any)", coerce=int)
    lots = TextAreaField("Refill-kit or drug lots (any fill used one)", validators=[Length(max=20_000)])
    recommended_action = TextAreaField(
        "Recommended action (as the notice says)", validators=[InputRequired(), Length(max=4000)]
    )
    follow_up = SelectField(
        "The clinic's follow-up",
        choices=[("", "—"), *FOLLOW_UP_KINDS.items()],
        validators=[InputRequired("Choose the clinic's follow-up.")],
    )
    call_days = WholeNumberField("Call within (days)", validators=[Optional(), NumberRange(min=0, max=CALL_DAYS_MAX)])


class FollowUpForm(OnceForm):
    status = SelectField("Status", choices=[(s, STATUSES[s]) for s in CHOOSABLE])
    notes = TextAreaField("Notes", validators=[Length(max=4000)])
    version = HiddenField()  # the follow-up as the page was opened: another save since is refused


class CloseForm(OnceForm):
    close_note = TextAreaField(
        "Why it is closed", validators=[InputRequired("Say why it is closed."), Length(max=4000)]
    )
    version = HiddenField()
