"""Issue 17, items 3 and 4: a refill that finds more drug gone than programmed projects the next interval at the
measured rate, and a fill whose two volumes disagree is projected from the smaller; both say so in the date's
sentence, and the patient page shows the residual trend across visits."""

from datetime import datetime, timedelta
from decimal import Decimal

from tests.factories import CLINIC_ZONE as ZONE
from tests.web.test_refills import entry, implanted
from tracker.clinic_zone import local_date
from tracker.models import RefillSchedule
from tracker.services.refill_visits import preview_refill, record_refill

NOW = datetime.now(ZONE)


def test_an_over_infusion_projects_the_next_interval_at_the_measured_rate(world, session, as_role):
    patient, pump = implanted(session, world)  # 20 mL at 500 mcg/mL, 300 mcg/day (0.6 mL/day), 10 days ago
    # Expected 14 mL left of the 20 mL fill (6 mL programmed); 12.5 mL aspirated: 7.5 mL used, 1.5 mL over.
    # 1.5 mL is under the 2 mL threshold but beyond 14.5% x 6 = 0.87 mL: over-infusion, factor 7.5 / 6 = 1.25.
    over = entry(actual_residual_ml=Decimal("12.5"))
    preview = preview_refill(session, pump.id, over, NOW)
    warning = next(w for w in preview.warnings if w.code == "residual_discrepancy")
    assert warning.severity == "high" and "6 mL programmed" in warning.message
    assert preview.needs_acknowledgement

    record_refill(session, world.actor(), pump.id, over, True, NOW)
    schedule = session.get(RefillSchedule, pump.id)
    filled = local_date(over.visit_at)
    # The new 20 mL at 0.6 x 1.25 = 0.75 mL/day: alarm after 18 / 0.75 = 24 days, due 7 days before: day 17.
    # At the programmed rate it would be day 30 and day 23: six days later than the pump really runs.
    assert schedule.alarm_date == filled + timedelta(days=24)
    assert schedule.due_date == filled + timedelta(days=17)
    assert "Projected at the measured rate: 7.5 mL was used where 6 mL was programmed (+25%)" in schedule.explanation

    page = as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Projected at the measured rate" in page  # the "Why this date" line
    assert "Residual trend" in page and 'data-verdict="over"' in page and "+1.5 mL (+25%)" in page


def test_a_residual_within_the_rules_keeps_the_programmed_rate(world, session, as_role):
    patient, pump = implanted(session, world)
    record_refill(session, world.actor(), pump.id, entry(actual_residual_ml=Decimal("13.5")), True, NOW)
    # 0.5 mL over of 6 mL programmed is within 0.87 mL and 2 mL: the programme's day 30 and day 23 stand.
    schedule = session.get(RefillSchedule, pump.id)
    filled = local_date(entry().visit_at)
    assert (schedule.alarm_date, schedule.due_date) == (filled + timedelta(days=30), filled + timedelta(days=23))
    assert "measured rate" not in schedule.explanation
    page = as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert 'data-verdict="within"' in page and "+0.5 mL (+8.3%)" in page


def test_a_fill_whose_volumes_disagree_is_projected_from_the_smaller(world, session, as_role):
    patient, pump = implanted(session, world)
    # 18.5 mL went in but the reservoir reads 20 mL: a 1.5 mL mismatch (pocket fill on a 20 mL pump, over 1 mL).
    # Projected from 18.5 mL at 0.6 mL/day: alarm after 16.5 / 0.6 = 27.5 days -> day 27, due day 20 (not 30/23).
    mismatch = entry(volume_added_ml=Decimal("18.5"), resulting_volume_ml=Decimal("20"))
    codes = {w.code for w in preview_refill(session, pump.id, mismatch, NOW).warnings}
    assert "pocket_fill" in codes
    record_refill(session, world.actor(), pump.id, mismatch, True, NOW)
    schedule = session.get(RefillSchedule, pump.id)
    filled = local_date(mismatch.visit_at)
    assert (schedule.alarm_date, schedule.due_date) == (filled + timedelta(days=27), filled + timedelta(days=20))
    assert schedule.volume_after_fill_ml == Decimal("18.5")
    assert ("The fill's volumes disagree (18.5 mL added, 20 mL reported in the reservoir): projected from the "
            "smaller, 18.5 mL.") in schedule.explanation
    assert "projected from the smaller" in as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)
