"""The daily reminder e-mail's subject and sections, built from plain data: no Flask, no database, no SMTP, no
markup (templates/email/digest.txt and digest.html word them, rendered by tracker.digest_email).

Minimum necessary (domain.md, privacy): a row identifies a patient by MRN and a link into the app, never by
name, birth date or diagnosis, and the subject carries counts only. The inputs (tracker.clinical.digest_input)
cannot carry more."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from tracker.clinical import pump_events, refill_risk
from tracker.clinical.digest_input import (
    BatteryItem,
    DigestInput,
    RefillItem,
    SchedulerHealth,
    WorkItem,
)
from tracker.clinical.journey import EXIT_REASONS, STAGE_LABELS
from tracker.formats import fmt_date, fmt_datetime, fmt_day_month, plural

# Refill sections: one per urgency that needs action, in the model's order (most severe first). The model
# decides which section a pump is in; this module only words it.
BOOKED_LATE = "booked_late"
REFILL_SECTIONS = (
    refill_risk.EMPTY,
    refill_risk.PAST_ALARM,
    refill_risk.OVERDUE,
    refill_risk.MISSED,
    BOOKED_LATE,
    refill_risk.DUE_SOON,
)
BATTERY = "battery"
DEVICE_WORK = "device_work"
WARNINGS = "warnings"
STAGE_CHANGES = "stage_changes"
NEEDS_PHYSICIAN = "needs_physician"
DEAD_LETTERS = "dead_letters"
SCHEDULER = "scheduler"

CLINICAL_SECTIONS = (*REFILL_SECTIONS, DEVICE_WORK, BATTERY, WARNINGS, STAGE_CHANGES)
# Nurses see their own patients and coordinators their locations: the same sections, a different scope.
SECTIONS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "nurse": CLINICAL_SECTIONS,
    "coordinator": CLINICAL_SECTIONS,
    "physician": (NEEDS_PHYSICIAN,),
    "admin": (DEAD_LETTERS, SCHEDULER),
}

# Words for the subject line, singular and plural.
SUBJECT_WORDS = {
    refill_risk.EMPTY: ("projected empty", "projected empty"),
    refill_risk.PAST_ALARM: ("past the alarm date", "past the alarm date"),
    refill_risk.OVERDUE: ("overdue", "overdue"),
    refill_risk.MISSED: ("missed appointment", "missed appointments"),
    BOOKED_LATE: ("booked late", "booked late"),
    refill_risk.DUE_SOON: ("due soon unbooked", "due soon unbooked"),
    BATTERY: ("battery replacement", "battery replacements"),
    DEVICE_WORK: ("device check or review", "device checks or reviews"),
    WARNINGS: ("refill warning", "refill warnings"),
    STAGE_CHANGES: ("stage change", "stage changes"),
    NEEDS_PHYSICIAN: ("needs a physician", "need a physician"),
    DEAD_LETTERS: ("undelivered e-mail", "undelivered e-mails"),
    SCHEDULER: ("scheduler problem", "scheduler problems"),
}
REFILL_TITLES = {
    refill_risk.EMPTY: ("Pumps projected empty", "No pump is projected empty."),
    refill_risk.PAST_ALARM: ("Past the low-reservoir alarm", "No pump is past its alarm date."),
    refill_risk.OVERDUE: ("Overdue refills", "No refill is overdue."),
    refill_risk.MISSED: ("Missed appointments (time passed, no refill recorded)", "No appointment was missed."),
    BOOKED_LATE: (
        "Booked late (after the due, alarm or empty date)",
        "No other booking falls after its due date (late pumps are above, booked or not).",
    ),
    refill_risk.DUE_SOON: ("Due soon ({window}) and not booked", "Every refill due soon is booked."),
}
# The advice under a section's title; a late booking's advice is the same whichever date it falls after.
SECTION_ADVICE = {
    refill_risk.EMPTY: refill_risk.ADVICE[refill_risk.EMPTY],
    refill_risk.PAST_ALARM: refill_risk.ADVICE[refill_risk.PAST_ALARM],
    refill_risk.OVERDUE: refill_risk.ADVICE[refill_risk.OVERDUE],
    refill_risk.MISSED: refill_risk.ADVICE[refill_risk.MISSED],
    BOOKED_LATE: refill_risk.ADVICE[refill_risk.AFTER_DUE],
}
BATTERY_ORDER = (refill_risk.BATTERY_ERI, refill_risk.BATTERY_PAST_DUE, refill_risk.BATTERY_DUE_SOON)
WARNING_LABELS = {
    "residual_discrepancy": "Residual discrepancy",
    "pocket_fill": "Possible pocket fill",
}


@dataclass(frozen=True)
class Row:
    """One line of a section: its cells in words (dates already in the one format) and an optional link."""

    cells: tuple[str, ...]
    link: str | None = None


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    rows: tuple[Row, ...]
    empty: str  # shown instead of rows when there are none
    note: str = ""  # what to do, shown when the section has rows
    shows_count: bool = True  # the scheduler's rows are a report, not items: its title carries no count


@dataclass(frozen=True)
class Digest:
    """One recipient's e-mail before it is worded: the subject (counts only) and the sections in order."""

    day: date
    scope: str
    home_url: str
    subject: str
    sections: tuple[Section, ...]
    counts: dict[str, int]

    @property
    def nothing_due(self) -> bool:
        return not any(self.counts.values())


