"""Planning an import from a CSV file (issue #9): the dry run against the database; writes nothing.

The file's rows are checked by tracker.clinical.import_rows; this module adds what needs the database: a patient
already here with the same MRN (then: what would change, and whether the import may change it). The write, all or
nothing, is tracker.services.import_write.

What an import may change on a patient who is already here (anything else is refused or only noted):
  - details: names, birth date, sex, diagnosis, origin, home location; nurse, phone and withdrawal risk when the
    file gives them (an empty optional cell keeps the app's value);
  - the stage, by a move the journey rules allow that needs no clinical record of its own (evaluation -> trial,
    trial -> evaluation, implantation -> adjustment); a move to implantation or an exit is done in the app;
  - the pump's alarm volume and catheter tip (same pump: model and serial must match; a replacement is done in
    the app);
  - a newer last refill is added as a refill visit (with a dose change when the dose differs, under the same
    titration rule as the dose form); the same refill with different figures, or an older one, is refused;
  - the next booked refill: booked, or the open booking rebooked to the file's date.
"""

from __future__ import annotations

from copy import copy
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy.orm import Session

from tracker.clinic_zone import local_date
from tracker.clinical import import_checks, refill
from tracker.clinical.dosing import needs_physician_sign_off
from tracker.clinical.import_cells import Catalogue, PatientRow
from tracker.clinical.import_changes import describe, keep_app_programme, plain, programme_difference, programme_words
from tracker.clinical.import_checks import RowWarning
from tracker.clinical.import_columns import IMPLANTED, Issue
from tracker.clinical.import_pump import last_refill_warnings, refill_inputs, shown_value
from tracker.clinical.import_rows import CheckedFile, booking_refusal, check_file, still_holds
from tracker.clinical.journey import IMPLANTATION, JourneyError, Move, check_move
from tracker.clinical.refill_risk import RefillRisk
from tracker.formats import fmt_date
from tracker.imports.csv_file import Table
from tracker.policy import allowed
from tracker.services import Actor
from tracker.services.import_existing import Existing, load_catalogue, load_existing
from tracker.services.patients import PATIENT_FIELDS
from tracker.services.refills import worst_case_daily_mcg
from tracker.services.settings import all_settings, windows_from

DETAILS = [name for name in PATIENT_FIELDS if name != "mrn"]  # what a row may change of a patient already here
# Details an empty cell leaves alone (column name in the file -> attribute).
OPTIONAL_DETAILS = {
    "nurse_id": "primary_nurse_email",
    "phone": "phone",
    "withdrawal_risk": "withdrawal_risk",
    "withdrawal_risk_reason": "withdrawal_risk_reason",
}


# The dry run -------------------------------------------------------------------------------------------------


@dataclass
class Update:
    """What an import would change on a patient already here; empty means unchanged."""

    details: dict[str, tuple] = field(default_factory=dict)  # attribute -> (old, new)
    move_to: str | None = None
    pump: dict[str, tuple] = field(default_factory=dict)
    new_refill: bool = False
    dose_change: bool = False
    sign_off: bool = False
    book: bool = False  # book the file's next refill (rebooking or replacing the open one)

    def __bool__(self) -> bool:
        return bool(self.details or self.move_to or self.pump or self.new_refill or self.book)


@dataclass
class RowPlan:
    row: PatientRow
    action: str  # new | update | unchanged
    changes: list[str] = field(default_factory=list)  # what would change, in words
    notes: list[str] = field(default_factory=list)  # differences the import leaves as they are
    existing: Existing | None = None
    update: Update | None = None
    risk: RefillRisk | None = None  # the pump judged as the worklist will judge it once imported

    @property
    def late(self) -> bool:
        return self.risk is not None and import_checks.is_late(self.risk)


@dataclass
class DryRun:
    table: Table
    issues: list[Issue]
    plans: list[RowPlan]
    catalogue: Catalogue | None = None
    checked: CheckedFile | None = None  # the lines checked on their own: the import may carry them (ImportRun)

    @property
    def ok(self) -> bool:
        return not self.issues and bool(self.plans)

    def count(self, action: str) -> int:
        return sum(1 for p in self.plans if p.action == action)

    @property
    def warnings(self) -> list[RowWarning]:
        """The refill visit's checks on every last refill the import would record, in line order."""
        return [w for p in self.plans for w in p.row.warnings]

    @property
    def needs_acknowledgement(self) -> bool:
        """High-severity warnings, as at the refill form: someone must say they have read them."""
        return any(w.severity == "high" for w in self.warnings)

    @property
    def late(self) -> list[RowPlan]:
        """Pumps already overdue, past their alarm date or projected empty, most urgent first."""
        return sorted((p for p in self.plans if p.late), key=lambda p: (p.risk.rank, p.row.line))


