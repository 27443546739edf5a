"""The daily reminder e-mail's content, built from plain data: no Flask, no database, no SMTP.

Minimum necessary (domain.md, privacy): a row identifies a patient by MRN and a link into the app, never by
name, birth date or diagnosis, and the subject carries counts only. The inputs cannot carry more: PatientRef
holds an MRN and a URL, nothing else."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from html import escape

from tracker.clinical.journey import EXIT_REASONS, STAGE_LABELS


@dataclass(frozen=True)
class PatientRef:
    mrn: str
    url: str


@dataclass(frozen=True)
class RefillItem:
    patient: PatientRef
    location: str
    due_date: date
    appointment_date: date | None = None


@dataclass(frozen=True)
class WarningItem:
    patient: PatientRef
    code: str  # residual_discrepancy | pocket_fill
    message: str
    visit_date: date


@dataclass(frozen=True)
class BatteryItem:
    patient: PatientRef
    replacement_due: date


@dataclass(frozen=True)
class StageChangeItem:
    patient: PatientRef
    from_stage: str | None
    to_stage: str
    effective_date: date
    exit_reason: str | None = None


@dataclass(frozen=True)
class SignOffItem:
    patient: PatientRef
    what: str
    recorded_on: date


@dataclass(frozen=True)
class DeadLetter:
    digest_day: date
    to_address: str
    attempts: int
    last_error: str


@dataclass(frozen=True)
class SchedulerHealth:
    state: str  # how the scheduler looked to the builder: running | off | cli
    last_completed_day: date | None
    missed_days: tuple[date, ...] = ()  # recent days with no completed digest
    unsent: int = 0  # messages of earlier days still waiting to be sent
    late_days: tuple[date, ...] = ()  # recent days whose digest was built only after the day had ended


OVERDUE = "overdue"
DUE_SOON = "due_soon_unbooked"
BOOKED_AFTER_DUE = "booked_after_due"
MISSED = "missed_appointment"
WARNINGS = "warnings"
BATTERY = "battery"
STAGE_CHANGES = "stage_changes"
SIGNOFFS = "signoffs"
DEAD_LETTERS = "dead_letters"
SCHEDULER = "scheduler"

CLINICAL_SECTIONS = (OVERDUE, DUE_SOON, BOOKED_AFTER_DUE, MISSED, WARNINGS, BATTERY, STAGE_CHANGES)
# Nurses see their own patients and coordinators their location(s): the same sections, a different scope.
SECTIONS_BY_ROLE: dict[str, tuple[str, ...]] = {
    "nurse": CLINICAL_SECTIONS,
    "coordinator": CLINICAL_SECTIONS,
    "physician": (SIGNOFFS,),
    "admin": (DEAD_LETTERS, SCHEDULER),
}

# Words for the subject line, singular and plural.
SUBJECT_WORDS = {
    OVERDUE: ("overdue", "overdue"),
    DUE_SOON: ("due soon unbooked", "due soon unbooked"),
    BOOKED_AFTER_DUE: ("booked after due", "booked after due"),
    MISSED: ("missed appointment", "missed appointments"),
    WARNINGS: ("refill warning", "refill warnings"),
    BATTERY: ("battery replacement", "battery replacements"),
    STAGE_CHANGES: ("stage change", "stage changes"),
    SIGNOFFS: ("sign-off", "sign-offs"),
    DEAD_LETTERS: ("undelivered e-mail", "undelivered e-mails"),
    SCHEDULER: ("scheduler problem", "scheduler problems"),
}
WARNING_LABELS = {
    "residual_discrepancy": "Residual discrepancy",
    "pocket_fill": "Possible pocket fill",
}


@dataclass
class DigestInput:
    """Everything one recipient's e-mail says, already scoped to that recipient."""

    day: date
    role: str
    scope: str  # "Your patients", "Kennesaw Clinic", "All locations"
    home_url: str
    overdue: Sequence[RefillItem] = ()
    due_soon_unbooked: Sequence[RefillItem] = ()
    booked_after_due: Sequence[RefillItem] = ()
    missed_appointments: Sequence[RefillItem] = ()
    warnings: Sequence[WarningItem] = ()
    battery: Sequence[BatteryItem] = ()
    stage_changes: Sequence[StageChangeItem] = ()
    signoffs: Sequence[SignOffItem] = ()
    signoff_note: str = ""  # why the list is empty when no queue exists
    dead_letters: Sequence[DeadLetter] = ()
    scheduler: SchedulerHealth | None = None
    due_soon_days: int = 7
    battery_months: int = 6
    nothing_due_email: bool = True


