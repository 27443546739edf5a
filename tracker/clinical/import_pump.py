"""The import's checks on a pump's line (issue #9): the pump, its programme and its last refill, with the
projection and the refill visit's warnings the refill form would give. Pure."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from zoneinfo import ZoneInfo

from tracker.clinical import refill
from tracker.clinical.days import start_of_day
from tracker.clinical.flex_text import FlexSchedule, FlexTextError, from_stored, parse_flex
from tracker.clinical.import_cells import (
    Catalogue,
    DrugInfo,
    LineReader,
    PatientRow,
    PumpModelInfo,
    location_cell,
    plain,
)
from tracker.clinical.import_checks import LastRefill, RowWarning, row_warnings
from tracker.clinical.import_columns import (
    DOSE_ROUNDING_MCG,
    MAX_BOLUS_MCG,
    MAX_BOLUSES_PER_DAY,
    MAX_DAILY_DOSE_MCG,
    MIN_FLEX_DOSE_MCG,
)


def check_pump(r: LineReader, row: PatientRow | None, cat: Catalogue, today: date, why: str) -> None:
    model = None
    if model_name := r.text("pump_model", True, 80, why):
        model = cat.pump_models.get(model_name.casefold())
        if model is None or not model.active:
            known = sorted(m.name for m in cat.pump_models.values() if m.active)
            r.fail("pump_model", f"Unknown pump model: use one of {', '.join(known)}.")
            model = None
    serial = r.text("pump_serial", True, 40, why)
    implanted_on = r.date("implanted_on", True, why)
    centre = location_cell(r, "surgery_centre", cat, "surgery_centre")
    surgeon = r.text("surgeon", False, 120)
    tip = r.text("catheter_tip_level", True, 10, why)
    alarm = r.number("alarm_volume_ml", False, 3, "mL")
    refill_on = r.date("last_refill_date", True, why)
    volume = r.number("last_refill_volume_ml", True, 3, "mL", why)
    concentration_dec = r.number("concentration_mcg_per_ml", True, 0, "mcg/mL", why)
    drug = None
    if concentration_dec is not None:
        drug = _pump_drug(r, "concentration_mcg_per_ml", concentration_dec, cat)
    dose, flex, bolus, boluses = _programme(r, why)
    fill = _fill_figures(r, model, cat)
    if model is not None:
        if volume is not None and volume > model.reservoir_ml:
            r.fail(
                "last_refill_volume_ml",
                f"{plain(volume)} mL is more than the {plain(model.reservoir_ml)} mL "
                f"reservoir of a {model.name} holds; never overfill.",
            )
        if volume is not None and volume <= 0:
            r.fail("last_refill_volume_ml", "The volume after a refill must be more than 0 mL.")
        if alarm is not None and alarm >= model.reservoir_ml:
            r.fail("alarm_volume_ml", f"The alarm volume must be below the {plain(model.reservoir_ml)} mL reservoir.")
    if implanted_on and row is not None:
        if implanted_on > today or implanted_on < row.referral_date:
            r.fail("implanted_on", "The implant date must be between the referral and today.")
    if refill_on:
        if refill_on > today:
            r.fail("last_refill_date", "The last refill cannot be in the future.")
        elif implanted_on and refill_on < implanted_on:
            r.fail("last_refill_date", "The last refill cannot be before the implant date.")
    if row is None or r.issues:
        return
    row.pump_model, row.pump_serial, row.implanted_on = model, serial, implanted_on
    row.surgery_centre_id, row.surgeon, row.catheter_tip_level = centre.id, surgeon, tip
    row.alarm_volume_ml = alarm if alarm is not None else model.default_alarm_ml
    row.last_refill_date, row.last_refill_volume_ml = refill_on, volume
    row.concentration_mcg_per_ml, row.daily_dose_mcg = int(concentration_dec), dose
    row.flex_schedule = flex.stored if flex is not None else None
    row.bolus_dose_mcg, row.max_boluses_per_day = bolus, boluses
    (
        row.expected_residual_ml,
        row.actual_residual_ml,
        row.volume_added_ml,
        row.previous_refill_volume_ml,
        row.previous_concentration_mcg_per_ml,
    ) = fill
    row.stability_days = drug.stability_days
    try:
        row.projection = refill.project_refill(refill_inputs(row, cat))
    except refill.RefillInputError as error:
        r.fail("last_refill_volume_ml", error.message)
        return
    row.warnings = last_refill_warnings(row, cat)


def _pump_drug(r: LineReader, name: str, concentration: Decimal, cat: Catalogue) -> DrugInfo | None:
    drug = cat.drugs.get(int(concentration))
    if drug is None or not drug.active or drug.trial_only:
        pump_drugs = sorted(c for c, d in cat.drugs.items() if d.active and not d.trial_only)
        r.fail(
            name,
            f"Not a pump concentration in the drug catalogue: use one of {', '.join(map(str, pump_drugs))} mcg/mL.",
        )
        return None
    return drug


def _programme(r: LineReader, why: str) -> tuple[Decimal | None, FlexSchedule | None, Decimal | None, int | None]:
    """(programmed mcg/day, flexible schedule, bolus mcg, boluses a day) as the dose form takes them."""
    flex = None
    if text := r.text("flex_schedule", False, 1000):
        try:
            flex = parse_flex(text)
        except (FlexTextError, refill.RefillInputError) as error:
            r.fail("flex_schedule", str(error))
    # With a schedule the dose per day is the schedule's own; a simple dose is required without one.
    dose = r.number("daily_dose_mcg", not text, 2, "mcg/day", why + " (or a flexible schedule)")
    if flex is not None:
        mean = programmed_mcg_per_day(flex.programme())
        if dose is not None and abs(dose - mean) > DOSE_ROUNDING_MCG:
            r.fail(
                "daily_dose_mcg",
                f"The flexible schedule gives {plain(mean)} mcg/day (the week's average), not "
                f"{plain(dose)}: leave daily_dose_mcg empty or make them agree.",
            )
        dose = mean
        if not (MIN_FLEX_DOSE_MCG <= dose <= MAX_DAILY_DOSE_MCG):
            r.fail(
                "flex_schedule",
                f"The schedule gives {plain(dose)} mcg/day: it must be {MIN_FLEX_DOSE_MCG} to "
                f"{MAX_DAILY_DOSE_MCG} mcg.",
            )
    elif dose is not None and not (0 < dose <= MAX_DAILY_DOSE_MCG):
        r.fail("daily_dose_mcg", f"The daily dose must be more than 0 and at most {MAX_DAILY_DOSE_MCG} mcg.")
    bolus = r.number("bolus_dose_mcg", False, 2, "mcg")
    boluses = r.number("max_boluses_per_day", False, 0, "boluses")
    if bolus is not None and bolus > MAX_BOLUS_MCG:
        r.fail("bolus_dose_mcg", f"A bolus is at most {MAX_BOLUS_MCG} mcg.")
    if boluses is not None and boluses > MAX_BOLUSES_PER_DAY:
        r.fail("max_boluses_per_day", f"At most {MAX_BOLUSES_PER_DAY} boluses a day.")
    # Half a PTM programme would leave the worst case out of the refill dates: both, or neither.
    if bolus and not r.raw("max_boluses_per_day"):
        r.fail("max_boluses_per_day", "Required with a bolus dose: how many boluses the patient may give a day.")
    if boluses and not r.raw("bolus_dose_mcg"):
        r.fail("bolus_dose_mcg", "Required with a maximum number of boluses: the dose of one bolus, in mcg.")
    return dose, flex, bolus, int(boluses) if boluses is not None else None


def _fill_figures(r: LineReader, model: PumpModelInfo | None, cat: Catalogue) -> tuple:
    """The last refill's figures the refill form asks for: residuals, volume added, what the refill before left,
    the concentration before."""
    volumes = {
        name: r.number(name, False, 3, "mL")
        for name in ("expected_residual_ml", "actual_residual_ml", "volume_added_ml", "previous_refill_volume_ml")
    }
    previous = r.number("previous_concentration_mcg_per_ml", False, 0, "mcg/mL")
    if previous is not None and _pump_drug(r, "previous_concentration_mcg_per_ml", previous, cat) is None:
        previous = None
    expected, actual = volumes["expected_residual_ml"], volumes["actual_residual_ml"]
    if (expected is None) != (actual is None):
        missing = "expected_residual_ml" if expected is None else "actual_residual_ml"
        r.fail(missing, "Give both residuals, expected (from the programmer) and actual (aspirated), or neither.")
    for name, value in volumes.items():
        if model is not None and value is not None and value > model.reservoir_ml:
            r.fail(name, f"{plain(value)} mL is more than the {plain(model.reservoir_ml)} mL reservoir holds.")
    return (*volumes.values(), int(previous) if previous is not None else None)


def programmed_mcg_per_day(programme: refill.DoseProgramme) -> Decimal:
    """The programmed dose per day without boluses (flex: the week's mean) to 0.01 mcg, as the dose form
    stores it (tracker.services.refills.programmed_daily_dose)."""
    mean = programme.average_daily_dose_mcg() - programme.bolus_mcg_per_day()
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(Decimal("0.01"))


def last_refill_warnings(
    row: PatientRow,
    cat: Catalogue,
    previous_volume_ml: Decimal | None = None,
    previous_concentration: int | None = None,
) -> list[RowWarning]:
    """The refill visit's warnings on the row's last refill, each with its line and the file's column. What the
    refill before left and its concentration come from the file, else from the app (`previous_*`)."""
    at_implant = row.last_refill_date == row.implanted_on  # the first fill: no residual, no drug before it
    fill = LastRefill(
        reservoir_ml=row.pump_model.reservoir_ml,
        accuracy_fraction=row.pump_model.accuracy_fraction,
        resulting_volume_ml=row.last_refill_volume_ml,
        concentration_mcg_per_ml=row.concentration_mcg_per_ml,
        daily_dose_mcg=row.daily_dose_mcg,
        expected_residual_ml=None if at_implant else row.expected_residual_ml,
        actual_residual_ml=None if at_implant else row.actual_residual_ml,
        volume_added_ml=row.volume_added_ml,
        previous_volume_ml=_first(row.previous_refill_volume_ml, previous_volume_ml),
        previous_concentration_mcg_per_ml=None
        if at_implant
        else _first(row.previous_concentration_mcg_per_ml, previous_concentration),
    )
    columns = {"daily_dose_mcg": "flex_schedule"} if row.flex_schedule and "daily_dose_mcg" not in row.given else {}
    return row_warnings(
        row.line,
        fill,
        cat.checks,
        lambda name: row.headers.get(columns.get(name, name), name),
        lambda name: shown_value(row, columns.get(name, name)),
    )


def _first(*values):
    return next((v for v in values if v is not None), None)


def shown_value(row: PatientRow, name: str) -> str:
    """The row's figure for a column, written as a person would (warnings and update refusals show it)."""
    value = getattr(row, name, None)
    if name == "flex_schedule":
        return f"{plain(row.daily_dose_mcg)} mcg/day"
    return plain(value) if isinstance(value, Decimal) else ("" if value is None else str(value))


def programme_of(row: PatientRow) -> refill.DoseProgramme:
    """The row's dose programme for the refill engine: the simple dose or the schedule, plus every permitted
    bolus (domain.md 2: consumption is the programmed pattern plus the maximum boluses)."""
    boluses = {"bolus_dose_mcg": row.bolus_dose_mcg or Decimal(0), "max_boluses_per_day": row.max_boluses_per_day or 0}
    if row.flex_schedule:
        return from_stored(row.flex_schedule).programme(**boluses)
    return refill.DoseProgramme(daily_dose_mcg=row.daily_dose_mcg, **boluses)


def refill_inputs(row: PatientRow, cat: Catalogue) -> refill.RefillInputs:
    """The projection inputs for the row's last refill, as tracker.services.refills.projection_inputs builds
    them for a stored pump (the import test checks both agree)."""
    filled_at = start_of_day(row.last_refill_date, ZoneInfo(cat.tz))  # a date-only fill
    return refill.RefillInputs(
        fill_time=filled_at,
        reservoir_after_fill_ml=row.last_refill_volume_ml,
        concentration_mcg_per_ml=row.concentration_mcg_per_ml,
        doses=programme_of(row),  # one programme from the fill on: the engine's single-programme form
        alarm_volume_ml=row.alarm_volume_ml,
        buffer_days=cat.high_risk_buffer_days if row.withdrawal_risk else cat.buffer_days,
        stability_days=row.stability_days,
        reservoir_capacity_ml=row.pump_model.reservoir_ml,
        tz=cat.tz,
    )