@dataclass
class _Context:
    table: Table
    mapping: dict[str, int | None]
    catalogue: Catalogue
    actor: Actor
    today: date
    now: datetime
    titration_limits: tuple[int, int]  # cerebral %, spinal %
    soon_days: int  # the clinic's one "due soon" window (refill_risk)

    def issue(self, row: PatientRow, column: str, value, message: str) -> Issue:
        """An issue on the row, under the file's own header for `column`."""
        index = self.mapping.get(column)
        header = self.table.headers[index] if index is not None else column
        return Issue(row.line, header, "" if value is None else str(value), message)


def dry_run(
    session: Session,
    actor: Actor,
    table: Table,
    mapping: dict[str, int | None],
    today: date,
    now: datetime,
    checked: CheckedFile | None = None,
) -> DryRun:
    """Check every row and say what the import would do; writes nothing. `checked`: this file's lines as an
    earlier dry run checked them, used instead of checking every line again when that check still holds."""
    if table.issues:
        return DryRun(table, list(table.issues), [])
    settings = all_settings(session)
    ctx = _Context(
        table,
        mapping,
        load_catalogue(session),
        actor,
        today,
        now,
        (settings["titration_limit_cerebral_pct"], settings["titration_limit_spinal_pct"]),
        windows_from(settings).soon_days,
    )
    if checked is None or not still_holds(checked, table, mapping, ctx.catalogue, today, now):
        checked = check_file(table, mapping, ctx.catalogue, today, now)
    issues = list(checked.issues)
    existing = load_existing(session, [r.mrn_key for r in checked.rows])
    plans = []
    for row in checked.rows:
        if row.mrn_key not in existing:
            plans.append(RowPlan(row, "new"))
            continue
        # Planning against the app's record changes the row (projection, warnings): a copy keeps `checked` as is.
        plan = RowPlan(copy(row), "unchanged", existing=existing[row.mrn_key])
        row_issues = _plan_update(plan, ctx)
        issues += row_issues
        if not row_issues:
            plans.append(plan)
    for plan in plans:
        _judge(plan, ctx)
    issues.sort(key=lambda i: i.line or 0)
    return DryRun(table, issues, plans, ctx.catalogue, checked)


def _judge(plan: RowPlan, ctx: _Context) -> None:
    """The pump's refill risk today, with the booking it will have after the import."""
    row = plan.row
    if row.projection is None:
        return
    booked = row.next_refill_at
    if booked is None and plan.existing and plan.existing.appointment and not (plan.update and plan.update.new_refill):
        booked = plan.existing.appointment.starts_at  # the app's open booking stays
    plan.risk = import_checks.risk(row.projection, local_date(booked) if booked else None, ctx.today, ctx.soon_days)


def _plan_update(plan: RowPlan, ctx: _Context) -> list[Issue]:
    row, ex = plan.row, plan.existing
    patient = ex.patient
    update = Update()
    for attribute in DETAILS:
        column = OPTIONAL_DETAILS.get(attribute)
        if column and column not in row.given:
            continue
        old, new = getattr(patient, attribute), getattr(row, attribute)
        if old != new:
            update.details[attribute] = (old, new)
    if "date_of_birth" in update.details and row.date_of_birth > patient.journey_started:
        return [
            ctx.issue(
                row,
                "date_of_birth",
                row.date_of_birth.isoformat(),
                f"The date of birth cannot be after the referral in the app ({fmt_date(patient.journey_started)}).",
            )
        ]
    if row.referral_date != patient.journey_started:
        plan.notes.append(
            f"Referral date {fmt_date(row.referral_date)} in the file, "
            f"{fmt_date(patient.journey_started)} in the app: the app's history is kept."
        )
    if patient.status != "active":
        return [
            ctx.issue(
                row,
                "stage",
                row.stage,
                "This patient has exited in the app: a re-referral is recorded in the app, not by import.",
            )
        ]
    if row.stage != patient.stage:
        try:
            check_move(patient.stage, Move(row.stage))
        except JourneyError as error:
            return [ctx.issue(row, "stage", row.stage, error.message)]
        if row.stage == IMPLANTATION:
            return [
                ctx.issue(
                    row,
                    "stage",
                    row.stage,
                    "Record the implantation in the app (pump, first fill, starting dose): an import does not implant.",
                )
            ]
        if not ex.last_event_on <= row.stage_since <= ctx.today:
            return [
                ctx.issue(
                    row,
                    "stage_since",
                    row.stage_since.isoformat(),
                    f"The move to {row.stage} must be "
                    f"dated between the last stage change ({fmt_date(ex.last_event_on)}) and today.",
                )
            ]
        update.move_to = row.stage
    issues = _plan_pump(plan, update, ctx) if row.stage in IMPLANTED else []
    if not issues:
        plan.update = update
        if update:
            plan.action = "update"
            plan.changes = describe(plan, update, ctx.catalogue)
    return issues