def _mrn(mrn: str) -> str:
    """ "MRN 12345", without doubling a prefix the clinic's numbers already carry."""
    return mrn if mrn.upper().startswith("MRN") else f"MRN {mrn}"


def _when(what: str, day: date, today: date) -> str:
    """ "due 09 Mar 2026 (3 days ago)", "alarm today, 12 Mar 2026", "empty 20 Mar 2026 (in 8 days)"."""
    delta = (day - today).days
    if delta < 0:
        return f"{what} {fmt_date(day)} ({plural(-delta, 'day')} ago)"
    if delta == 0:
        return f"{what} today, {fmt_date(day)}"
    return f"{what} {fmt_date(day)} (in {plural(delta, 'day')})"


def _stage(stage: str | None) -> str:
    return STAGE_LABELS.get(stage, stage) if stage else "Referral"


def _booking(item: RefillItem) -> str:
    """The model's verdict on the open booking, in its words, with the appointment's day."""
    words = refill_risk.LABELS[item.booking]
    return f"{words} ({fmt_date(item.booked_on)})" if item.booked_on else words


def _refill_row(item: RefillItem, today: date, status: bool = False) -> Row:
    cells = [_mrn(item.patient.mrn)] + ([refill_risk.LABELS[item.status]] if status else [])
    cells.append(_when("due", item.due_date, today))
    cells += [
        _when(what, day, today)
        for what, day in (("alarm", item.alarm_date), ("empty", item.empty_date))
        if day is not None
    ]
    return Row((*cells, item.location, _booking(item)), item.patient.url)


def _refill_sections(data: DigestInput) -> dict[str, Section]:
    grouped: dict[str, list[RefillItem]] = {key: [] for key in REFILL_SECTIONS}
    for item in data.refills:
        grouped[item.urgency].append(item)
    sections = {}
    for key, items in grouped.items():
        title, empty = REFILL_TITLES[key]
        rows = tuple(_refill_row(i, data.day) for i in sorted(items, key=lambda i: (i.due_date, i.patient.mrn)))
        sections[key] = Section(
            key,
            title.format(window=f"within {plural(data.due_soon_days, 'day')}"),
            rows,
            empty,
            SECTION_ADVICE.get(key, ""),
        )
    return sections


