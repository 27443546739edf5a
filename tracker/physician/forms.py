"""Asking a physician and answering.

These forms appear many times a page (one per request) or inside another form, so they carry no token of their
own: the app's CSRFProtect checks the page's csrf_token on every post."""

from flask_wtf import FlaskForm
from wtforms import HiddenField, SubmitField, TextAreaField
from wtforms.validators import DataRequired, Length


class _NoOwnToken(FlaskForm):
    class Meta:
        csrf = False


class AskForm(_NoOwnToken):
    """Ask a physician about a booking; the slot the user tried rides along in hidden fields."""

    kind = HiddenField(validators=[DataRequired()])
    note = TextAreaField("Note for the physician", validators=[Length(max=2000)])
    starts_at = HiddenField()  # the booking form's values, as typed
    location_id = HiddenField()
    clinician_id = HiddenField()


class SignOffForm(_NoOwnToken):
    """The note sent with a dose for sign-off; it rides inside the dose form."""

    note = TextAreaField("Note for the physician", validators=[Length(max=2000)])


class AnswerForm(_NoOwnToken):
    note = TextAreaField("Your answer (required to decline)", validators=[Length(max=2000)])
    version = HiddenField(validators=[DataRequired()])
    approve = SubmitField("Approve")
    decline = SubmitField("Decline")


class WithdrawForm(_NoOwnToken):
    note = TextAreaField("Why withdraw", validators=[Length(max=1000)])
    version = HiddenField(validators=[DataRequired()])
