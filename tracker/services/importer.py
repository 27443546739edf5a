"""Importing patients from a CSV file (issue #9): the dry run against the database, then the all-or-nothing write.

The file's rows are checked by tracker.clinical.importing; this module adds what needs the database: a patient
already here with the same MRN (then: what would change, and whether the import may change it), and writes
everything in one transaction, in batches, with the same rows (stage events, pump, fill, dose ledger, stored
refill schedule, booking) and audit entries the forms create one by one.

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

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from types import SimpleNamespace

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from tracker.clinic_zone import clinic_zone_name, local_date, start_of_day
from tracker.clinical import import_checks, importing
from tracker.clinical import refill as engine
from tracker.clinical.dosing import needs_physician_sign_off
from tracker.clinical.flex_text import same_schedule
from tracker.clinical.import_checks import RefillChecks, RowWarning
from tracker.clinical.importing import IMPLANTED, Catalogue, Issue, PatientRow, Table
from tracker.clinical.journey import (
    ADJUSTMENT,
    EVALUATION,
    IMPLANTATION,
    STAGE_LABELS,
    TRIAL,
    JourneyError,
    Move,
    check_move,
)
from tracker.clinical.refill_risk import RefillRisk, battery_due
from tracker.formats import fmt_date, fmt_datetime, plural
from tracker.models import (
    AuditEvent,
    DoseChange,
    DrugConcentration,
    Implantation,
    Location,
    Patient,
    Pump,
    PumpModel,
    RefillAppointment,
    RefillSchedule,
    RefillVisit,
    StageEvent,
    User,
)
from tracker.models.bookings import OPEN
from tracker.models.types import utcnow
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied
from tracker.services.audit import snapshot
from tracker.services.bookings import FIELDS as BOOKING_FIELDS
from tracker.services.maintenance import refresh_planner_statistics
from tracker.services.patients import PATIENT_FIELDS, STATE_FIELDS
from tracker.services.refills import recompute_schedule, worst_case_daily_mcg
from tracker.services.settings import all_settings, windows_from

BATCH = 500  # rows written per flush; progress is reported after each
CHUNK = 500  # MRNs per lookup query
PUMP_FIELDS = [
    "model_id",
    "serial",
    "reservoir_ml",
    "implanted_on",
    "catheter_tip_level",
    "alarm_volume_ml",
    "battery_replacement_due",
]
VISIT_FIELDS = [
    "visit_at",
    "expected_residual_ml",
    "actual_residual_ml",
    "concentration_mcg_per_ml",
    "volume_added_ml",
    "resulting_volume_ml",
    "notes",
    "acknowledged_by_id",
]
DOSE_FIELDS = [
    "effective_at",
    "mode",
    "daily_dose_mcg",
    "flex_schedule",
    "bolus_dose_mcg",
    "max_boluses_per_day",
    "reason",
    "signed_off_by_id",
]
DETAILS = [
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "diagnosis",
    "spasticity_origin",
    "location_id",
    "nurse_id",
    "phone",
    "withdrawal_risk",
    "withdrawal_risk_reason",
]
# Details an empty cell leaves alone (column name in the file -> attribute).
OPTIONAL_DETAILS = {
    "nurse_id": "primary_nurse_email",
    "phone": "phone",
    "withdrawal_risk": "withdrawal_risk",
    "withdrawal_risk_reason": "withdrawal_risk_reason",
}


class ImportRefused(DomainError):
    """The file has problems: nothing was written. `issues` lists every one."""

    def __init__(self, issues: list[Issue]):
        super().__init__(f"{plural(len(issues), 'problem')} in the file: nothing was imported.")
        self.issues = issues


class AcknowledgementNeeded(DomainError):
    """The last refills carry high-severity warnings nobody has said they read: nothing was written."""


def load_catalogue(session: Session) -> Catalogue:
    """Every name a file may use, in four queries."""
    settings = all_settings(session)
    return Catalogue(
        locations={
            loc.name.casefold(): importing.LocationInfo(loc.id, loc.kind, loc.active)
            for loc in session.scalars(select(Location))
        },
        nurses={
            email.casefold(): user_id
            for user_id, email in session.execute(
                select(User.id, User.email).where(User.role == "nurse", User.active.is_(True))
            )
        },
        pump_models={
            m.name.casefold(): importing.PumpModelInfo(
                m.id, m.name, m.reservoir_ml, m.default_alarm_ml, m.battery_life_months, m.active, m.accuracy_fraction
            )
            for m in session.scalars(select(PumpModel))
        },
        drugs={
            d.concentration_mcg_per_ml: importing.DrugInfo(d.stability_days, d.trial_only, d.active)
            for d in session.scalars(select(DrugConcentration))
        },
        buffer_days=settings["safety_buffer_days"],
        high_risk_buffer_days=settings["high_risk_buffer_days"],
        tz=clinic_zone_name(),
        checks=RefillChecks.from_settings(settings),
    )


# What is in the database already ----------------------------------------------------------------------------


@dataclass
class Existing:
    """A patient already in the app, with what an update compares against."""

    patient: Patient
    last_event_on: date
    pump: Pump | None = None
    last_fill: RefillVisit | None = None
    dose: DoseChange | None = None
    appointment: RefillAppointment | None = None


def _latest(model, partition, order):
    """The newest row per `partition` that stands (not voided), as a subquery of ids (a window function: one
    query for many)."""
    ranked = (
        select(model.id, func.row_number().over(partition_by=partition, order_by=order).label("n"))
        .where(model.voided_at.is_(None))
        .subquery()
    )
    return select(ranked.c.id).where(ranked.c.n == 1)


def load_existing(session: Session, keys: list[str]) -> dict[str, Existing]:
    """The patients whose MRN keys appear in the file, with their pump, last fill, dose and open booking."""
    found: dict[str, Existing] = {}
    for start in range(0, len(keys), CHUNK):
        chunk = keys[start : start + CHUNK]
        patients = list(session.scalars(select(Patient).where(Patient.mrn_key.in_(chunk))))
        if not patients:
            continue
        ids = [p.id for p in patients]
        last_events = dict(
            session.execute(
                select(StageEvent.patient_id, func.max(StageEvent.effective_date))
                .where(StageEvent.patient_id.in_(ids), StageEvent.voided_at.is_(None))
                .group_by(StageEvent.patient_id)
            ).all()
        )
        by_id = {p.id: Existing(p, last_events.get(p.id, p.stage_since)) for p in patients}
        pumps = list(
            session.scalars(select(Pump).where(Pump.patient_id.in_(ids), Pump.explanted_on.is_(None)).order_by(Pump.id))
        )
        for pump in pumps:  # the newest pump in use wins, as current_pump() decides
            by_id[pump.patient_id].pump = pump
        pump_ids = [e.pump.id for e in by_id.values() if e.pump]
        if pump_ids:
            owner = {e.pump.id: e for e in by_id.values() if e.pump}
            fills = _latest(RefillVisit, RefillVisit.pump_id, (RefillVisit.visit_at.desc(), RefillVisit.id.desc()))
            for visit in session.scalars(
                select(RefillVisit).where(RefillVisit.pump_id.in_(pump_ids), RefillVisit.id.in_(fills))
            ):
                owner[visit.pump_id].last_fill = visit
            doses = _latest(DoseChange, DoseChange.pump_id, (DoseChange.effective_at.desc(), DoseChange.id.desc()))
            for dose in session.scalars(
                select(DoseChange).where(DoseChange.pump_id.in_(pump_ids), DoseChange.id.in_(doses))
            ):
                owner[dose.pump_id].dose = dose
        for appointment in session.scalars(
            select(RefillAppointment).where(RefillAppointment.patient_id.in_(ids), RefillAppointment.status == OPEN)
        ):
            by_id[appointment.patient_id].appointment = appointment
        found.update({e.patient.mrn_key: e for e in by_id.values()})
    return found


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
    session: Session, actor: Actor, table: Table, mapping: dict[str, int | None], today: date, now: datetime
) -> DryRun:
    """Check every row and say what the import would do; writes nothing."""
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
    rows, issues = importing.check_rows(table, mapping, ctx.catalogue, today, now)
    existing = load_existing(session, [r.mrn_key for r in rows])
    plans = []
    for row in rows:
        if row.mrn_key not in existing:
            plans.append(RowPlan(row, "new"))
            continue
        plan = RowPlan(row, "unchanged", existing=existing[row.mrn_key])
        row_issues = _plan_update(plan, ctx)
        issues += row_issues
        if not row_issues:
            plans.append(plan)
    for plan in plans:
        _judge(plan, ctx)
    issues.sort(key=lambda i: i.line or 0)
    return DryRun(table, issues, plans, ctx.catalogue)


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
            plan.changes = _describe(plan, update, ctx.catalogue)
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
    if _keep_app_programme(row, ex.dose):
        try:  # the dates and the booking check with the programme the pump will really have
            row.projection = engine.project_refill(importing.refill_inputs(row, ctx.catalogue))
        except engine.RefillInputError as error:
            return [ctx.issue(row, "last_refill_volume_ml", row.last_refill_volume_ml, error.message)]
        if row.next_refill_at is not None and (
            message := importing.check_booking_date(None, row, row.projection, ctx.now)
        ):
            return [ctx.issue(row, "next_refill_date", f"{row.next_refill_at:%Y-%m-%d}", message)]
    differs = _programme_difference(ex.dose, row)
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
                    f"{fmt_date(fill_on)} left {_num(ex.last_fill.resulting_volume_ml)} mL of "
                    f"{ex.last_fill.concentration_mcg_per_ml} mcg/mL: correct it in the app.",
                )
            ]
        if differs:
            return [
                ctx.issue(
                    row,
                    differs,
                    importing.shown_value(row, differs),
                    f"The app's current programme is {_programme_words(ex.dose)}: record dose changes in the app.",
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
                            f"From {_num(base)} to "
                            f"{_num(new)} mcg/day (with boluses) is beyond the titration limit: a "
                            "physician must sign off (import as a physician, or use the dose form).",
                        )
                    ]
                update.sign_off = True
        # The refill before is the app's last one: what it left and its concentration, unless the file says.
        row.warnings = importing.last_refill_warnings(
            row, ctx.catalogue, ex.last_fill.resulting_volume_ml, ex.last_fill.concentration_mcg_per_ml
        )
    if row.next_refill_at is not None:
        booked = ex.appointment.starts_at if ex.appointment else None
        update.book = booked != row.next_refill_at or update.new_refill
    return []


def _keep_app_programme(row: PatientRow, dose: DoseChange) -> bool:
    """Fill in what the file leaves empty from the app's programme, as an empty optional cell keeps the app's
    value: the boluses, and the flexible schedule when the file's daily dose is the schedule's. True if it did."""
    kept = False
    if row.bolus_dose_mcg is None and dose.bolus_dose_mcg:
        row.bolus_dose_mcg, kept = dose.bolus_dose_mcg, True
    if row.max_boluses_per_day is None and dose.max_boluses_per_day:
        row.max_boluses_per_day, kept = dose.max_boluses_per_day, True
    if not row.flex_schedule and dose.flex_schedule and row.daily_dose_mcg == dose.daily_dose_mcg:
        row.flex_schedule, kept = dose.flex_schedule, True
    return kept


def _programme_difference(dose: DoseChange, row: PatientRow) -> str | None:
    """The first column whose programme differs from the app's dose in force, or None if they agree."""
    if not same_schedule(dose.flex_schedule, row.flex_schedule):
        return "flex_schedule"
    if not row.flex_schedule and dose.daily_dose_mcg != row.daily_dose_mcg:
        return "daily_dose_mcg"
    if (dose.bolus_dose_mcg or 0) != (row.bolus_dose_mcg or 0):
        return "bolus_dose_mcg"
    if (dose.max_boluses_per_day or 0) != (row.max_boluses_per_day or 0):
        return "max_boluses_per_day"
    return None


