"""The import's checks on each line (issue #9): the patient's details and stage here, the pump, programme and
last refill in tracker.clinical.import_pump, the booked refill in `check_booking_cells`. Pure: what the checks
need from the database comes in as a `Catalogue`, so the dry run and the import ask the very same function."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from tracker.clinical import booking, refill, refill_risk
from tracker.clinical.booking import DEFAULT_BOOKING_TIME
from tracker.clinical.import_cells import NO, SEX_ALIASES, TIME, YES, Catalogue, LineReader, PatientRow, location_cell
from tracker.clinical.import_columns import (
    COLUMN_BY_NAME,
    ENCODING_HELP,
    IMPLANTED,
    PROGRAMME_AND_REFILL_CHECKS,
    REQUIRED_ALWAYS,
    Issue,
)
from tracker.clinical.import_pump import check_pump
from tracker.clinical.journey import EVALUATION, IMPLANTATION, STAGE_LABELS, STAGES, TRIAL
from tracker.clinical.scales import DIAGNOSES, ORIGINS, SEXES
from tracker.clinical.search import mrn_key
from tracker.formats import fmt_date

if TYPE_CHECKING:
    from tracker.imports.csv_file import Table

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class CheckedFile:
    """A file's lines checked on their own (`check_rows`) with one catalogue on one day, before any comparison
    with the patients already here. The import carries it from its dry run instead of checking every line again
    (`still_holds` says when it may); planning copies a row before changing it, so `rows` stay as checked."""

    fingerprint: str  # of the lines and the column mapping
    today: date
    catalogue: Catalogue
    rows: list[PatientRow]
    issues: list[Issue]


def check_file(
    table: Table, mapping: dict[str, int | None], catalogue: Catalogue, today: date, now: datetime
) -> CheckedFile:
    """`check_rows`, kept with what it depended on."""
    rows, issues = check_rows(table, mapping, catalogue, today, now)
    return CheckedFile(fingerprint(table, mapping), today, catalogue, rows, issues)


def still_holds(
    checked: CheckedFile,
    table: Table,
    mapping: dict[str, int | None],
    catalogue: Catalogue,
    today: date,
    now: datetime,
) -> bool:
    """Whether checking the file again now would give `checked`: the same lines, mapping, day and catalogue
    (names, nurses, settings), no issue (a refused file is checked again for its exact messages), and every
    booked refill still bookable at `now`, the one line check that moves with the clock."""
    return (
        not checked.issues
        and checked.today == today
        and checked.catalogue == catalogue
        and checked.fingerprint == fingerprint(table, mapping)
        and not any(
            row.next_refill_at is not None and booking_refusal(row, row.projection, now) for row in checked.rows
        )
    )


def fingerprint(table: Table, mapping: dict[str, int | None]) -> str:
    """A digest of the file's header, lines and column mapping."""
    text = json.dumps([table.headers, table.rows, sorted(mapping.items())], ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def check_rows(
    table: Table, mapping: dict[str, int | None], catalogue: Catalogue, today: date, now: datetime
) -> tuple[list[PatientRow], list[Issue]]:
    """Every line checked on its own and against the file (duplicate MRNs); issues in line order."""
    issues: list[Issue] = []
    for name in REQUIRED_ALWAYS:
        if mapping.get(name) is None:
            issues.append(
                Issue(
                    1,
                    COLUMN_BY_NAME[name].name,
                    "",
                    f"Missing column: the file has no column for "
                    f"{COLUMN_BY_NAME[name].label} ({name}), which every patient needs.",
                )
            )
    if issues:
        return [], issues  # every line would repeat it
    rows: list[PatientRow] = []
    first_line: dict[str, int] = {}
    headers = {name: table.headers[index] for name, index in mapping.items() if index is not None}
    for line, cells in table.rows:
        reader = LineReader(line, cells, mapping, table.headers, headers)
        row = _check_line(reader, catalogue, today, now)
        key = mrn_key(reader.raw("mrn"))
        if key:
            if key in first_line:
                reader.fail("mrn", f"Duplicate MRN: also on line {first_line[key]}. Each patient appears once.")
                row = None
            else:
                first_line[key] = line
        issues += reader.issues
        if row is not None and not reader.issues:
            rows.append(row)
    return rows, issues


def _check_line(r: LineReader, cat: Catalogue, today: date, now: datetime) -> PatientRow | None:
    for index, cell in enumerate(r.cells):
        if "\ufffd" in cell or CONTROL.search(cell):
            header = r.headers[index] if index < len(r.headers) else f"column {index + 1}"
            what = "characters that are not text" if CONTROL.search(cell) else "bytes that are not valid text"
            r.issues.append(
                Issue(r.line, header, cell[:60], f"Wrong encoding: this cell holds {what}. " + ENCODING_HELP)
            )
    if r.issues:
        return None
    mrn = r.text("mrn", True, 40)
    if mrn and len(mrn) <= 40 and len(mrn_key(mrn)) > 40:  # ß -> ss
        r.fail("mrn", "Too long once case-folded: at most 40 characters.")
    first_name, last_name = r.text("first_name", True, 80), r.text("last_name", True, 80)
    birth = r.date("date_of_birth", True)
    if birth and birth > today:
        r.fail("date_of_birth", "The date of birth cannot be in the future.")
    sex = r.choice("sex", SEXES, SEX_ALIASES)
    diagnosis = r.choice("diagnosis", DIAGNOSES)
    origin = r.choice("spasticity_origin", ORIGINS)
    location = location_cell(r, "location", cat, None)
    nurse_id = None
    if email := r.text("primary_nurse_email", False, 254):
        nurse_id = cat.nurses.get(email.casefold())
        if nurse_id is None:
            r.fail("primary_nurse_email", "No active nurse has this e-mail.")
    phone = r.text("phone", False, 40)
    risk_text = r.raw("withdrawal_risk").casefold()
    risk = risk_text in YES
    if not risk and risk_text not in NO:
        r.fail("withdrawal_risk", "Write yes or no.")
    reason = r.text("withdrawal_risk_reason", risk, 300, " when withdrawal risk is yes")
    referral = r.date("referral_date", True)
    if referral and (referral > today or (birth and referral < birth)):
        r.fail("referral_date", "The referral date must be between birth and today.")
    stage = r.choice("stage", {s: STAGE_LABELS[s] for s in STAGES})
    if not stage and r.raw("stage").casefold() in ("exited", "exit"):
        r.issues[-1] = Issue(
            r.line,
            r.header("stage"),
            r.raw("stage"),
            "Only patients in the programme are "
            "imported (evaluation, trial, implantation, adjustment): record exits in the app.",
        )
    stage_since = r.date("stage_since", stage == TRIAL, " for a patient in trial")
    implanted = stage in IMPLANTED
    why = f" for a patient in {stage}"
    row = None
    if not r.issues:
        row = PatientRow(
            line=r.line,
            mrn=mrn,
            mrn_key=mrn_key(mrn),
            first_name=first_name,
            last_name=last_name,
            date_of_birth=birth,
            sex=sex,
            diagnosis=diagnosis,
            spasticity_origin=origin,
            location_id=location.id,
            location_is_clinic=location.kind == "clinic",
            nurse_id=nurse_id,
            phone=phone,
            withdrawal_risk=risk,
            withdrawal_risk_reason=reason,
            referral_date=referral,
            stage=stage,
            stage_since=stage_since or referral,
            given=frozenset(name for name, value in r.values.items() if value),
            headers=r.names,
        )
    if implanted:
        check_pump(r, row, cat, today, why)
    elif row is not None:
        for name in (
            "pump_model",
            "pump_serial",
            "implanted_on",
            "last_refill_date",
            "next_refill_date",
            *PROGRAMME_AND_REFILL_CHECKS,
        ):
            if r.raw(name):
                r.fail(name, f"Only for a patient with a pump (implantation or adjustment), not {stage}.")
    if row is not None and stage_since and stage_since < referral:
        r.fail("stage_since", "The stage cannot begin before the referral.")
    if row is not None and stage_since and stage_since > today:
        r.fail("stage_since", "The stage cannot begin in the future.")
    if row is not None and stage == EVALUATION and stage_since and stage_since != referral:
        r.fail("stage_since", "In evaluation, the stage begins on the referral date.")
    if row is not None and implanted and row.implanted_on and not r.issues:
        if stage == IMPLANTATION and stage_since and stage_since != row.implanted_on:
            r.fail("stage_since", "In implantation, the stage begins on the implant date.")
        elif stage_since and stage_since < row.implanted_on:
            r.fail("stage_since", "Adjustment cannot begin before the implant date.")
        row.stage_since = stage_since or row.implanted_on
    if row is not None and implanted and not r.issues:
        check_booking_cells(r, row, cat, now)
    return row if not r.issues else None


def check_booking_cells(r: LineReader, row: PatientRow, cat: Catalogue, now: datetime) -> None:
    """The next booked refill's cells: date, time (empty: the clinic's first slot) and late reason."""
    booked_on = r.date("next_refill_date", False)
    time_text = r.raw("next_refill_time")
    at = DEFAULT_BOOKING_TIME
    if time_text:
        match = TIME.match(time_text)
        if not match or int(match.group(1)) > 23 or int(match.group(2)) > 59:
            r.fail("next_refill_time", "Not a time: use HH:MM (24-hour), e.g. 14:30.")
            return
        at = time(int(match.group(1)), int(match.group(2)))
    row.next_refill_late_reason = r.text("next_refill_late_reason", False, 300)
    if booked_on is None:
        return
    row.next_refill_at = datetime.combine(booked_on, at, ZoneInfo(cat.tz))
    if message := booking_refusal(row, row.projection, now):
        r.fail("next_refill_date", message)


def booking_refusal(row: PatientRow, projection: refill.RefillProjection, now: datetime) -> str | None:
    """Why the row's booked refill cannot be imported, by the booking form's rules (tracker.clinical.booking):
    an import books at the patient's home location and cannot override the alarm date. None: it may."""
    dates = refill_risk.RefillDates(projection.due_date, projection.alarm_date, projection.empty_date)
    check = booking.check_booking(
        dates,
        row.next_refill_at,
        row.next_refill_at.date(),
        now,
        at_clinic=row.location_is_clinic,
        late_reason=row.next_refill_late_reason,
    )
    if check.refused == booking.IN_THE_PAST:
        return "The next booked refill must be in the future."
    if check.refused == booking.NOT_A_CLINIC:
        return "Refills are booked at the patient's home location, which is not a clinic."
    if check.refused == booking.NEEDS_PHYSICIAN:
        return (
            f"Booked on or after the pump's low-reservoir alarm ({fmt_date(projection.alarm_date)}): book it "
            "in the app, where a physician can override."
        )
    if check.refused == booking.NO_LATE_REASON:
        return (
            f"Booked after the refill due date ({fmt_date(projection.due_date)}): say why in next_refill_late_reason."
        )
    return None