@dataclass(frozen=True)
class DigestContent:
    subject: str
    text: str
    html: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def nothing_due(self) -> bool:
        return not any(self.counts.values())


@dataclass(frozen=True)
class _Row:
    """One line of a section: plain-text cells and an optional link."""

    cells: tuple[str, ...]
    link: str | None = None


@dataclass(frozen=True)
class _Section:
    key: str
    title: str
    rows: tuple[_Row, ...]
    empty: str



def _mrn(mrn: str) -> str:
    """ "MRN 12345", without doubling a prefix the clinic's numbers already carry."""
    return mrn if mrn.upper().startswith("MRN") else f"MRN {mrn}"


@lru_cache(maxsize=4096)  # a digest repeats a few hundred dates thousands of times
def _d(day: date) -> str:
    return day.strftime("%d %b %Y")


def _days(n: int) -> str:
    return f"{n} day{'' if n == 1 else 's'}"


def _when_due(due: date, today: date) -> str:
    delta = (due - today).days
    if delta < 0:
        return f"due {_d(due)} ({_days(-delta)} ago)"
    if delta == 0:
        return f"due today, {_d(due)}"
    return f"due {_d(due)} (in {_days(delta)})"


def _stage(stage: str | None) -> str:
    return STAGE_LABELS.get(stage, stage) if stage else "Referral"


def _refill_rows(items: Sequence[RefillItem], today: date, booked: bool) -> tuple[_Row, ...]:
    rows = []
    for item in sorted(items, key=lambda i: (i.due_date, i.patient.mrn)):
        cells = [_mrn(item.patient.mrn), _when_due(item.due_date, today), item.location]
        if booked and item.appointment_date:
            cells.append(f"booked {_d(item.appointment_date)}")
        rows.append(_Row(tuple(cells), item.patient.url))
    return tuple(rows)


def _scheduler_rows(health: SchedulerHealth | None) -> tuple[tuple[_Row, ...], int]:
    """Rows describing the scheduler, and how many of them are problems."""
    if health is None:
        return (), 0
    last = _d(health.last_completed_day) if health.last_completed_day else "none yet"
    rows = [_Row((f"Scheduler: {health.state}",)), _Row((f"Last completed digest before today: {last}",))]
    problems = 0
    if health.missed_days:
        problems += 1
        days = ", ".join(_d(d) for d in health.missed_days)
        rows.append(_Row((f"Days with no completed digest: {days}",)))
    if health.late_days:
        problems += 1
        days = ", ".join(_d(d) for d in health.late_days)
        rows.append(_Row((f"Days whose digest was sent late, after the day had ended: {days}",)))
    if health.unsent:
        problems += 1
        rows.append(_Row((f"Messages of earlier days still unsent: {health.unsent}",)))
    return tuple(rows), problems


def _sections(data: DigestInput) -> tuple[list[_Section], dict[str, int]]:
    today = data.day
    wanted = SECTIONS_BY_ROLE.get(data.role, ())
    scheduler_rows, scheduler_problems = _scheduler_rows(data.scheduler)
    every = {
        OVERDUE: (_Section(OVERDUE, "Overdue refills", _refill_rows(data.overdue, today, booked=True),
                           "No refill is overdue."), None),
        DUE_SOON: (_Section(DUE_SOON, f"Due within {_days(data.due_soon_days)} and not booked",
                            _refill_rows(data.due_soon_unbooked, today, booked=False),
                            "Every refill due soon is booked."), None),
        BOOKED_AFTER_DUE: (_Section(BOOKED_AFTER_DUE, "Booked after the due date",
                                    _refill_rows(data.booked_after_due, today, booked=True),
                                    "No booking falls after its due date."), None),
        MISSED: (_Section(MISSED, "Missed appointments (time passed, no refill recorded)",
                          _refill_rows(data.missed_appointments, today, booked=True),
                          "No appointment was missed."), None),
        WARNINGS: (_Section(WARNINGS, "New refill warnings (residual discrepancy, pocket fill)", tuple(
            _Row((_mrn(w.patient.mrn), _d(w.visit_date), WARNING_LABELS.get(w.code, w.code), w.message),
                 w.patient.url)
            for w in sorted(data.warnings, key=lambda w: (w.visit_date, w.patient.mrn))),
            "No new residual or pocket-fill warning."), None),
        BATTERY: (_Section(BATTERY, f"Battery replacement within {data.battery_months} months", tuple(
            _Row((_mrn(b.patient.mrn), f"replacement due {_d(b.replacement_due)}"), b.patient.url)
            for b in sorted(data.battery, key=lambda b: (b.replacement_due, b.patient.mrn))),
            "No battery replacement falls due."), None),
        STAGE_CHANGES: (_Section(STAGE_CHANGES, "Stage changes since yesterday", tuple(
            _Row((_mrn(s.patient.mrn), f"{_stage(s.from_stage)} → {_stage(s.to_stage)}"
                  + (f" ({EXIT_REASONS[s.exit_reason][0]})" if s.exit_reason in EXIT_REASONS else ""),
                  f"effective {_d(s.effective_date)}"), s.patient.url)
            for s in sorted(data.stage_changes, key=lambda s: (s.effective_date, s.patient.mrn))),
            "No stage changed."), None),
        SIGNOFFS: (_Section(SIGNOFFS, "Waiting for your sign-off", tuple(
            _Row((_mrn(s.patient.mrn), s.what, f"recorded {_d(s.recorded_on)}"), s.patient.url)
            for s in data.signoffs), data.signoff_note or "No sign-offs are waiting for you."), None),
        DEAD_LETTERS: (_Section(DEAD_LETTERS, "Undelivered digest e-mails (dead letters)", tuple(
            _Row((_d(m.digest_day), m.to_address, f"{m.attempts} attempts", m.last_error))
            for m in data.dead_letters), "Every digest e-mail was delivered."), None),
        SCHEDULER: (_Section(SCHEDULER, "Scheduler health", scheduler_rows, "No scheduler report."),
                    scheduler_problems),
    }
    sections, counts = [], {}
    for key in wanted:
        section, count = every[key]
        sections.append(section)
        counts[key] = len(section.rows) if count is None else count
    return sections, counts