def _battery_row(item: BatteryItem, today: date, months: int) -> Row:
    if item.verdict == refill_risk.BATTERY_DUE_SOON:
        cells = [f"Battery replacement due within {months} months", _when("due", item.replacement_due, today)]
    elif item.verdict == refill_risk.BATTERY_ERI:
        stops = f", the pump stops within {plural(item.eri_to_stop_days, 'day')} of it" if item.eri_to_stop_days else ""
        cells = [
            refill_risk.LABELS[item.verdict],
            f"ERI recorded {fmt_date(item.eri_on)}{stops}",
            refill_risk.ADVICE[item.verdict],
        ]
    else:
        cells = [
            refill_risk.LABELS[item.verdict],
            _when("replacement due", item.replacement_due, today),
            refill_risk.ADVICE[item.verdict],
        ]
    return Row((_mrn(item.patient.mrn), *cells, item.location), item.patient.url)


def _work_row(item: WorkItem, today: date) -> Row:
    return Row(
        (
            _mrn(item.patient.mrn),
            pump_events.WORK_LABELS[item.work],
            _when("due", item.due_on, today),
            f"{pump_events.source_label(item.kind, item.about)} {fmt_date(item.occurred_on)}",
            item.location,
        ),
        item.patient.url,
    )


def _work_rows(items: Sequence[WorkItem], today: date) -> tuple[Row, ...]:
    return tuple(_work_row(w, today) for w in sorted(items, key=lambda w: (w.due_on, w.patient.mrn)))


def _physician_rows(data: DigestInput) -> tuple[Row, ...]:
    """Requests waiting for an answer first (oldest first), then every pump past its alarm date or empty, then
    every open catheter review."""
    rows = [
        Row((_mrn(r.patient.mrn), r.kind, f"asked by {r.asked_by} on {fmt_datetime(r.asked_at)}"), r.patient.url)
        for r in data.physician_requests
    ]
    pumps = sorted(
        data.physician_pumps, key=lambda i: (refill_risk.URGENCIES.index(i.urgency), i.due_date, i.patient.mrn)
    )
    return tuple(rows + [_refill_row(item, data.day, status=True) for item in pumps]) + _work_rows(
        data.physician_work, data.day
    )


def _scheduler_rows(health: SchedulerHealth | None) -> tuple[tuple[Row, ...], int]:
    """Rows describing the scheduler, and how many of them are problems."""
    if health is None:
        return (), 0
    last = fmt_date(health.last_completed_day) if health.last_completed_day else "none yet"
    rows = [Row((f"Scheduler: {health.state}",)), Row((f"Last completed digest before today: {last}",))]
    problems = 0
    if health.missed_days:
        problems += 1
        days = ", ".join(fmt_date(d) for d in health.missed_days)
        rows.append(Row((f"Days with no completed digest: {days}",)))
    if health.late_days:
        problems += 1
        days = ", ".join(fmt_date(d) for d in health.late_days)
        rows.append(Row((f"Days whose digest was sent late, after the day had ended: {days}",)))
    if health.unsent:
        problems += 1
        rows.append(Row((f"Messages of earlier days still unsent: {health.unsent}",)))
    return tuple(rows), problems