def _programme_words(p: DoseChange | PatientRow) -> str:
    """'200 mcg/day plus up to 4 boluses of 25 mcg a day', for a dose in the app or a row of the file."""
    words = f"{_num(p.daily_dose_mcg)} mcg/day" + (" (flexible schedule)" if p.flex_schedule else "")
    if p.max_boluses_per_day and p.bolus_dose_mcg:
        words += f" plus up to {p.max_boluses_per_day} boluses of {_num(p.bolus_dose_mcg)} mcg a day"
    return words


_num = importing.plain


LABELS = {c.name: c.label for c in importing.COLUMNS} | {"location_id": "Home location", "nurse_id": "Primary nurse"}


def _show(catalogue: Catalogue, attribute: str, value) -> str:
    if value is None or value == "":
        return "—"
    if attribute == "location_id":
        return next((k for k, v in catalogue.locations.items() if v.id == value), str(value))
    if attribute == "nurse_id":
        return next((k for k, v in catalogue.nurses.items() if v == value), "an inactive nurse")
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return fmt_date(value)
    return _num(value) if not isinstance(value, str) else value


def _describe(plan: RowPlan, update: Update, catalogue: Catalogue) -> list[str]:
    row = plan.row
    out = [
        f"{LABELS[a]}: {_show(catalogue, a, old)} → {_show(catalogue, a, new)}"
        for a, (old, new) in update.details.items()
    ]
    if update.move_to:
        out.append(
            f"Stage: {STAGE_LABELS[plan.existing.patient.stage]} → {STAGE_LABELS[update.move_to]} "
            f"from {fmt_date(row.stage_since)}"
        )
    out += [
        f"{LABELS[a]}: {_show(catalogue, a, old)} → {_show(catalogue, a, new)}" for a, (old, new) in update.pump.items()
    ]
    if update.new_refill:
        out.append(
            f"New refill on {fmt_date(row.last_refill_date)}: {_num(row.last_refill_volume_ml)} mL of "
            f"{row.concentration_mcg_per_ml} mcg/mL"
        )
    if update.dose_change:
        old = plan.existing.dose
        change = (
            f"Daily dose: {_num(old.daily_dose_mcg)} → {_num(row.daily_dose_mcg)} mcg/day"
            if _programme_difference(old, row) == "daily_dose_mcg"
            and not (old.max_boluses_per_day or row.max_boluses_per_day)
            else f"Programme: {_programme_words(old)} → {_programme_words(row)}"
        )
        out.append(change + (" (physician sign-off)" if update.sign_off else ""))
    if update.book:
        verb = "rebooked" if plan.existing.appointment and not update.new_refill else "booked"
        out.append(f"Next refill {verb} for {fmt_datetime(row.next_refill_at)}")
    return out


