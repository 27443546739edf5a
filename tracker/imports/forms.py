"""Import forms: the upload, the column mapping (one select per template column), and the import button."""

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, HiddenField, SelectField
from wtforms.validators import DataRequired, Regexp

from tracker.clinical.import_columns import ALWAYS, COLUMNS, IMPLANTED_ONLY

TOKEN = [DataRequired(), Regexp(r"^[A-Za-z0-9_-]{22,64}$", message="This upload is unknown.")]
NOT_IN_FILE = ""


class UploadForm(FlaskForm):
    file = FileField("CSV file", validators=[FileRequired(message="Choose a CSV file to upload.")])


class RunForm(FlaskForm):
    token = HiddenField(validators=TOKEN)
    # Shown when the last refills carry high-severity warnings; the import checks it again (ImportRun).
    acknowledge = BooleanField("I have read the high-severity warnings above and will act on them")


NEED_HINT = {ALWAYS: "required", IMPLANTED_ONLY: "required for implantation and adjustment", "optional": "optional"}


def mapping_form(headers: list[str], guesses: dict[str, int | None], formdata=None):
    """A form with one select per template column, offering the file's headers, each pre-set to the best guess."""

    class MappingForm(FlaskForm):
        token = HiddenField(validators=TOKEN)

        def mapping(self) -> dict[str, int | None]:
            return {c.name: int(getattr(self, c.name).data) if getattr(self, c.name).data else None for c in COLUMNS}

        def validate(self, extra_validators=None) -> bool:
            ok = super().validate(extra_validators)
            chosen: dict[str, str] = {}
            for column in COLUMNS:
                field = getattr(self, column.name)
                if field.data and field.data in chosen:
                    field.errors = list(field.errors) + [f"Already used for {chosen[field.data]}."]
                    ok = False
                elif field.data:
                    chosen[field.data] = column.label
            return ok

    choices = [(NOT_IN_FILE, "— not in the file —")] + [
        (str(i), h or f"(column {i + 1}, no header)") for i, h in enumerate(headers)
    ]
    for column in COLUMNS:
        setattr(
            MappingForm,
            column.name,
            SelectField(
                column.label,
                choices=choices,
                description=NEED_HINT[column.need],
                default=str(guesses[column.name]) if guesses.get(column.name) is not None else NOT_IN_FILE,
            ),
        )
    return MappingForm(formdata=formdata) if formdata is not None else MappingForm()