def _plan_pump(plan: RowPlan, update: Update, ctx: _Context) -> list[Issue]:
    row, ex = plan.row, plan.existing
    pump = ex.pump
    if pump is None or ex.last_fill is None or ex.dose is None:
        return [
            ctx.issue(
                row,
                "pump_serial",
                row.pump_serial,
                "The app has no pump in use for this patient: record the implantation in the app.",
            )
        ]
    if pump.model_id != row.pump_model.id or pump.serial.strip().casefold() != row.pump_serial.casefold():
        model = next((m.name for m in ctx.catalogue.pump_models.values() if m.id == pump.model_id), "?")
        return [
            ctx.issue(
                row,
                "pump_serial",
                row.pump_serial,
                f"The app has a different pump ({model}, serial {pump.serial}): record a replacement in the app.",
            )
        ]
    if "alarm_volume_ml" in row.given and pump.alarm_volume_ml != row.alarm_volume_ml:
        update.pump["alarm_volume_ml"] = (pump.alarm_volume_ml, row.alarm_volume_ml)
    if pump.catheter_tip_level != row.catheter_tip_level:
        update.pump["catheter_tip_level"] = (pump.catheter_tip_level, row.catheter_tip_level)
    if pump.implanted_on != row.implanted_on or pump.surgery_centre_id != row.surgery_centre_id:
        plan.notes.append("The implant date or surgery centre differs from the app's: the app's are kept.")
    fill_on = local_date(ex.last_fill.visit_at)
    if row.last_refill_date < fill_on:
        return [
            ctx.issue(
                row,
                "last_refill_date",
                row.last_refill_date.isoformat(),
                f"The app already has a later refill ({fmt_date(fill_on)}): this file is older than the app's record.",
            )
        ]
    if keep_app_programme(row, ex.dose):
        try:  # the dates and the booking check with the programme the pump will really have
            row.projection = refill.project_refill(refill_inputs(row, ctx.catalogue))
        except refill.RefillInputError as error:
            return [ctx.issue(row, "last_refill_volume_ml", row.last_refill_volume_ml, error.message)]
        if row.next_refill_at is not None and (message := booking_refusal(row, row.projection, ctx.now)):
            return [ctx.issue(row, "next_refill_date", f"{row.next_refill_at:%Y-%m-%d}", message)]
    differs = programme_difference(ex.dose, row)
    if row.last_refill_date == fill_on:
        if (
            ex.last_fill.resulting_volume_ml != row.last_refill_volume_ml
            or ex.last_fill.concentration_mcg_per_ml != row.concentration_mcg_per_ml
        ):
            return [
                ctx.issue(
                    row,
                    "last_refill_volume_ml",
                    row.last_refill_volume_ml,
                    f"The app's refill on "
                    f"{fmt_date(fill_on)} left {plain(ex.last_fill.resulting_volume_ml)} mL of "
                    f"{ex.last_fill.concentration_mcg_per_ml} mcg/mL: correct it in the app.",
                )
            ]
        if differs:
            return [
                ctx.issue(
                    row,
                    differs,
                    shown_value(row, differs),
                    f"The app's current programme is {programme_words(ex.dose)}: record dose changes in the app.",
                )
            ]
        row.warnings = []  # the app recorded this refill, and its warnings, already
    else:
        update.new_refill = True
        if differs:
            update.dose_change = True
            base = worst_case_daily_mcg(ex.dose, ex.dose.daily_dose_mcg)
            new = row.daily_dose_mcg + (row.bolus_dose_mcg or 0) * (row.max_boluses_per_day or 0)
            if needs_physician_sign_off(base, new, row.spasticity_origin, *ctx.titration_limits):
                if not allowed(ctx.actor.role, "dose.sign_off"):
                    return [
                        ctx.issue(
                            row,
                            "daily_dose_mcg",
                            row.daily_dose_mcg,
                            f"From {plain(base)} to "
                            f"{plain(new)} mcg/day (with boluses) is beyond the titration limit: a "
                            "physician must sign off (import as a physician, or use the dose form).",
                        )
                    ]
                update.sign_off = True
        # The refill before is the app's last one: what it left and its concentration, unless the file says.
        row.warnings = last_refill_warnings(
            row, ctx.catalogue, ex.last_fill.resulting_volume_ml, ex.last_fill.concentration_mcg_per_ml
        )
    if row.next_refill_at is not None:
        booked = ex.appointment.starts_at if ex.appointment else None
        update.book = booked != row.next_refill_at or update.new_refill
    return []
