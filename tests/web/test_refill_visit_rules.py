"""Issue 17, items 3, 4 and 7: a refill that finds more drug gone than programmed projects the next interval at
the measured rate, and a fill whose two volumes disagree is projected from the smaller; both say so in the date's
sentence, and the patient page shows the residual trend across visits. A concentration change asks for the bridge
bolus (or why none), and the panel and emergency summary show the new concentration from that refill on."""

import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select

from tests.support.clock import NOW
from tests.support.factories import CLINIC_ZONE as ZONE
from tests.web.test_refills import entry, implanted
from tracker.clinic_zone import local_date
from tracker.extensions import db
from tracker.formats import fmt_datetime
from tracker.models import RefillSchedule, RefillVisit
from tracker.services.refill_visits import preview_refill, record_refill
from tracker.services.refills import last_fill


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
    assert (
        "The fill's volumes disagree (18.5 mL added, 20 mL reported in the reservoir): projected from the "
        "smaller, 18.5 mL."
    ) in schedule.explanation
    assert "projected from the smaller" in as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)


def refill_form(patient, pump, **changes):
    """The refill form as a nurse posts it: 20 mL at 1000 mcg/mL (a concentration change), acknowledged."""
    fill = last_fill(db.session, pump.id)
    visit_at = entry().visit_at.astimezone(ZONE)
    data = {
        "visit_at": f"{visit_at:%Y-%m-%dT%H:%M}",
        "expected_residual_ml": "14",
        "actual_residual_ml": "14",
        "concentration_mcg_per_ml": "1000",
        "lot": "L1",
        "volume_added_ml": "20",
        "resulting_volume_ml": "20",
        "bridge_bolus_given": "",
        "bridge_bolus_mcg": "",
        "bridge_bolus_reason": "",
        "ashworth": "",
        "penn_frequency": "",
        "complications": "",
        "notes": "",
        "acknowledge": "y",
        "action": "save",
        "last_fill_id": str(fill.id),
    }
    return data | changes


def refills(session):
    return session.scalar(select(func.count(RefillVisit.id)))


def test_a_concentration_change_asks_for_the_bridge_bolus_or_why_none(world, session, as_role):
    patient, pump = implanted(session, world)  # 500 mcg/mL at implant
    nurse = as_role("nurse")
    url = f"/patients/{patient.id}/refill"

    unanswered = nurse.post(url, refill_form(patient, pump, lot="LOT-77"))
    page = unanswered.get_data(as_text=True)
    assert unanswered.status_code == 422 and refills(session) == 1
    assert "The concentration changes from 500 to 1000 mcg/mL: say whether a bridge bolus was programmed." in page
    assert 'value="LOT-77"' in page  # what was typed is kept

    no_reason = nurse.post(url, refill_form(patient, pump, bridge_bolus_given="no"))
    assert no_reason.status_code == 422 and refills(session) == 1
    assert "say why no bridge bolus was programmed" in no_reason.get_data(as_text=True)

    yes_no_amount = nurse.post(url, refill_form(patient, pump, bridge_bolus_given="yes"))
    assert yes_no_amount.status_code == 422 and "Enter the bridge bolus programmed" in yes_no_amount.get_data(
        as_text=True
    )

    saved = nurse.post(
        url,
        refill_form(patient, pump, bridge_bolus_given="no", bridge_bolus_reason="Physician: dose margin, observe 4 h"),
    )
    assert saved.status_code == 302 and refills(session) == 2
    visit = last_fill(session, pump.id)
    assert (visit.bridge_bolus_mcg, visit.bridge_bolus_reason) == (None, "Physician: dose margin, observe 4 h")

    shown = f"since {fmt_datetime(visit.visit_at.astimezone(ZONE))}"
    for page in (nurse.get(f"/patients/{patient.id}"), nurse.get(f"/patients/{patient.id}/emergency")):
        text = " ".join(re.sub(r"<[^>]+>", "", page.get_data(as_text=True)).split())
        assert f"1000 mcg/mL {shown} (500 mcg/mL before; no bridge bolus: Physician: dose margin, observe 4 h)" in text


def test_a_bridge_bolus_is_shown_with_the_new_concentration(world, session, as_role):
    patient, pump = implanted(session, world)
    nurse = as_role("nurse")
    saved = nurse.post(
        f"/patients/{patient.id}/refill", refill_form(patient, pump, bridge_bolus_given="yes", bridge_bolus_mcg="40")
    )
    assert saved.status_code == 302
    text = " ".join(
        re.sub(r"<[^>]+>", "", nurse.get(f"/patients/{patient.id}/emergency").get_data(as_text=True)).split()
    )
    assert "(500 mcg/mL before; bridge bolus 40 mcg programmed)" in text


def test_no_bridge_bolus_without_a_concentration_change(world, session, as_role):
    patient, pump = implanted(session, world)
    same = refill_form(patient, pump, concentration_mcg_per_ml="500", bridge_bolus_given="yes", bridge_bolus_mcg="40")
    response = as_role("nurse").post(f"/patients/{patient.id}/refill", same)
    assert response.status_code == 422 and refills(session) == 1
    assert "a bridge bolus is only for a concentration change" in response.get_data(as_text=True)
    # Unanswered with no change is fine: the question is only for a change.
    assert (
        as_role("nurse")
        .post(f"/patients/{patient.id}/refill", refill_form(patient, pump, concentration_mcg_per_ml="500"))
        .status_code
        == 302
    )
    text = as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "mcg/mL before" not in text