# The import ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    phase: str  # check | write
    done: int
    total: int


@dataclass
class Summary:
    filename: str
    rows: int
    created: int
    updated: int
    unchanged: int
    booked: int
    due_unbooked: int  # implanted patients in the file already due for a refill with nothing booked
    seconds: float


class ImportRun:
    """The all-or-nothing import. Iterate it for progress; `summary` is set once everything has committed.

    It checks the file again inside its own transaction (never trusting an earlier dry run), refuses with
    ImportRefused if anything is wrong, and rolls back on any error: a partial import cannot happen."""

    def __init__(
        self,
        session: Session,
        actor: Actor,
        table: Table,
        mapping: dict[str, int | None],
        filename: str,
        today: date,
        now: datetime,
        batch: int = BATCH,
        acknowledged: bool = False,
    ):
        self.session, self.actor, self.table, self.mapping = session, actor, table, mapping
        self.filename, self.today, self.now, self.batch = filename, today, now, batch
        self.acknowledged = acknowledged  # the high-severity refill warnings were read (as at the refill form)
        self.summary: Summary | None = None
        self._audit: list[dict] = []

    def __iter__(self) -> Iterator[Progress]:
        if not allowed(self.actor.role, "patient.import"):
            raise PermissionDenied("Your role may not import patients.")
        started = utcnow()
        total = len(self.table.rows)
        yield Progress("check", 0, total)
        try:
            dry = dry_run(self.session, self.actor, self.table, self.mapping, self.today, self.now)
            if not dry.ok:
                raise ImportRefused(dry.issues or [Issue(None, None, "", "There are no patients to import.")])
            if dry.needs_acknowledgement and not self.acknowledged:
                raise AcknowledgementNeeded(
                    "The last refills in this file carry high-severity warnings: tick the "
                    "box to say you have read them. Nothing was imported.",
                    "acknowledge",
                )
            yield Progress("check", total, total)
            self.settings = all_settings(self.session)
            done = 0
            plans = [p for p in dry.plans if p.action != "unchanged"]
            for start in range(0, len(plans), self.batch):
                batch = plans[start : start + self.batch]
                self._create([p for p in batch if p.action == "new"])
                for plan in (p for p in batch if p.action == "update"):
                    self._apply(plan)
                self._flush_audit()
                done += len(batch)
                yield Progress("write", done + dry.count("unchanged"), total)
            summary = Summary(
                self.filename,
                total,
                dry.count("new"),
                dry.count("update"),
                dry.count("unchanged"),
                sum(
                    1
                    for p in dry.plans
                    if p.row.next_refill_at is not None and (p.action == "new" or (p.update and p.update.book))
                ),
                sum(1 for p in dry.plans if _due_unbooked(p, self.today)),
                0.0,
            )
            if plans:  # a file with nothing new leaves no trace: nothing was imported
                self._record(
                    "create",
                    "patient_import",
                    None,
                    None,
                    None,
                    {
                        "file": self.filename,
                        "rows": total,
                        "created": summary.created,
                        "updated": summary.updated,
                        "unchanged": summary.unchanged,
                    },
                )
                self._flush_audit()
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        if plans:  # thousands of new rows: SQLite's planner would pick indexes on the old counts until tonight
            refresh_planner_statistics(self.session)
        summary.seconds = round((utcnow() - started).total_seconds(), 1)
        self.summary = summary
        yield Progress("write", total, total)

    # audit -----------------------------------------------------------------------------------------------------

    def _record(
        self,
        action: str,
        entity: str,
        entity_id: int | None,
        patient_id: int | None,
        before: dict | None,
        after: dict | None,
    ) -> None:
        self._audit.append(
            {
                "at": utcnow(),
                "user_id": self.actor.user_id,
                "client_address": self.actor.address,
                "action": action,
                "entity": entity,
                "entity_id": entity_id,
                "patient_id": patient_id,
                "before": before,
                "after": after,
            }
        )

    def _flush_audit(self) -> None:
        """The batch's audit rows in one multi-row insert (the ORM would add them one object at a time)."""
        self.session.flush()
        if self._audit:
            self.session.execute(insert(AuditEvent.__table__), self._audit)
            self._audit = []

    def _note(self, row: PatientRow) -> str:
        return f"Imported from {self.filename}, line {row.line}"

    # new patients ----------------------------------------------------------------------------------------------

    def _insert(self, model, rows: list[dict]) -> list[int]:
        """Many rows in few statements, ids back in the rows' order (Core's multi-row INSERT ... RETURNING; the ORM's
        bulk path splits rows whose optional values are None into one statement each)."""
        if not rows:
            return []
        table = model.__table__
        statement = insert(table).returning(table.c.id, sort_by_parameter_order=True)
        return list(self.session.execute(statement, rows).scalars())

    def _create(self, plans: list[RowPlan]) -> None:
        """A batch of new patients, written table by table in bulk: for thousands of rows the ORM's one object
        at a time costs more than everything else together. The rows are the ones the forms write (see
        create_patient, move_stage, implant_pump, book_refill), audit entries included."""
        if not plans:
            return
        user, rows = self.actor.user_id, [p.row for p in plans]
        patients = [self._patient(row) for row in rows]
        for row, patient, patient_id in zip(rows, patients, self._insert(Patient, patients), strict=True):
            patient["id"] = patient_id
            self._record(
                "create",
                "patient",
                patient_id,
                patient_id,
                None,
                _json(patient, PATIENT_FIELDS + STATE_FIELDS) | {"imported_from": self.filename, "line": row.line},
            )
        events = [
            (row, patient["id"], event)
            for row, patient in zip(rows, patients, strict=True)
            for event in self._history(row, patient["id"], user)
        ]
        event_ids = self._insert(StageEvent, [event for _, _, event in events])
        implanted = [(row, patient) for row, patient in zip(rows, patients, strict=True) if row.stage in IMPLANTED]
        implants = []
        for (row, patient_id, event), event_id in zip(events, event_ids, strict=True):
            self._record(
                "create",
                "stage_event",
                event_id,
                patient_id,
                None,
                _json(event, ["from_stage", "to_stage", "effective_date", "reason"]),
            )
            if event["to_stage"] == IMPLANTATION:
                implants.append(
                    {
                        "stage_event_id": event_id,
                        "patient_id": patient_id,
                        "surgery_centre_id": row.surgery_centre_id,
                        "surgeon": row.surgeon,
                    }
                )
        if implants:
            self.session.execute(insert(Implantation.__table__), implants)
        pumps = [self._pump(row, patient["id"]) for row, patient in implanted]
        fills, doses, schedules, bookings = [], [], [], []
        for (row, patient), pump, pump_id in zip(implanted, pumps, self._insert(Pump, pumps), strict=True):
            pump["id"] = pump_id
            self._record("create", "pump", pump_id, patient["id"], None, _json(pump, PUMP_FIELDS))
            at = start_of_day(row.last_refill_date)
            fills.append(
                {
                    "pump_id": pump_id,
                    "visit_at": at,
                    "clinician_id": user,
                    "at_implant": row.last_refill_date == row.implanted_on,
                    **self._fill(row),
                }
            )
            doses.append(
                {
                    "pump_id": pump_id,
                    "effective_at": at,
                    **_programme(row),
                    "reason": f"Dose in force at the last refill. {self._note(row)}.",
                    "recorded_by_id": user,
                    "signed_off_by_id": None,
                }
            )
            schedules.append(self._schedule(row, pump_id, patient["id"], at))
            if row.next_refill_at is not None:
                bookings.append(self._booking(row, patient["id"], pump_id))
        # One fill and one dose per pump, in the pumps' order.
        for pump, fill, fill_id in zip(pumps, fills, self._insert(RefillVisit, fills), strict=True):
            self._record("create", "refill_visit", fill_id, pump["patient_id"], None, _json(fill, VISIT_FIELDS))
        for pump, dose, dose_id in zip(pumps, doses, self._insert(DoseChange, doses), strict=True):
            self._record("create", "dose_change", dose_id, pump["patient_id"], None, _json(dose, DOSE_FIELDS))
        if schedules:
            self.session.execute(insert(RefillSchedule.__table__), schedules)
        for booking, booking_id in zip(bookings, self._insert(RefillAppointment, bookings), strict=True):
            self._record(
                "create", "refill_appointment", booking_id, booking["patient_id"], None, _json(booking, BOOKING_FIELDS)
            )

    def _fill(self, row: PatientRow) -> dict:
        """The last refill's figures as the refill form records them, with the warnings the dry run showed (the
        importing user acknowledged the high ones before the import could start)."""
        warnings = [{"code": w.code, "severity": w.severity, "message": w.message} for w in row.warnings]
        residuals = row.actual_residual_ml is not None
        return {
            "expected_residual_ml": row.expected_residual_ml,
            "actual_residual_ml": row.actual_residual_ml,
            "concentration_mcg_per_ml": row.concentration_mcg_per_ml,
            "volume_added_ml": _first(row.volume_added_ml, row.last_refill_volume_ml),
            "resulting_volume_ml": row.last_refill_volume_ml,
            "warnings": warnings or None,
            "acknowledged_by_id": self.actor.user_id if any(w.severity == "high" for w in row.warnings) else None,
            "notes": f"{self._note(row)}" + ("." if residuals else " (residuals not recorded)."),
        }

    @staticmethod
    def _patient(row: PatientRow) -> dict:
        return {
            "mrn": row.mrn,
            "mrn_key": row.mrn_key,
            "first_name": row.first_name,
            "last_name": row.last_name,
            "date_of_birth": row.date_of_birth,
            "sex": row.sex,
            "diagnosis": row.diagnosis,
            "spasticity_origin": row.spasticity_origin,
            "location_id": row.location_id,
            "nurse_id": row.nurse_id,
            "withdrawal_risk": row.withdrawal_risk,
            "withdrawal_risk_reason": row.withdrawal_risk_reason,
            "phone": row.phone,
            "stage": row.stage,
            "stage_since": row.stage_since,
            "status": "active",
            "exit_reason": None,
            "journey_started": row.referral_date,
            "version": 1,
        }

    def _history(self, row: PatientRow, patient_id: int, user: int) -> list[dict]:
        """The stage events an import can vouch for: the referral, then the implantation and the current stage
        on their dates. Stages the file does not date (a trial before an implant) are left out, and the reasons
        say so."""

        def event(from_stage, to_stage, on, reason):
            return {
                "patient_id": patient_id,
                "from_stage": from_stage,
                "to_stage": to_stage,
                "effective_date": on,
                "reason": reason,
                "recorded_by_id": user,
                "exit_reason": None,
                "override": False,
            }

        events = [event(None, EVALUATION, row.referral_date, f"Referral. {self._note(row)}.")]
        if row.stage == TRIAL:
            events.append(event(EVALUATION, TRIAL, row.stage_since, f"{self._note(row)}."))
        if row.stage in IMPLANTED:
            events.append(
                event(
                    EVALUATION,
                    IMPLANTATION,
                    row.implanted_on,
                    f"{self._note(row)}; the screening trial was not imported.",
                )
            )
        if row.stage == ADJUSTMENT:
            events.append(event(IMPLANTATION, ADJUSTMENT, row.stage_since, f"{self._note(row)}."))
        return events

    @staticmethod
    def _pump(row: PatientRow, patient_id: int) -> dict:
        model = row.pump_model
        return {
            "patient_id": patient_id,
            "model_id": model.id,
            "serial": row.pump_serial,
            "reservoir_ml": model.reservoir_ml,
            "implanted_on": row.implanted_on,
            "surgery_centre_id": row.surgery_centre_id,
            "catheter_tip_level": row.catheter_tip_level,
            "alarm_volume_ml": row.alarm_volume_ml,
            "battery_replacement_due": battery_due(row.implanted_on, model.battery_life_months),
            "explanted_on": None,
            "version": 1,
        }

    def _schedule(self, row: PatientRow, pump_id: int, patient_id: int, fill_at: datetime) -> dict:
        """The stored schedule from the row's projection, field for field as recompute_schedule writes it
        (tests/web/test_import.py checks the two agree)."""
        p = row.projection
        return {
            "pump_id": pump_id,
            "patient_id": patient_id,
            "location_id": row.location_id,
            "fill_at": fill_at,
            "volume_after_fill_ml": row.last_refill_volume_ml,
            "daily_volume_ml": p.daily_volume_ml,
            "due_date": p.due_date,
            "alarm_date": p.alarm_date,
            "empty_date": p.empty_date,
            "stability_date": p.stability_date,
            "binding_rule": p.binding_rule,
            "explanation": p.explanation,
            "computed_at": self.now,
        }

    def _booking(self, row: PatientRow, patient_id: int, pump_id: int) -> dict:
        return {
            "patient_id": patient_id,
            "pump_id": pump_id,
            "starts_at": row.next_refill_at,
            "location_id": row.location_id,
            "clinician_id": row.nurse_id or self.actor.user_id,
            "late_reason": row.next_refill_late_reason,
            "override_by_id": None,
            "status": OPEN,
            "booked_by_id": self.actor.user_id,
            "booked_at": self.now,
            "version": 1,
        }

    def _appointment(self, row: PatientRow, patient_id: int, pump_id: int) -> RefillAppointment:
        appointment = RefillAppointment(
            patient_id=patient_id,
            pump_id=pump_id,
            starts_at=row.next_refill_at,
            location_id=row.location_id,
            clinician_id=row.nurse_id or self.actor.user_id,
            late_reason=row.next_refill_late_reason,
            booked_by_id=self.actor.user_id,
            status=OPEN,
        )
        self.session.add(appointment)
        return appointment

    # patients already here -------------------------------------------------------------------------------------

    def _apply(self, plan: RowPlan) -> None:
        """One patient's update, as the forms would make it, audit rows included."""
        row, ex, update, session = plan.row, plan.existing, plan.update, self.session
        patient, pump = ex.patient, ex.pump
        if update.details:
            before = snapshot(patient, list(update.details))
            for attribute, (_old, new) in update.details.items():
                setattr(patient, attribute, new)
            self._record("update", "patient", patient.id, patient.id, before, snapshot(patient, list(update.details)))
        if update.move_to:
            before = snapshot(patient, STATE_FIELDS)
            event = StageEvent(
                patient_id=patient.id,
                from_stage=patient.stage,
                to_stage=update.move_to,
                effective_date=row.stage_since,
                reason=f"{self._note(row)}.",
                recorded_by_id=self.actor.user_id,
            )
            session.add(event)
            patient.stage, patient.stage_since = update.move_to, row.stage_since
            session.flush()
            self._record(
                "create",
                "stage_event",
                event.id,
                patient.id,
                None,
                snapshot(event, ["from_stage", "to_stage", "effective_date", "reason"]),
            )
            self._record("update", "patient", patient.id, patient.id, before, snapshot(patient, STATE_FIELDS))
        if pump is None:
            return
        if update.pump:
            before = snapshot(pump, list(update.pump))
            for attribute, (_old, new) in update.pump.items():
                setattr(pump, attribute, new)
            self._record("update", "pump", pump.id, patient.id, before, snapshot(pump, list(update.pump)))
        visit = None
        if update.new_refill:
            visit, dose = self._refill(row, pump, update)
            if ex.appointment is not None:  # recording the refill completes the open booking, as in the app
                ex.appointment.status, ex.appointment.closed_at = "completed", self.now
                ex.appointment.refill_visit_id = visit.id
        if update.new_refill or "alarm_volume_ml" in update.pump or "withdrawal_risk" in update.details:
            session.flush()
            recompute_schedule(session, pump, self.settings)
        if update.book:
            self._book(plan, pump, visit)

    def _refill(self, row: PatientRow, pump: Pump, update: Update) -> tuple[RefillVisit, DoseChange | None]:
        at = start_of_day(row.last_refill_date)
        user = self.actor.user_id
        # The due date the worklist showed before this refill, as record_refill keeps it (for the dashboard).
        due_before = self.session.scalar(select(RefillSchedule.due_date).where(RefillSchedule.pump_id == pump.id))
        visit = RefillVisit(
            pump_id=pump.id, visit_at=at, clinician_id=user, due_date_in_force=due_before, **self._fill(row)
        )
        self.session.add(visit)
        dose = None
        if update.dose_change:
            dose = DoseChange(
                pump_id=pump.id,
                effective_at=at,
                **_programme(row),
                reason=f"Dose in force at the refill. {self._note(row)}.",
                recorded_by_id=user,
                signed_off_by_id=user if update.sign_off else None,
            )
            self.session.add(dose)
        self.session.flush()
        self._record("create", "refill_visit", visit.id, pump.patient_id, None, snapshot(visit, VISIT_FIELDS))
        if dose is not None:
            self._record("create", "dose_change", dose.id, pump.patient_id, None, snapshot(dose, DOSE_FIELDS))
        return visit, dose

    def _book(self, plan: RowPlan, pump: Pump, visit: RefillVisit | None) -> None:
        row, old = plan.row, plan.existing.appointment
        if old is not None and visit is None:  # still open: rebook it, keeping its history
            before = snapshot(old, BOOKING_FIELDS)
            old.status, old.closed_at, old.closed_by_id = "rebooked", self.now, self.actor.user_id
            old.close_reason = f"Rebooked by import ({self._note(row)})."
        new = self._appointment(row, pump.patient_id, pump.id)
        self.session.flush()
        if old is not None and visit is None:
            old.replaced_by_id = new.id
            self._record(
                "update",
                "refill_appointment",
                old.id,
                pump.patient_id,
                before,
                snapshot(old, BOOKING_FIELDS) | {"close_reason": old.close_reason},
            )
        self._record("create", "refill_appointment", new.id, pump.patient_id, None, snapshot(new, BOOKING_FIELDS))


def _due_unbooked(plan: RowPlan, today: date) -> bool:
    """A pump already due for a refill after the import, with no booking in the file or the app."""
    booked = plan.row.next_refill_at is not None or (
        plan.existing and plan.existing.appointment and not (plan.update and plan.update.new_refill)
    )
    return plan.row.projection is not None and plan.row.projection.due_date <= today and not booked


def _programme(row: PatientRow) -> dict:
    """The dose ledger's columns for the row's programme, as the dose form writes them."""
    return {
        "mode": "flex" if row.flex_schedule else "simple",
        "daily_dose_mcg": row.daily_dose_mcg,
        "flex_schedule": row.flex_schedule,
        "bolus_dose_mcg": row.bolus_dose_mcg or Decimal(0),
        "max_boluses_per_day": row.max_boluses_per_day or 0,
    }


def _first(*values):
    return next((v for v in values if v is not None), None)


def _json(values: dict, fields: list[str]) -> dict:
    """snapshot() for a row written from a dict: the same JSON-safe before/after values."""
    return snapshot(SimpleNamespace(**values), fields)
