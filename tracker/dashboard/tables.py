"""The dashboard's tables as rows for CSV: the same figures the page shows, no patient names."""

from __future__ import annotations

from tracker.clinical import quality
from tracker.clinical.exact import percent
from tracker.clinical.journey import STAGE_LABELS
from tracker.services.quality import Dashboard


def _share_rows(first: str, shares: list[quality.Share]) -> list[list]:
    return [[first, "on_time", "late", "judged", "percent_on_time"]] + [
        [s.label, s.on_time, s.late, s.judged, s.percent] for s in shares
    ]


def summary(d: Dashboard) -> list[list]:
    c = d.conversion
    rows = [
        ["figure", "value", "out_of"],
        ["refills on or before the due date (%)", d.overall.percent, d.overall.judged],
        ["refills with no earlier fill to compare (not judged)", len(d.refills) - d.overall.judged, len(d.refills)],
        ["refills whose due date was recomputed (recorded before it was stored)", d.recomputed, len(d.refills)],
        ["late pumps: overdue, past the alarm date or projected empty (today)", d.late_total.pumps, ""],
        ["late pumps, booked (every booking of a late pump is late) (today)", d.late_total.booked, ""],
    ]
    rows += [[f"{r.label.lower()} per 100 refills", r.per_100, r.refills] for r in d.rates]
    rows += [
        ["trial to implant conversion (%)", c.percent, c.cohort],
        [f"battery replacements due within {d.battery_months} months (today)", len(d.batteries), ""],
    ]
    return rows


def on_time_by_month(d: Dashboard) -> list[list]:
    return _share_rows("month", d.by_month)


def on_time_by_location(d: Dashboard) -> list[list]:
    return _share_rows("location", d.by_location)


def days_late(d: Dashboard) -> list[list]:
    return [["days_late", "late_refills_in_range", "open_overdue_today"]] + [
        [b.label, b.late_refills, b.open_overdue] for b in d.buckets
    ]


def late_now(d: Dashboard) -> list[list]:
    return [["status", "pumps", "booked_late", "not_booked"]] + [
        [r.label, r.pumps, r.booked, r.not_booked] for r in d.late
    ]


def warnings(d: Dashboard) -> list[list]:
    return [["warning", "refills_with_warning", "refills", "per_100_refills"]] + [
        [r.label, r.visits, r.refills, r.per_100] for r in d.rates
    ]


def stages(d: Dashboard) -> list[list]:
    return [["stage", "active_patients", "median_days_in_stage"]] + [
        [STAGE_LABELS[s.stage], s.patients, s.median_days] for s in d.stages
    ]


def conversion(d: Dashboard) -> list[list]:
    c = d.conversion
    return (
        [["outcome", "patients", "percent_of_cohort"]]
        + [[label, c.by_outcome[key], c.share(key)] for key, label in quality.TRIAL_OUTCOMES.items()]
        + [["Entered trial in the range (cohort)", c.cohort, percent(c.cohort, c.cohort)]]
    )


def batteries(d: Dashboard) -> list[list]:
    return [["month", "pumps_due"]] + [[label, n] for _, label, n in d.batteries_by_month]


TABLES = {
    "summary": ("Summary", summary),
    "on_time_by_month": ("On time by month", on_time_by_month),
    "on_time_by_location": ("On time by location", on_time_by_location),
    "days_late": ("Days late", days_late),
    "late_now": ("Late pumps now", late_now),
    "warnings": ("Warnings per 100 refills", warnings),
    "stages": ("Patients per stage", stages),
    "conversion": ("Trial to implant", conversion),
    "batteries": ("Battery replacements due", batteries),
}
