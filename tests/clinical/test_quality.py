"""The quality dashboard's figures, computed from a hand-built set of facts whose answers are known."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tracker.clinical import quality as q
from tracker.clinical import refill as engine
from tracker.clinical import refill_risk as risk
from tracker.clinical.exact import percent

TODAY = date(2025, 6, 10)
KENNESAW, SNELLVILLE = 1, 2
LOCATIONS = [(KENNESAW, "Kennesaw Clinic"), (SNELLVILLE, "Snellville Clinic")]


def refill(visit_id, location, visit, due, *codes, patient=None):
    return q.RefillFact(visit_id, patient or visit_id, location, visit, due, frozenset(codes))


# Eight refills: March 3 of 4 on time, April 2 of 4; Kennesaw 3 of 4, Snellville 2 of 4;
# late by 10 (8-14), 1 (1-3) and 20 (15+) days; two residual-discrepancy warnings and one pocket fill.
REFILLS = [
    refill(1, KENNESAW, date(2025, 3, 2), date(2025, 3, 2)),
    refill(2, KENNESAW, date(2025, 3, 4), date(2025, 3, 7)),
    refill(3, SNELLVILLE, date(2025, 3, 6), date(2025, 3, 6), q.RESIDUAL),
    refill(4, SNELLVILLE, date(2025, 3, 17), date(2025, 3, 7), q.RESIDUAL),
    refill(5, KENNESAW, date(2025, 4, 3), date(2025, 4, 2), q.POCKET_FILL),
    refill(6, KENNESAW, date(2025, 4, 4), date(2025, 4, 4)),
    refill(7, SNELLVILLE, date(2025, 4, 25), date(2025, 4, 5)),
    refill(8, SNELLVILLE, date(2025, 4, 6), date(2025, 4, 30)),
]


def test_on_time_means_on_or_before_the_due_date():
    assert REFILLS[0].on_time and REFILLS[0].days_late == 0
    assert REFILLS[1].on_time and REFILLS[1].days_late == -3
    assert not REFILLS[3].on_time and REFILLS[3].days_late == 10


def test_five_of_eight_refills_on_time_is_62_5_percent():
    share = q.on_time_share(REFILLS)
    assert (share.on_time, share.late, share.judged, share.percent) == (5, 3, 8, Decimal("62.5"))


def test_on_time_by_month_counts_the_month_of_the_visit_and_keeps_empty_months():
    rows = q.on_time_by_month(REFILLS, date(2025, 2, 15), date(2025, 5, 1))
    assert [(r.key, r.label, r.on_time, r.judged, r.percent) for r in rows] == [
        ("2025-02", "Feb 2025", 0, 0, None),
        ("2025-03", "Mar 2025", 3, 4, Decimal("75.0")),
        ("2025-04", "Apr 2025", 2, 4, Decimal("50.0")),
        ("2025-05", "May 2025", 0, 0, None),
    ]


def test_on_time_by_location_uses_the_patients_location():
    rows = q.on_time_by_location(REFILLS, LOCATIONS + [(3, "Buckhead Clinic")])
    assert [(r.label, r.on_time, r.judged, r.percent) for r in rows] == [
        ("Kennesaw Clinic", 3, 4, Decimal("75.0")),
        ("Snellville Clinic", 2, 4, Decimal("50.0")),
    ]


def test_late_refills_and_open_overdue_fall_into_day_buckets():
    overdue = [
        q.OverdueFact(20, KENNESAW, TODAY - timedelta(days=days), status, booking)
        for days, status, booking in (
            (2, risk.OVERDUE, risk.NOT_BOOKED),
            (5, risk.OVERDUE, risk.NOT_BOOKED),
            (14, risk.PAST_ALARM, risk.AFTER_ALARM),
            (15, risk.PAST_ALARM, risk.MISSED),
            (40, risk.EMPTY, risk.NOT_BOOKED),
        )
    ]
    buckets = q.late_buckets(REFILLS, overdue, TODAY)
    assert [(b.key, b.label, b.late_refills, b.open_overdue) for b in buckets] == [
        ("1-3", "1–3 days", 1, 1),
        ("4-7", "4–7 days", 0, 1),
        ("8-14", "8–14 days", 1, 1),
        ("15+", "15+ days", 1, 2),
    ]


@pytest.mark.parametrize(
    "days, bucket",
    [
        (-2, None),
        (0, None),
        (1, "1-3"),
        (3, "1-3"),
        (4, "4-7"),
        (7, "4-7"),
        (8, "8-14"),
        (14, "8-14"),
        (15, "15+"),
        (400, "15+"),
    ],
)
def test_bucket_edges(days, bucket):
    assert q.bucket_of(days) == bucket


def test_two_residual_warnings_in_eight_refills_is_25_per_100():
    rates = {r.code: r for r in q.warning_rates(REFILLS)}
    assert (rates[q.RESIDUAL].visits, rates[q.RESIDUAL].refills, rates[q.RESIDUAL].per_100) == (2, 8, Decimal("25.0"))
    assert rates[q.POCKET_FILL].per_100 == Decimal("12.5")
    assert q.warning_rates([])[0].per_100 is None


def test_a_refill_without_an_earlier_fill_is_not_judged_but_counts_for_warning_rates():
    facts = REFILLS + [refill(9, KENNESAW, date(2025, 4, 9), None, q.RESIDUAL)]
    assert facts[-1].days_late is None and not facts[-1].on_time
    assert q.on_time_share(facts).judged == 8
    assert {r.code: r.per_100 for r in q.warning_rates(facts)}[q.RESIDUAL] == Decimal("33.3")
    assert q.refills_behind(facts, "late") == [REFILLS[3], REFILLS[4], REFILLS[6]]


def test_every_count_opens_exactly_the_refills_behind_it():
    for share in q.on_time_by_month(REFILLS, date(2025, 3, 1), date(2025, 4, 30)):
        assert len(q.refills_behind(REFILLS, "on_time", share.key)) == share.on_time
        assert len(q.refills_behind(REFILLS, "late", share.key)) == share.late
        assert len(q.refills_behind(REFILLS, "judged", share.key)) == share.judged
    for bucket in q.late_buckets(REFILLS, [], TODAY):
        assert len(q.refills_behind(REFILLS, bucket=bucket.key)) == bucket.late_refills
    assert [f.visit_id for f in q.refills_behind(REFILLS, bucket="8-14")] == [4]
    assert [f.visit_id for f in q.refills_behind(REFILLS, warning=q.RESIDUAL)] == [3, 4]
    assert [f.visit_id for f in q.refills_behind(REFILLS, "late", "2025-04", warning=q.POCKET_FILL)] == [5]


def test_refills_whose_due_date_was_recomputed_can_be_listed_and_count_like_the_others():
    legacy = q.RefillFact(9, 9, KENNESAW, date(2025, 4, 8), date(2025, 4, 7), due_recomputed=True)
    facts = REFILLS + [legacy]
    assert q.refills_behind(facts, due=q.RECOMPUTED) == [legacy]
    assert q.refills_behind(facts, "late", "2025-04", due=q.RECOMPUTED) == [legacy]
    assert q.on_time_share(facts).judged == 9


LATE_NOW = [
    q.OverdueFact(1, KENNESAW, TODAY - timedelta(days=3), risk.OVERDUE, risk.NOT_BOOKED),
    q.OverdueFact(2, KENNESAW, TODAY - timedelta(days=20), risk.EMPTY, risk.AFTER_EMPTY),
    q.OverdueFact(3, SNELLVILLE, TODAY - timedelta(days=9), risk.PAST_ALARM, risk.AFTER_ALARM),
    q.OverdueFact(4, SNELLVILLE, TODAY - timedelta(days=8), risk.PAST_ALARM, risk.MISSED),
    q.OverdueFact(5, SNELLVILLE, TODAY - timedelta(days=2), risk.OVERDUE, risk.AFTER_DUE),
]


def test_late_pumps_are_counted_by_the_models_status_and_booking_verdict():
    rows = q.late_rows(LATE_NOW)
    assert [(r.status, r.label, r.pumps, r.booked, r.not_booked) for r in rows] == [
        (risk.EMPTY, risk.LABELS[risk.EMPTY], 1, 1, 0),
        (risk.PAST_ALARM, risk.LABELS[risk.PAST_ALARM], 2, 1, 1),  # a missed booking is not a booking ahead
        (risk.OVERDUE, risk.LABELS[risk.OVERDUE], 2, 1, 1),
        ("", "Every late pump", 5, 3, 2),
    ]


def test_a_late_pump_booked_past_its_alarm_date_counts_as_booked_and_late():
    booked_past_alarm = LATE_NOW[2]
    assert booked_past_alarm.booked
    assert booked_past_alarm in q.overdue_behind(LATE_NOW, TODAY, booked="yes", status=risk.PAST_ALARM)
    assert booked_past_alarm not in q.overdue_behind(LATE_NOW, TODAY, booked="no")


def test_late_pumps_drill_down_by_booking_bucket_and_status():
    def ids(**args):
        return [o.patient_id for o in q.overdue_behind(LATE_NOW, TODAY, **args)]

    assert ids(booked="no") == [1, 4]
    assert ids(booked="yes") == [2, 3, 5]
    assert ids(bucket="15+") == [2]
    assert ids(status=risk.PAST_ALARM) == [3, 4]
    assert ids(status=risk.OVERDUE, booked="yes", bucket="1-3") == [5]


def test_patients_per_stage_and_the_median_days_in_stage():
    facts = [
        q.StageFact(i, KENNESAW, stage, TODAY - timedelta(days=days))
        for i, (stage, days) in enumerate(
            [
                ("evaluation", 10),
                ("evaluation", 30),
                ("evaluation", 20),
                ("trial", 5),
                ("trial", 8),
                ("adjustment", 100),
            ]
        )
    ]
    rows = q.stage_rows(facts, TODAY)
    assert [(r.stage, r.patients, r.median_days) for r in rows] == [
        ("evaluation", 3, Decimal(20)),
        ("trial", 2, Decimal("6.5")),
        ("implantation", 0, None),
        ("adjustment", 1, Decimal(100)),
    ]


def test_trial_to_implant_conversion_counts_everyone_who_entered_trial():
    start = date(2025, 1, 10)
    trials = [
        q.TrialFact(1, KENNESAW, start, q.IMPLANTED),
        q.TrialFact(2, KENNESAW, start, q.IMPLANTED),
        q.TrialFact(3, KENNESAW, start, q.EXITED_FROM_TRIAL),
        q.TrialFact(4, KENNESAW, start, q.IN_TRIAL),
    ]
    c = q.conversion(trials)
    assert (c.cohort, c.implanted, c.percent, c.decided, c.percent_of_decided) == (
        4,
        2,
        Decimal("50.0"),
        3,
        Decimal("66.7"),
    )
    assert c.share(q.IN_TRIAL) == Decimal("25.0")
    assert q.conversion([]).percent is None


def test_a_trial_outcome_is_the_first_move_out_of_trial_after_the_entry():
    start = date(2025, 2, 1)
    earlier_exit = (date(2024, 5, 1), "trial", "exited")  # a previous journey's trial
    assert q.trial_outcome(start, [earlier_exit]) == (q.IN_TRIAL, None)
    assert q.trial_outcome(start, [earlier_exit, (date(2025, 2, 20), "trial", "implantation")]) == (
        q.IMPLANTED,
        date(2025, 2, 20),
    )
    assert q.trial_outcome(
        start, [(date(2025, 2, 5), "trial", "evaluation"), (date(2025, 3, 1), "trial", "implantation")]
    ) == (q.BACK_TO_EVALUATION, date(2025, 2, 5))
    assert q.trial_outcome(start, [(start, "trial", "exited")]) == (q.EXITED_FROM_TRIAL, start)


def battery(patient_id, due, eri_on=None):
    verdict = risk.battery_verdict(risk.Battery(due, eri_on), TODAY, 6)
    return q.BatteryFact(patient_id, KENNESAW, due, verdict)


def test_battery_replacements_due_within_six_months_include_dates_already_past_and_eri():
    horizon = date(2025, 12, 10)
    facts = [
        battery(1, TODAY - timedelta(days=10)),
        battery(2, horizon),
        battery(3, horizon + timedelta(days=1)),
        battery(4, TODAY),
        battery(5, date(2027, 1, 1), eri_on=TODAY - timedelta(days=3)),
        battery(6, None),
    ]
    assert [b.patient_id for b in q.battery_due(facts)] == [5, 1, 4, 2]  # ERI, past due, then soonest


def test_battery_rows_put_eri_and_past_due_first_then_each_month_to_the_horizon():
    facts = q.battery_due(
        [
            battery(1, TODAY - timedelta(days=10)),
            battery(2, date(2025, 12, 10)),
            battery(4, TODAY),
            battery(5, date(2027, 1, 1), eri_on=TODAY),
        ]
    )
    rows = q.battery_rows(facts, TODAY, 6)
    assert rows[:3] == [
        (risk.BATTERY_ERI, risk.LABELS[risk.BATTERY_ERI], 1),
        (risk.BATTERY_PAST_DUE, risk.LABELS[risk.BATTERY_PAST_DUE], 1),
        ("2025-06", "Jun 2025", 1),
    ]
    assert [key for key, _, _ in rows[2:]] == q.months_between(TODAY, date(2025, 12, 10)) and rows[-1][2] == 1
    assert sum(n for _, _, n in rows) == len(facts)
    assert q.battery_rows([], TODAY, 6)[0] == ("2025-06", "Jun 2025", 0)


@pytest.mark.parametrize(
    "day, months, expected",
    [
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2024, 8, 31), 6, date(2025, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2025, 1, 15), -11, date(2024, 2, 15)),
        (date(2025, 12, 1), 1, date(2026, 1, 1)),
        (date(2025, 3, 31), -1, date(2025, 2, 28)),
    ],
)
def test_add_months_clamps_to_the_end_of_the_month(day, months, expected):
    assert risk.add_months(day, months) == expected  # the dashboard's month ranges and battery horizon


@pytest.mark.parametrize(
    "part, whole, expected",
    [(3, 4, "75.0"), (1, 3, "33.3"), (2, 3, "66.7"), (1, 400, "0.3"), (1, 8, "12.5"), (0, 5, "0.0")],
)
def test_percentages_are_exact_and_rounded_half_up_once(part, whole, expected):
    assert percent(part, whole) == Decimal(expected)


def test_the_due_date_before_a_refill_is_the_engines_projection_from_the_previous_fill():
    # domain.md: 20 mL, 500 mcg/mL, 300 mcg/day, alarm 2 mL, 7-day buffer: due on day 23.
    fill = datetime(2025, 3, 1, 5, tzinfo=UTC)  # local midnight in New York
    inputs = engine.RefillInputs(
        fill_time=fill,
        reservoir_after_fill_ml=Decimal(20),
        concentration_mcg_per_ml=500,
        doses=engine.DoseProgramme(daily_dose_mcg=Decimal(300)),
    )
    assert q.due_before_refill(inputs) == date(2025, 3, 24)
