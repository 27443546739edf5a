"""The programme's quality figures, computed from plain facts: on-time refills, lateness, warning rates,
time in stage, trial-to-implant conversion, batteries coming due.

Pure: no Flask, no database. services/quality.py gathers the facts; the page, its CSV tables and its
drill-down lists all call these functions, so a figure and the patients behind it can never disagree.
How late a pump is now, and how its battery stands, are the refill-risk model's verdicts (refill_risk), carried
in the facts: nothing here decides them again. Percentages and rates are exact (Fraction) and rounded once, half
up, for display.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from tracker.clinical import refill, refill_risk
from tracker.clinical.exact import median, percent
from tracker.clinical.journey import STAGES

RESIDUAL = "residual_discrepancy"
POCKET_FILL = "pocket_fill"
WARNING_LABELS = {RESIDUAL: "Residual discrepancy", POCKET_FILL: "Pocket fill suspected"}
RECOMPUTED = "recomputed"  # drill-down: refills whose due date was projected again, not read from the visit

# Days late, bucketed: (label, first day, last day or None for "and more").
LATE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1–3 days", 1, 3),
    ("4–7 days", 4, 7),
    ("8–14 days", 8, 14),
    ("15+ days", 15, None),
)


# ---- facts (one row each, gathered by services/quality.py) ----


@dataclass(frozen=True)
class RefillFact:
    """A refill visit (never the fill at implantation) and the due date in force just before it."""

    visit_id: int
    patient_id: int
    location_id: int
    visit_date: date  # clinic-local
    due_date: date | None  # None: no earlier fill of this pump to project from (not judged)
    warning_codes: frozenset[str] = frozenset()
    due_recomputed: bool = False  # recorded before the due date was stored with each refill: projected again

    @property
    def days_late(self) -> int | None:
        """Days after the due date (0 or less: on time); None when there is no due date to compare."""
        return None if self.due_date is None else (self.visit_date - self.due_date).days

    @property
    def on_time(self) -> bool:
        return self.due_date is not None and self.visit_date <= self.due_date


# The late statuses, most severe first.
LATE_STATUSES = tuple(s for s in refill_risk.STATUSES if s in refill_risk.LATE)


@dataclass(frozen=True)
class OverdueFact:
    """A pump on the refill list that the refill-risk model judges late today (empty, past alarm or overdue)."""

    patient_id: int
    location_id: int
    due_date: date
    status: str  # refill_risk status, one of LATE_STATUSES
    booking: str  # refill_risk booking verdict: not_booked, missed, or after_due / after_alarm / after_empty

    @property
    def booked(self) -> bool:
        """Booked for a day still to come: the model says how late (any booking of a late pump is late)."""
        return self.booking in refill_risk.BOOKED_LATE

    def days_overdue(self, today: date) -> int:
        return (today - self.due_date).days


@dataclass(frozen=True)
class StageFact:
    """An active patient's current stage and since when."""

    patient_id: int
    location_id: int
    stage: str
    stage_since: date


@dataclass(frozen=True)
class TrialFact:
    """A patient who entered the trial stage in the range, and what followed that entry."""

    patient_id: int
    location_id: int
    trial_started: date
    outcome: str  # IMPLANTED | BACK_TO_EVALUATION | EXITED | IN_TRIAL
    outcome_date: date | None = None


IMPLANTED, BACK_TO_EVALUATION, EXITED_FROM_TRIAL, IN_TRIAL = "implanted", "back_to_evaluation", "exited", "in_trial"
TRIAL_OUTCOMES = {
    IMPLANTED: "Implanted",
    BACK_TO_EVALUATION: "Back to evaluation",
    EXITED_FROM_TRIAL: "Left the programme (trial failed, declined, other exit)",
    IN_TRIAL: "Still in trial",
}


@dataclass(frozen=True)
class BatteryFact:
    """A pump in use (patient still on the refill list) with its battery replacement date and the model's verdict
    (refill_risk.battery_verdict) on it."""

    patient_id: int
    location_id: int
    due: date | None  # None: only an ERI date says the battery is ending
    verdict: str


# ---- months ----


def month_key(day: date) -> str:
    return f"{day:%Y-%m}"


def months_between(start: date, end: date) -> list[str]:
    """Every month from start's to end's, as YYYY-MM keys."""
    keys, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        keys.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return keys


def month_label(key: str) -> str:
    return f"{date.fromisoformat(key + '-01'):%b %Y}"


# ---- the due date in force before a refill ----