def _sections(data: DigestInput) -> tuple[list[Section], dict[str, int]]:
    today = data.day
    wanted = SECTIONS_BY_ROLE.get(data.role, ())
    scheduler_rows, scheduler_problems = _scheduler_rows(data.scheduler)
    every = {key: (section, None) for key, section in _refill_sections(data).items()} | {
        BATTERY: (
            Section(
                BATTERY,
                f"Pump batteries: ERI, replacement past due or due within {data.battery_months} months",
                tuple(
                    _battery_row(b, today, data.battery_months)
                    for b in sorted(
                        data.battery,
                        key=lambda b: (
                            BATTERY_ORDER.index(b.verdict),
                            b.eri_on or date.min,
                            b.replacement_due or date.min,
                            b.patient.mrn,
                        ),
                    )
                ),
                f"No battery needs replacing within {data.battery_months} months.",
            ),
            None,
        ),
        DEVICE_WORK: (
            Section(
                DEVICE_WORK,
                "Device events and advisories: pump checks, catheter reviews and advisory follow-ups open",
                _work_rows(data.device_work, today),
                "No post-MRI check, catheter review or advisory follow-up is open.",
                "Each stays until it is recorded done on the patient's page (an advisory follow-up: on the "
                "advisory's page).",
            ),
            None,
        ),
        WARNINGS: (
            Section(
                WARNINGS,
                "New refill warnings (residual discrepancy, pocket fill)",
                tuple(
                    Row(
                        (_mrn(w.patient.mrn), fmt_date(w.visit_date), WARNING_LABELS.get(w.code, w.code), w.message),
                        w.patient.url,
                    )
                    for w in sorted(data.warnings, key=lambda w: (w.visit_date, w.patient.mrn))
                ),
                "No new residual or pocket-fill warning.",
            ),
            None,
        ),
        STAGE_CHANGES: (
            Section(
                STAGE_CHANGES,
                "Stage changes since yesterday",
                tuple(
                    Row(
                        (
                            _mrn(s.patient.mrn),
                            f"{_stage(s.from_stage)} → {_stage(s.to_stage)}"
                            + (f" ({EXIT_REASONS[s.exit_reason][0]})" if s.exit_reason in EXIT_REASONS else ""),
                            f"effective {fmt_date(s.effective_date)}",
                        ),
                        s.patient.url,
                    )
                    for s in sorted(data.stage_changes, key=lambda s: (s.effective_date, s.patient.mrn))
                ),
                "No stage changed.",
            ),
            None,
        ),
        NEEDS_PHYSICIAN: (
            Section(
                NEEDS_PHYSICIAN,
                "Needs a physician",
                _physician_rows(data),
                "No request is waiting for a physician, no pump is past its alarm date and no catheter review is open.",
                "Requests waiting for a physician's answer, then every pump past its low-reservoir alarm date or "
                "projected empty, then every open catheter review, at every clinic.",
            ),
            None,
        ),
        DEAD_LETTERS: (
            Section(
                DEAD_LETTERS,
                "Undelivered digest e-mails (dead letters)",
                tuple(
                    Row((fmt_date(m.digest_day), m.to_address, f"{m.attempts} attempts", m.last_error))
                    for m in data.dead_letters
                ),
                "Every digest e-mail was delivered.",
            ),
            None,
        ),
        SCHEDULER: (
            Section(SCHEDULER, "Scheduler health", scheduler_rows, "No scheduler report.", shows_count=False),
            scheduler_problems,
        ),
    }
    sections, counts = [], {}
    for key in wanted:
        section, count = every[key]
        sections.append(section)
        counts[key] = len(section.rows) if count is None else count
    return sections, counts


def _subject(day: date, counts: dict[str, int]) -> str:
    parts = [f"{n} {SUBJECT_WORDS[key][0 if n == 1 else 1]}" for key, n in counts.items() if n]
    return f"ITB tracker {fmt_day_month(day)}: " + (", ".join(parts) if parts else "nothing due")


def build_digest(data: DigestInput) -> Digest | None:
    """One recipient's e-mail as sections; None when nothing is due and the clinic turned 'nothing due' e-mails
    off. templates/email/digest.txt and digest.html word it (tracker.digest_email renders them)."""
    sections, counts = _sections(data)
    if not any(counts.values()) and not data.nothing_due_email:
        return None
    return Digest(data.day, data.scope, data.home_url, _subject(data.day, counts), tuple(sections), counts)


def late_note(day: date, outage_since: datetime) -> str:
    """The first line of a digest delivered after failed attempts. `outage_since` is the first failure in clinic
    time; its date is named only when it is not the digest's own day. Built from stored values only, so a re-send
    of the same late message is the same message."""
    since = (
        f"{outage_since:%H:%M}"
        if outage_since.date() == day
        else f"{outage_since:%a} {fmt_day_month(outage_since)} {outage_since:%H:%M}"
    )
    return f"Sent late: this is the reminder for {day:%a} {fmt_day_month(day)}, delayed by a mail outage since {since}"
