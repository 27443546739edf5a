from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Regexp

from tracker.clinical.scales import ROLES


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class AccountForm(FlaskForm):
    """What an administrator sets on an account, new or existing."""

    email = EmailField("E-mail", validators=[DataRequired(), Email(check_deliverability=False), Length(max=254)])
    full_name = StringField("Full name", validators=[DataRequired(), Length(max=120)])
    role = SelectField("Role", choices=list(ROLES.items()))
    location_id = SelectField("Home location", coerce=_optional_int)

    FIELDS = ("email", "full_name", "role", "location_id")

    def values(self) -> dict:
        return {name: self[name].data for name in self.FIELDS}


class UserForm(AccountForm):
    password = PasswordField(
        "Initial password (at least 12 characters)",
        validators=[DataRequired(), Length(min=12, message="Use at least 12 characters."), Length(max=200)],
    )


class EditUserForm(AccountForm):
    version = HiddenField(validators=[DataRequired(), Regexp(r"^\d{1,9}$")])