def due_before_refill(previous_fill: refill.RefillInputs) -> date:
    """The due date the worklist showed before a refill: the projection from the previous fill, with the dose
    ledger as it stood before the refill (the stored schedule is rewritten at every refill)."""
    return refill.project_refill(previous_fill).due_date


# ---- figures ----


@dataclass(frozen=True)
class Share:
    """On-time refills in one group (a month, a location, or all)."""

    key: str
    label: str
    on_time: int
    judged: int  # refills with a due date to compare with

    @property
    def late(self) -> int:
        return self.judged - self.on_time

    @property
    def percent(self) -> Decimal | None:
        return percent(self.on_time, self.judged)


def judged(facts: Iterable[RefillFact]) -> list[RefillFact]:
    """Refills that can be judged on time or late (an earlier fill gives the due date)."""
    return [f for f in facts if f.due_date is not None]


def on_time_share(facts: Sequence[RefillFact], key: str = "all", label: str = "All refills") -> Share:
    rows = judged(facts)
    return Share(key, label, sum(f.on_time for f in rows), len(rows))


def on_time_by_month(facts: Sequence[RefillFact], start: date, end: date) -> list[Share]:
    """One row per month of the range (month of the visit), empty months included."""
    by_month: dict[str, list[RefillFact]] = {}
    for fact in facts:
        by_month.setdefault(month_key(fact.visit_date), []).append(fact)
    return [on_time_share(by_month.get(key, []), key, month_label(key)) for key in months_between(start, end)]


def on_time_by_location(facts: Sequence[RefillFact], locations: Sequence[tuple[int, str]]) -> list[Share]:
    """One row per location (the patient's), in the order given; locations with no refills are left out."""
    by_location: dict[int, list[RefillFact]] = {}
    for fact in facts:
        by_location.setdefault(fact.location_id, []).append(fact)
    return [on_time_share(by_location[i], str(i), name) for i, name in locations if i in by_location]


@dataclass(frozen=True)
class Bucket:
    key: str  # "1-3", "15+"
    label: str
    late_refills: int  # done in the range, this many days late
    open_overdue: int  # overdue now by this many days, no refill yet


def bucket_of(days: int) -> str | None:
    """The bucket key for `days` late; None when on time."""
    for _, first, last in LATE_BUCKETS:
        if days >= first and (last is None or days <= last):
            return f"{first}-{last}" if last is not None else f"{first}+"
    return None


def late_buckets(facts: Sequence[RefillFact], overdue: Sequence[OverdueFact], today: date) -> list[Bucket]:
    late = [bucket_of(f.days_late) for f in judged(facts) if not f.on_time]
    still = [bucket_of(o.days_overdue(today)) for o in overdue]
    out = []
    for label, first, last in LATE_BUCKETS:
        key = f"{first}-{last}" if last is not None else f"{first}+"
        out.append(Bucket(key, label, late.count(key), still.count(key)))
    return out


@dataclass(frozen=True)
class LateRow:
    """Pumps late today with one status ("" for every late pump), and how many of them are booked (late)."""

    status: str
    label: str
    pumps: int
    booked: int

    @property
    def not_booked(self) -> int:
        return self.pumps - self.booked


def late_rows(overdue: Sequence[OverdueFact]) -> list[LateRow]:
    """One row per late status, most severe first, then the total; labels are the model's."""

    def row(status: str, label: str, facts: list[OverdueFact]) -> LateRow:
        return LateRow(status, label, len(facts), sum(o.booked for o in facts))

    return [row(s, refill_risk.LABELS[s], [o for o in overdue if o.status == s]) for s in LATE_STATUSES] + [
        row("", "Every late pump", list(overdue))
    ]


@dataclass(frozen=True)
class Rate:
    code: str
    label: str
    visits: int  # refills showing this warning
    refills: int

    @property
    def per_100(self) -> Decimal | None:
        return percent(self.visits, self.refills)


def warning_rates(facts: Sequence[RefillFact]) -> list[Rate]:
    """Refill visits whose preview showed each warning, per 100 refills (all refills in the range count)."""
    return [
        Rate(code, label, sum(code in f.warning_codes for f in facts), len(facts))
        for code, label in WARNING_LABELS.items()
    ]


@dataclass(frozen=True)
class StageRow:
    stage: str
    patients: int
    median_days: Decimal | None


def stage_rows(facts: Sequence[StageFact], today: date) -> list[StageRow]:
    """Active patients per stage and the median whole days since they entered it."""
    return [
        StageRow(stage, len(days := [(today - f.stage_since).days for f in facts if f.stage == stage]), median(days))
        for stage in STAGES
    ]


