"""Refill visit, dose change, battery ERI and device event forms."""

from datetime import time

from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    DecimalField,
    HiddenField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from tracker.clinical.pump_events import KINDS as EVENT_KINDS
from tracker.clinical.scales import ASHWORTH, PENN_FREQUENCY
from tracker.fields import WholeNumberField
from tracker.once import OnceForm

WHEN_HELP = "Use the picker, or type YYYY-MM-DDTHH:MM."


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class RefillForm(OnceForm):
    visit_at = DateTimeLocalField("Refill time", format="%Y-%m-%dT%H:%M", validators=[InputRequired(WHEN_HELP)])
    expected_residual_ml = DecimalField(
        "Expected residual (mL, from the programmer)",
        places=1,
        validators=[InputRequired(), NumberRange(min=0, max=40)],
    )
    actual_residual_ml = DecimalField(
        "Actual residual aspirated (mL)", places=1, validators=[InputRequired(), NumberRange(min=0, max=40)]
    )
    concentration_mcg_per_ml = SelectField(
        "Concentration",
        coerce=_optional_int,
        validate_choice=True,
        validators=[InputRequired("Choose the concentration.")],
    )
    lot = StringField("Lot", validators=[Length(max=40)])
    volume_added_ml = DecimalField(
        "Volume added (mL)", places=1, validators=[InputRequired(), NumberRange(min=0.5, max=40)]
    )
    resulting_volume_ml = DecimalField(
        "Resulting reservoir volume (mL)", places=1, validators=[InputRequired(), NumberRange(min=0.5, max=40)]
    )
    # Asked at a concentration change, nothing pre-selected: the catheter still holds the old drug.
    bridge_bolus_given = SelectField(
        "Bridge bolus programmed?",
        choices=[("", "— choose if the concentration changed —"), ("yes", "Yes"), ("no", "No")],
        default="",
    )
    bridge_bolus_mcg = DecimalField(
        "Bridge bolus (mcg)", places=1, validators=[Optional(), NumberRange(min=0, max=1000)]
    )
    bridge_bolus_reason = StringField("If none: why", validators=[Length(max=500)])
    ashworth = SelectField("Ashworth", choices=[("", "—")] + [(a, a) for a in ASHWORTH], default="")
    penn_frequency = SelectField(
        "Penn frequency",
        choices=[("", "—")] + [(str(f), str(f)) for f in PENN_FREQUENCY],
        coerce=_optional_int,
        validate_choice=True,
    )
    complications = TextAreaField("Complications", validators=[Length(max=2000)])
    notes = TextAreaField("Notes", validators=[Length(max=4000)])
    acknowledge = BooleanField("I have read the high-severity warnings above and act on them")
    last_fill_id = HiddenField()  # the fill this form was opened against: a second tab's refill is refused


class DoseForm(OnceForm):
    effective_at = DateTimeLocalField("Programmed at", format="%Y-%m-%dT%H:%M", validators=[InputRequired(WHEN_HELP)])
    mode = SelectField("Mode", choices=[("simple", "Simple continuous"), ("flex", "Flexible schedule")])
    daily_dose_mcg = DecimalField("Daily dose (mcg/day, simple mode)", places=1)
    flex_schedule = TextAreaField(
        "Flexible schedule (one step per line: HH:MM rate-in-mcg-per-hour; first step 00:00; up to 13)",
        validators=[Length(max=1000)],
    )
    bolus_dose_mcg = DecimalField(
        "Patient-activated bolus (mcg)", places=1, default=0, validators=[Optional(), NumberRange(min=0, max=500)]
    )
    max_boluses_per_day = WholeNumberField(
        "Maximum boluses per day", default=0, validators=[Optional(), NumberRange(min=0, max=24)]
    )
    reason = TextAreaField("Why", validators=[InputRequired(), Length(max=2000)])
    last_dose_id = HiddenField()  # the ledger entry this form was opened against
    acknowledge = BooleanField("I have read the warnings above and act on them")

    def validate_daily_dose_mcg(self, field):
        if self.mode.data != "simple":
            field.errors[:] = []  # ignored in flexible mode, whatever is typed
            return
        if field.data is None:
            raise ValidationError("Enter the daily dose.")
        if not 1 <= field.data <= 3000:
            raise ValidationError("Number must be between 1 and 3000.")

    def validate_flex_schedule(self, field):
        if self.mode.data != "flex":
            return
        self.parsed_flex = parse_flex(field.data or "")


def parse_flex(text: str) -> list[list[str]]:
    """Lines "HH:MM rate" -> [["HH:MM", "rate"], ...]; the engine checks order, coverage and the 13-step limit."""
    steps = []
    for number, line in enumerate(filter(None, (ln.strip() for ln in text.splitlines())), start=1):
        parts = line.replace(",", " ").split()
        if len(parts) != 2:
            raise ValidationError(f"Line {number}: write the start time and the rate, e.g. 06:00 12.5")
        try:
            start = time.fromisoformat(parts[0])
            rate = float(parts[1])
        except ValueError:
            raise ValidationError(f"Line {number}: {line!r} is not HH:MM followed by a number.") from None
        if rate < 0 or rate > 200:
            raise ValidationError(f"Line {number}: the rate must be 0-200 mcg/hour.")
        steps.append([start.strftime("%H:%M"), parts[1]])
    if not steps:
        raise ValidationError("Enter at least one step, starting at 00:00.")
    return steps


class EriForm(OnceForm):
    eri_on = DateField(
        "Day the pump showed its elective replacement indicator (ERI)",
        validators=[InputRequired("Use the date picker, or type YYYY-MM-DD.")],
    )
    version = HiddenField()  # the pump as the form was opened: a second tab's change is refused


class PumpEventForm(OnceForm):
    # Nothing pre-selected: the kind decides what the tracker does (an emptied pump, a check, a review).
    kind = SelectField(
        "What happened", choices=[("", "—"), *EVENT_KINDS.items()], validators=[InputRequired("Choose what happened.")]
    )
    occurred_at = DateTimeLocalField(
        "When (for a Prometra before an MRI: when it was emptied)",
        format="%Y-%m-%dT%H:%M",
        validators=[InputRequired(WHEN_HELP)],
    )
    volume_removed_ml = DecimalField(
        "Volume removed (mL), if any: drug emptied, or CSF aspirated",
        places=1,
        validators=[Optional(), NumberRange(min=0, max=40)],
    )
    notes = TextAreaField("Notes", validators=[Length(max=4000)])
    pump_id = HiddenField()  # the pump as the form was opened: a replacement since is refused


class WorkDoneForm(OnceForm):
    note = TextAreaField("What was found", validators=[InputRequired("Say what was found."), Length(max=4000)])
    version = HiddenField()  # the event as the form was opened: done in another tab is refused