def _subject(day: date, counts: dict[str, int]) -> str:
    parts = [f"{n} {SUBJECT_WORDS[key][0 if n == 1 else 1]}" for key, n in counts.items() if n]
    return f"ITB tracker {day:%d %b}: " + (", ".join(parts) if parts else "nothing due")


def _text(data: DigestInput, sections: list[_Section], nothing: bool) -> str:
    lines = [f"ITB tracker: daily digest for {data.day:%A %d %B %Y}", data.scope, ""]
    if nothing:
        lines += ["Nothing is due for you today.", ""]
    for section in sections:
        lines.append(f"{section.title.upper()} ({len(section.rows)})" if section.key != SCHEDULER
                     else section.title.upper())
        if not section.rows:
            lines.append(f"  {section.empty}")
        for row in section.rows:
            lines.append("- " + " · ".join(row.cells) + (f"\n  {row.link}" if row.link else ""))
        lines.append("")
    lines += ["--", f"Open the tracker: {data.home_url}",
              "Patients are shown by MRN only; follow the link to see the record.",
              "You receive this e-mail every morning, even when nothing is due: if it stops arriving, tell an admin."]
    return "\n".join(lines) + "\n"


def _html(data: DigestInput, sections: list[_Section], nothing: bool) -> str:
    out = ["<!doctype html><html><body style=\"font-family:sans-serif\">",
           f"<h1 style=\"font-size:1.2em\">Daily digest for {escape(f'{data.day:%A %d %B %Y}')}</h1>",
           f"<p>{escape(data.scope)}</p>"]
    if nothing:
        out.append("<p><strong>Nothing is due for you today.</strong></p>")
    for section in sections:
        count = "" if section.key == SCHEDULER else f" ({len(section.rows)})"
        out.append(f"<h2 style=\"font-size:1em\">{escape(section.title)}{count}</h2>")
        if not section.rows:
            out.append(f"<p>{escape(section.empty)}</p>")
            continue
        out.append("<ul>")
        for row in section.rows:
            text = escape(" · ".join(row.cells))  # the separator has nothing to escape: one call per row
            link = f" <a href=\"{escape(row.link)}\">open</a>" if row.link else ""
            out.append(f"<li>{text}{link}</li>")
        out.append("</ul>")
    out.append(f"<hr><p><a href=\"{escape(data.home_url)}\">Open the tracker</a>. Patients are shown by MRN only. "
               "You receive this e-mail every morning, even when nothing is due: if it stops arriving, tell an "
               "admin.</p></body></html>")
    return "\n".join(out) + "\n"


def build_digest(data: DigestInput) -> DigestContent | None:
    """One recipient's e-mail; None when nothing is due and the clinic turned 'nothing due' e-mails off."""
    sections, counts = _sections(data)
    nothing = not any(counts.values())
    if nothing and not data.nothing_due_email:
        return None
    return DigestContent(_subject(data.day, counts), _text(data, sections, nothing), _html(data, sections, nothing),
                         counts)