@dataclass(frozen=True)
class Conversion:
    cohort: int
    by_outcome: dict[str, int]

    @property
    def implanted(self) -> int:
        return self.by_outcome.get(IMPLANTED, 0)

    @property
    def percent(self) -> Decimal | None:
        return percent(self.implanted, self.cohort)

    def share(self, outcome: str) -> Decimal | None:
        """Percent of the cohort with this outcome."""
        return percent(self.by_outcome.get(outcome, 0), self.cohort)

    @property
    def decided(self) -> int:
        """Trials with an outcome (everyone not still in trial)."""
        return self.cohort - self.by_outcome.get(IN_TRIAL, 0)

    @property
    def percent_of_decided(self) -> Decimal | None:
        return percent(self.implanted, self.decided)


def conversion(trials: Sequence[TrialFact]) -> Conversion:
    return Conversion(len(trials), {o: sum(t.outcome == o for t in trials) for o in TRIAL_OUTCOMES})


def trial_outcome(trial_started: date, later_events: Sequence[tuple[date, str | None, str]]) -> tuple[str, date | None]:
    """What followed a trial entry: the first later move out of trial, given (date, from_stage, to_stage)
    events after the entry in journey order."""
    for when, from_stage, to_stage in later_events:
        if when < trial_started or from_stage != "trial":
            continue
        if to_stage == "implantation":
            return IMPLANTED, when
        if to_stage == "evaluation":
            return BACK_TO_EVALUATION, when
        return EXITED_FROM_TRIAL, when
    return IN_TRIAL, None


BATTERY_COMING = (
    refill_risk.BATTERY_ERI,
    refill_risk.BATTERY_PAST_DUE,
    refill_risk.BATTERY_DUE_SOON,
)  # most urgent first


def battery_due(facts: Sequence[BatteryFact]) -> list[BatteryFact]:
    """Pumps whose battery the model says is at ERI, past due or due within the warning window, most urgent first,
    then soonest."""
    return sorted(
        (f for f in facts if f.verdict in BATTERY_COMING),
        key=lambda f: (BATTERY_COMING.index(f.verdict), f.due or date.max, f.patient_id),
    )


def battery_row(fact: BatteryFact) -> str:
    """The battery table row a pump counts in: its verdict when at ERI or past due, else its due month."""
    return fact.verdict if fact.verdict != refill_risk.BATTERY_DUE_SOON else month_key(fact.due)


def battery_rows(facts: Sequence[BatteryFact], today: date, months: int) -> list[tuple[str, str, int]]:
    """(row key, label, pumps): ERI and past due when there are any, then every month to the warning horizon."""
    keys = [battery_row(f) for f in facts]
    urgent = [(v, refill_risk.LABELS[v], keys.count(v)) for v in BATTERY_COMING[:2] if v in keys]
    months_ahead = months_between(today, refill_risk.battery_horizon(today, months))
    return urgent + [(key, month_label(key), keys.count(key)) for key in months_ahead]


# ---- drill-down: the facts behind each figure ----


def refills_behind(
    facts: Sequence[RefillFact], outcome: str = "", month: str = "", bucket: str = "", warning: str = "", due: str = ""
) -> list[RefillFact]:
    """The refills counted in one cell: outcome on_time | late | judged (blank: every refill), a month
    (YYYY-MM), a lateness bucket ("8-14"), a warning code, due "recomputed" (a due date not stored)."""
    rows = list(facts)
    if month:
        rows = [f for f in rows if month_key(f.visit_date) == month]
    if outcome == "on_time":
        rows = [f for f in rows if f.on_time]
    elif outcome == "late" or bucket:
        rows = [f for f in rows if f.due_date is not None and not f.on_time]
    elif outcome == "judged":
        rows = judged(rows)
    if bucket:
        rows = [f for f in rows if bucket_of(f.days_late) == bucket]
    if warning:
        rows = [f for f in rows if warning in f.warning_codes]
    if due == RECOMPUTED:
        rows = [f for f in rows if f.due_recomputed]
    return rows


def overdue_behind(
    overdue: Sequence[OverdueFact], today: date, booked: str = "", bucket: str = "", status: str = ""
) -> list[OverdueFact]:
    """Pumps late now: booked "yes" / "no" (blank: both), optionally one lateness bucket and one late status."""
    rows = [o for o in overdue if (not booked or o.booked == (booked == "yes")) and (not status or o.status == status)]
    if bucket:
        rows = [o for o in rows if bucket_of(o.days_overdue(today)) == bucket]
    return rows
