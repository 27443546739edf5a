"""Device events (domain.md 5 and 7): what an MRI and each catheter event mean for the pump, and how their open work
is judged with it. Hand-worked examples."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from tracker.clinical import pump_events as ev
from tracker.clinical import refill as engine
from tracker.clinical import refill_risk as risk
from tracker.services.worklist import judge

SCAN_DAY = date(2026, 3, 10)
RULES = ev.EventRules(mri_check_days=0, revision_review_days=14, occlusion_review_days=0)
WINDOWS = risk.Windows(soon_days=14, battery_warning_months=6)


def work(due: date, what: str = ev.PUMP_CHECK, event_id: int = 1) -> ev.OpenWork:
    return ev.OpenWork(
        event_id,
        7,
        what,
        due,
        ev.MRI if what == ev.PUMP_CHECK else ev.SUSPECTED_OCCLUSION,
        datetime(2026, 3, 10, 15, tzinfo=UTC),
    )


# -- what an event means -----------------------------------------------------------------------------------------


def test_a_synchromed_mri_opens_a_pump_check_due_the_day_of_the_scan():
    # The motor stops in the scanner; checked the same day by default (mri_check_days 0): 10 Mar + 0 = 10 Mar.
    assert ev.consequence(ev.MRI, ev.CHECK_AFTER, SCAN_DAY, RULES) == ev.Consequence(
        empties_pump=False, work=ev.PUMP_CHECK, work_due_on=date(2026, 3, 10)
    )
    # A clinic allowing a day: 10 Mar + 1 = 11 Mar.
    later = ev.EventRules(mri_check_days=1)
    assert ev.consequence(ev.MRI, ev.CHECK_AFTER, SCAN_DAY, later).work_due_on == date(2026, 3, 11)


def test_a_prometra_mri_empties_the_pump_and_opens_no_work_of_its_own():
    # The refill ends it: until then the refill-risk model shows the pump empty (the schedule projects from 0 mL).
    assert ev.consequence(ev.MRI, ev.EMPTY_BEFORE, SCAN_DAY, RULES) == ev.Consequence(empties_pump=True)


def test_an_mri_on_a_model_the_catalogue_says_nothing_about_is_refused():
    with pytest.raises(ev.UnknownMriRule):
        ev.consequence(ev.MRI, None, SCAN_DAY, RULES)


def test_catheter_revision_and_suspected_occlusion_need_a_physicians_review():
    # Revision: 10 Mar + 14 days = 24 Mar. Suspected occlusion or kink: the drug may not reach the spine, same day.
    assert ev.consequence(ev.CATHETER_REVISION, None, SCAN_DAY, RULES) == ev.Consequence(
        work=ev.PHYSICIAN_REVIEW, work_due_on=date(2026, 3, 24)
    )
    assert ev.consequence(ev.SUSPECTED_OCCLUSION, ev.CHECK_AFTER, SCAN_DAY, RULES) == ev.Consequence(
        work=ev.PHYSICIAN_REVIEW, work_due_on=date(2026, 3, 10)
    )
    assert ev.PHYSICIAN_REVIEW in ev.DONE_BY_PHYSICIAN and ev.PUMP_CHECK not in ev.DONE_BY_PHYSICIAN


@pytest.mark.parametrize("kind", [ev.PORT_ASPIRATION, ev.DYE_STUDY])
def test_an_aspiration_or_a_dye_study_is_kept_on_the_timeline_only(kind):
    assert ev.consequence(kind, ev.EMPTY_BEFORE, SCAN_DAY, RULES) == ev.Consequence()


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError):
        ev.consequence("x-ray", ev.CHECK_AFTER, SCAN_DAY, RULES)


# -- open work ---------------------------------------------------------------------------------------------------


def test_work_is_due_on_its_day_and_overdue_from_the_next():
    check = work(date(2026, 3, 10))
    assert not check.overdue(date(2026, 3, 10)) and check.overdue(date(2026, 3, 11))


def test_work_ranks_with_an_overdue_refill_once_overdue_and_with_a_refill_due_soon_before():
    assert ev.work_urgency([], SCAN_DAY) is None
    assert ev.work_urgency([work(date(2026, 3, 10))], date(2026, 3, 10)) == risk.DUE_SOON
    assert ev.work_urgency([work(date(2026, 3, 10)), work(date(2026, 3, 20))], date(2026, 3, 11)) == risk.OVERDUE


def test_each_kind_of_work_is_one_reason_in_a_fixed_order():
    items = [
        work(SCAN_DAY, ev.PHYSICIAN_REVIEW, 1),
        work(SCAN_DAY, ev.PUMP_CHECK, 2),
        work(SCAN_DAY, ev.PHYSICIAN_REVIEW, 3),
    ]
    assert ev.work_reasons(items) == [ev.PUMP_CHECK, ev.PHYSICIAN_REVIEW]


# -- an emptied pump ---------------------------------------------------------------------------------------------

FILL = datetime(2026, 3, 1, 15, 0, tzinfo=UTC)


def test_the_pump_is_empty_from_the_last_emptying_after_its_last_fill():
    emptied = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    assert ev.emptied_since(FILL, [datetime(2026, 3, 5, tzinfo=UTC), emptied]) == emptied
    # Emptied before the last fill: that refill ended it.
    assert ev.emptied_since(FILL, [datetime(2026, 2, 20, tzinfo=UTC)]) is None
    assert ev.emptied_since(FILL, []) is None
    # Emptied at the very moment of the fill: the safe reading is "emptied".
    assert ev.emptied_since(FILL, [FILL]) == FILL


def test_an_emptied_pump_projects_empty_on_the_day_it_was_emptied_and_the_model_says_empty():
    # Prometra II 20 mL, 500 mcg/mL, 300 mcg/day (0.6 mL/day), alarm 3 mL. Refilled to 20 mL it would alarm after
    # (20 - 3) / 0.6 = 28.3 days. Emptied to 0 mL on 10 Mar 14:00 UTC (09:00 in New York): at or below the alarm
    # and at 0 from that instant, so alarm = empty = 10 Mar, and due = max(alarm - 7-day buffer, that day) = 10 Mar.
    emptied = datetime(2026, 3, 10, 14, 0, tzinfo=UTC)
    projection = engine.project_refill(
        engine.RefillInputs(
            fill_time=emptied,
            reservoir_after_fill_ml=Decimal(0),
            concentration_mcg_per_ml=500,
            doses=engine.DoseProgramme(daily_dose_mcg=Decimal(300)),
            alarm_volume_ml=Decimal(3),
            reservoir_capacity_ml=Decimal(20),
            tz="America/New_York",
        )
    )
    assert (projection.alarm_date, projection.empty_date, projection.due_date) == (SCAN_DAY, SCAN_DAY, SCAN_DAY)
    dates = risk.RefillDates(projection.due_date, projection.alarm_date, projection.empty_date)
    # On the day it was emptied, and every day after until the refill: empty, needs action, whatever is booked.
    for day in (SCAN_DAY, SCAN_DAY + timedelta(days=3)):
        judged = risk.assess(dates, risk.Booking(SCAN_DAY + timedelta(days=1)), day, 14)
        assert (judged.status, judged.needs_action) == (risk.EMPTY, True)


def test_the_emptied_explanation_says_why_and_what_to_do():
    assert ev.emptied_explanation(SCAN_DAY) == (
        "Emptied before an MRI on 10 Mar 2026: the pump holds no drug until "
        "it is refilled. Refill it as soon as the scan is over."
    )


# -- judged with the pump (tracker.services.worklist.judge: one judgement for every screen) -----------------------

NOW = datetime(2026, 3, 11, 15, 0, tzinfo=UTC)
TODAY = date(2026, 3, 11)
FINE = dict(
    due_date=date(2026, 4, 20),
    alarm_date=date(2026, 4, 27),
    empty_date=date(2026, 5, 2),
    starts_at=None,
    battery_due=None,
    eri_on=None,
    today=TODAY,
    now=NOW,
    windows=WINDOWS,
)


def test_a_pump_that_is_fine_needs_action_while_its_check_is_open():
    quiet = judge(**FINE, work=[])
    assert (quiet.reasons, quiet.needs_action) == ([], False)
    checked = judge(**FINE, work=[work(date(2026, 3, 12))])
    assert checked.reasons == [ev.PUMP_CHECK] and checked.needs_action
    assert checked.risk.status == risk.OK  # the refill itself is still fine: the work is its own reason


def test_overdue_work_ranks_a_fine_pump_with_the_overdue_refills_not_after_the_due_soon_ones():
    due_soon = judge(**FINE | {"due_date": date(2026, 3, 20)}, work=[])
    overdue_check = judge(**FINE, work=[work(date(2026, 3, 10))])  # due yesterday
    open_check = judge(**FINE, work=[work(date(2026, 3, 11))])  # due today
    assert overdue_check.rank < due_soon.rank
    assert open_check.rank[0] == due_soon.rank[0] == risk.URGENCIES.index(risk.DUE_SOON)
    # Work never lowers a more urgent refill: an empty pump stays first.
    empty = judge(
        **FINE | {"due_date": date(2026, 3, 1), "alarm_date": date(2026, 3, 5), "empty_date": date(2026, 3, 9)},
        work=[work(date(2026, 3, 12))],
    )
    assert empty.rank[0] == 0 and empty.reasons == [risk.EMPTY, ev.PUMP_CHECK]
