"""Correcting or voiding a clinical entry (issue 17, item 8): a refill visit, a dose change, a trial bolus, the
implant details and the battery ERI date. The original stays, struck through, with who, when and why; the dates
are recomputed in the same transaction; the change is audited; stale forms and voids that would leave a pump with
nothing to project from are refused.

The default pump (tests.support.factories): SynchroMed II 20 mL filled to 20 mL at 500 mcg/mL, 300 mcg/day, alarm 2 mL,
so 300 / 500 = 0.6 mL a day."""

import html
import re
from datetime import datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import func, select, update

from tests.support.clock import NOW
from tests.support.factories import CLINIC_ZONE as ZONE
from tests.support.factories import TODAY, bolus_data, implanted_days_ago, make_patient, move
from tests.web.test_fuzz_forms import row_counts
from tracker.clinic_zone import start_of_day
from tracker.clinical.corrections import IMPLANT_FILL, ONLY_FILL
from tracker.clinical.refill_risk import battery_due
from tracker.formats import fmt_date
from tracker.models import AuditEvent, DoseChange, Pump, PumpCorrection, RefillSchedule, RefillVisit, TrialBolus
from tracker.services import patients as patient_service
from tracker.services import trial_boluses
from tracker.services.catalogue import pumps_holding
from tracker.services.doses import change_dose
from tracker.services.pumps import record_eri
from tracker.services.quality import QualityFilters, refill_facts
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import Programme, current_pump
from tracker.services.settings import all_settings

IMPLANTED_ON = TODAY - timedelta(days=10)
VISIT_DAY = TODAY - timedelta(days=2)
VISIT_AT = datetime.combine(VISIT_DAY, time(9, 0), ZONE)  # 09:00 clinic time


def implanted(session, world):
    patient = implanted_days_ago(session, world, 10)
    return patient, current_pump(session, patient.id)


def schedule(session, pump) -> RefillSchedule:
    session.expire_all()
    return session.get(RefillSchedule, pump.id)


def refill(session, world, pump, at=VISIT_AT, ml="20", concentration=500) -> RefillVisit:
    """A refill with matching residuals (15 mL found, as projected) and no pocket fill: no warnings."""
    changed = concentration != 500  # the implant's: a change needs the bridge bolus answered (issue 17, item 7)
    entry = RefillEntry(
        visit_at=at,
        expected_residual_ml=Decimal(15),
        actual_residual_ml=Decimal(15),
        concentration_mcg_per_ml=concentration,
        volume_added_ml=Decimal(ml),
        resulting_volume_ml=Decimal(ml),
        bridge_bolus_given=True if changed else None,
        bridge_bolus_mcg=Decimal(40) if changed else None,
    )
    return record_refill(session, world.actor(), pump.id, entry, True, NOW)


def refill_form(at=VISIT_AT, ml="20", **changes) -> dict:
    return {
        "visit_at": at.strftime("%Y-%m-%dT%H:%M"),
        "expected_residual_ml": "15",
        "actual_residual_ml": "15",
        "concentration_mcg_per_ml": "500",
        "lot": "",
        "volume_added_ml": ml,
        "resulting_volume_ml": ml,
        "bridge_bolus_mcg": "",
        "ashworth": "",
        "penn_frequency": "",
        "complications": "",
        "notes": "",
        "action": "save",
        "why": "mistyped",
        **changes,
    }


def text(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def field_value(page: str, name: str) -> str:
    return re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page).group(1)


def audit_rows(session, entity: str, since: int = 0) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == entity, AuditEvent.id > since, AuditEvent.action != "view")
            .order_by(AuditEvent.id)
        )
    )


def last_audit_id(session) -> int:
    return session.scalar(select(func.max(AuditEvent.id))) or 0


# -- a refill visit ----------------------------------------------------------------------------------------------


def test_a_mistyped_refill_volume_is_corrected_the_original_struck_through_and_the_dates_moved(as_role, world, session):
    patient, pump = implanted(session, world)
    original = refill(session, world, pump)
    # Typed as 20 mL: (20 - 2) / 0.6 = 30 days to the alarm, due 30 - 7 = 23 days after the refill; empty 20 / 0.6
    # = 33.3 days, day 33.
    before = schedule(session, pump)
    assert (before.alarm_date, before.due_date, before.empty_date) == (
        VISIT_DAY + timedelta(days=30),
        VISIT_DAY + timedelta(days=23),
        VISIT_DAY + timedelta(days=33),
    )
    since = last_audit_id(session)
    nurse = as_role("nurse")
    page = nurse.get(f"/patients/{patient.id}/refills/{original.id}/correct").get_data(as_text=True)
    assert field_value(page, "resulting_volume_ml") == "20.0"  # prefilled with the original's values

    response = nurse.post(
        f"/patients/{patient.id}/refills/{original.id}/correct", refill_form(ml="18", why="18 mL went in; 20 was typed")
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    # Corrected to 18 mL: (18 - 2) / 0.6 = 26.67 days to the alarm, 3.33 days sooner; from 09:00 that instant
    # falls on day 26 (16:00 + 9:00 = next day 01:00 by the clock, day 26 counted in whole days: the earlier wins).
    # Due 26 - 7 = day 19 (4 days sooner); empty 18 / 0.6 = day 30.
    after = schedule(session, pump)
    assert (after.alarm_date, after.due_date, after.empty_date) == (
        VISIT_DAY + timedelta(days=26),
        VISIT_DAY + timedelta(days=19),
        VISIT_DAY + timedelta(days=30),
    )
    assert after.volume_after_fill_ml == Decimal(18)

    session.refresh(original)
    corrected = session.scalar(select(RefillVisit).where(RefillVisit.corrects_id == original.id))
    assert original.resulting_volume_ml == Decimal(20), "the original keeps what was typed"
    assert original.voided_by_id == world.users["nurse"].id and original.void_reason == "18 mL went in; 20 was typed"
    assert corrected.resulting_volume_ml == Decimal(18) and corrected.visit_at == original.visit_at
    assert corrected.clinician_id == original.clinician_id and corrected.voided_at is None

    void_row, create_row = audit_rows(session, "refill_visit", since)
    assert (void_row.action, void_row.entity_id) == ("void", original.id)
    assert void_row.before["due_date"] == (VISIT_DAY + timedelta(days=23)).isoformat()
    assert void_row.after["due_date"] == (VISIT_DAY + timedelta(days=19)).isoformat()
    assert void_row.after["void_reason"] == "18 mL went in; 20 was typed"
    assert void_row.after["corrected_by"] == corrected.id
    assert (create_row.action, create_row.entity_id) == ("create", corrected.id)
    assert Decimal(create_row.before["resulting_volume_ml"]) == 20
    assert Decimal(create_row.after["resulting_volume_ml"]) == 18
    assert create_row.after["corrects_id"] == original.id and create_row.user_id == world.users["nurse"].id

    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f'id="refill-{original.id}" class="voided"' in page
    assert f'id="refill-{corrected.id}" class=""' in page
    assert "Corrected by Test Nurse on" in page and ": 18 mL went in; 20 was typed" in page
    assert fmt_date(VISIT_DAY + timedelta(days=19)) in page


def test_a_voided_refill_no_longer_drives_the_due_date_the_dashboard_or_the_drug_in_the_pump(as_role, world, session):
    patient, pump = implanted(session, world)
    implant_due = schedule(session, pump).due_date
    assert implant_due == IMPLANTED_ON + timedelta(days=23)
    visit = refill(session, world, pump, concentration=1000)  # recorded on the wrong patient
    assert schedule(session, pump).due_date != implant_due
    in_range = QualityFilters(TODAY - timedelta(days=30), TODAY)
    assert [f.visit_id for f in refill_facts(session, in_range, all_settings(session))] == [visit.id]
    assert pumps_holding(session, 1000) == [pump.id]

    response = as_role("nurse").post(f"/patients/{patient.id}/refills/{visit.id}/void", {"why": "Wrong patient"})
    assert response.status_code == 302

    # The implant fill drives the date again: day 23 after the implant, as before the refill.
    assert schedule(session, pump).due_date == implant_due
    assert schedule(session, pump).fill_at == start_of_day(IMPLANTED_ON)
    assert refill_facts(session, in_range, all_settings(session)) == []
    assert pumps_holding(session, 1000) == [] and pumps_holding(session, 500) == [pump.id]
    [row] = audit_rows(session, "refill_visit", last_audit_id(session) - 1)
    assert row.action == "void" and row.after["void_reason"] == "Wrong patient"
    assert row.after["due_date"] == implant_due.isoformat()
    page = as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f'id="refill-{visit.id}" class="voided"' in page and "Voided by Test Nurse on" in page


# -- a dose change -----------------------------------------------------------------------------------------------


def dose_form(at: datetime, dose: str, **changes) -> dict:
    return {
        "effective_at": at.strftime("%Y-%m-%dT%H:%M"),
        "mode": "simple",
        "daily_dose_mcg": dose,
        "flex_schedule": "",
        "bolus_dose_mcg": "0",
        "max_boluses_per_day": "0",
        "reason": "More tone",
        "why": "330 was programmed; 360 was typed",
        **changes,
    }


def test_a_mistyped_dose_change_is_corrected_and_the_refill_date_moves_back(as_role, world, session):
    patient, pump = implanted(session, world)
    midnight = start_of_day(TODAY)  # 10 days after the implant fill, at midnight too
    typed = change_dose(session, world.actor(), pump.id, midnight, Programme(Decimal(360)), "More tone", NOW)
    # 10 days at 0.6 mL = 6 mL used, 14 mL left, 12 mL to the alarm. At 360 / 500 = 0.72 mL a day: 16.67 days,
    # alarm day 26.67 -> day 26 after the implant, due 26 - 7 = day 19.
    assert (schedule(session, pump).alarm_date, schedule(session, pump).due_date) == (
        IMPLANTED_ON + timedelta(days=26),
        IMPLANTED_ON + timedelta(days=19),
    )
    since = last_audit_id(session)
    nurse = as_role("nurse")
    page = nurse.get(f"/patients/{patient.id}/doses/{typed.id}/correct").get_data(as_text=True)
    assert field_value(page, "daily_dose_mcg") == "360.0"

    response = nurse.post(f"/patients/{patient.id}/doses/{typed.id}/correct", dose_form(midnight, "330"))
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    # At 330 / 500 = 0.66 mL a day: 12 / 0.66 = 18.18 days, alarm day 28.18 -> day 28, due day 21.
    assert (schedule(session, pump).alarm_date, schedule(session, pump).due_date) == (
        IMPLANTED_ON + timedelta(days=28),
        IMPLANTED_ON + timedelta(days=21),
    )
    session.refresh(typed)
    corrected = session.scalar(select(DoseChange).where(DoseChange.corrects_id == typed.id))
    assert typed.daily_dose_mcg == 360 and typed.voided and corrected.daily_dose_mcg == 330
    void_row, create_row = audit_rows(session, "dose_change", since)
    assert (void_row.action, void_row.entity_id, create_row.action, create_row.entity_id) == (
        "void",
        typed.id,
        "create",
        corrected.id,
    )
    assert Decimal(create_row.before["daily_dose_mcg"]) == 360 and Decimal(create_row.after["daily_dose_mcg"]) == 330
    assert void_row.after["due_date"] == (IMPLANTED_ON + timedelta(days=21)).isoformat()
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f'id="dose-{typed.id}" class="voided"' in page and ": 330 was programmed; 360 was typed" in page
    assert "330 mcg/day" in page


def test_a_corrected_dose_beyond_the_titration_limit_needs_a_physician_like_the_original(as_role, world, session):
    patient, pump = implanted(session, world)
    typed = change_dose(session, world.actor(), pump.id, start_of_day(TODAY), Programme(Decimal(360)), "tone", NOW)
    before = row_counts(session)
    # 300 -> 450 mcg/day is +50%, beyond the +30% spinal limit in 24 h: a nurse may not record it, nor correct to it.
    response = as_role("nurse").post(
        f"/patients/{patient.id}/doses/{typed.id}/correct", dose_form(start_of_day(TODAY), "450")
    )
    assert response.status_code == 422 and "a physician must make this correction" in text(response)
    assert row_counts(session) == before
    response = as_role("physician").post(
        f"/patients/{patient.id}/doses/{typed.id}/correct", dose_form(start_of_day(TODAY), "450")
    )
    assert response.status_code == 302
    corrected = session.scalar(select(DoseChange).where(DoseChange.corrects_id == typed.id))
    assert corrected.signed_off_by_id == world.users["physician"].id


# -- a trial bolus -----------------------------------------------------------------------------------------------


def bolus_form(**changes) -> dict:
    data = bolus_data(TODAY - timedelta(days=1), outcome="negative")
    form = {name: "" if value is None else str(value) for name, value in data.items()}
    form["given_on"] = data["given_on"].isoformat()
    return {**form, "why": "The patient had no response; positive was clicked", **changes}


def test_a_trial_bolus_marked_positive_by_mistake_is_corrected_and_no_longer_unlocks_implantation(
    as_role, world, session
):
    patient = make_patient(session, world)
    move(session, world, patient, "trial", days_ago=3)
    typed = trial_boluses.record_bolus(session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=1)), TODAY)
    assert patient_service.has_positive_trial(session, patient)
    since = last_audit_id(session)
    nurse = as_role("nurse")
    page = nurse.get(f"/patients/{patient.id}/boluses/{typed.id}/correct").get_data(as_text=True)
    assert '<option selected value="positive">' in page  # the original's outcome, not a default

    response = nurse.post(f"/patients/{patient.id}/boluses/{typed.id}/correct", bolus_form())
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    session.expire_all()
    assert not patient_service.has_positive_trial(session, patient), "the voided positive bolus no longer counts"
    corrected = session.scalar(select(TrialBolus).where(TrialBolus.corrects_id == typed.id))
    assert corrected.outcome == "negative" and session.get(TrialBolus, typed.id).outcome == "positive"
    void_row, create_row = audit_rows(session, "trial_bolus", since)
    assert (void_row.action, create_row.action) == ("void", "create")
    assert (create_row.before["outcome"], create_row.after["outcome"]) == ("positive", "negative")
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f'id="bolus-{typed.id}" class="voided"' in page
    assert "Corrected by Test Nurse on" in page and "positive was clicked" in page


def test_a_corrected_bolus_gets_the_bolus_forms_warnings_against_the_other_boluses_of_its_trial(
    as_role, world, session
):
    patient = make_patient(session, world)
    move(session, world, patient, "trial", days_ago=3)
    first = trial_boluses.record_bolus(session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=2)), TODAY)
    second = trial_boluses.record_bolus(session, world.actor(), patient.id, bolus_data(TODAY, dose_mcg=75), TODAY)
    before = row_counts(session)
    # Moved onto the first bolus's day: the spacing warning, judged against the first (not against itself).
    response = as_role("nurse").post(
        f"/patients/{patient.id}/boluses/{second.id}/correct",
        bolus_form(given_on=(TODAY - timedelta(days=2)).isoformat(), dose_mcg="75"),
    )
    assert response.status_code == 422 and 'data-code="trial_spacing"' in response.get_data(as_text=True)
    assert row_counts(session) == before
    assert first.id != second.id


# -- implant details and the ERI ---------------------------------------------------------------------------------


def implant_form(pump: Pump, session, **changes) -> dict:
    from tracker.services.pump_corrections import last_correction_id

    return {
        "serial": pump.serial,
        "catheter_tip_level": pump.catheter_tip_level,
        "alarm_volume_ml": "2",
        "surgeon": "Dr Shaw",
        "surgery_centre_id": str(pump.surgery_centre_id),
        "why": "Read off the op note",
        "version": str(pump.version),
        "last_correction_id": str(last_correction_id(session, pump.id)),
        **changes,
    }


def test_implant_details_are_corrected_with_the_old_values_kept_and_the_alarm_volume_moves_the_dates(
    as_role, world, session
):
    patient, pump = implanted(session, world)
    old_serial = pump.serial
    since = last_audit_id(session)
    response = as_role("nurse").post(
        f"/patients/{patient.id}/pump/correct",
        implant_form(pump, session, serial="NGP999", alarm_volume_ml="4", surgeon="Dr Shah"),
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]

    # Alarm 4 mL instead of 2 (domain.md: raised to stop withdrawal before 2 mL): (20 - 4) / 0.6 = 26.67 days from
    # the implant fill at midnight -> day 26 (was 30), due day 19 (was 23).
    assert (schedule(session, pump).alarm_date, schedule(session, pump).due_date) == (
        IMPLANTED_ON + timedelta(days=26),
        IMPLANTED_ON + timedelta(days=19),
    )
    pump = session.get(Pump, pump.id)
    assert (pump.serial, pump.alarm_volume_ml) == ("NGP999", Decimal(4))
    history = {c.field: (c.old_value, c.new_value) for c in session.scalars(select(PumpCorrection))}
    assert history == {
        "serial": (old_serial, "NGP999"),
        "alarm_volume_ml": ("2.000", "4"),
        "surgeon": ("Dr Shaw", "Dr Shah"),
    }
    pump_row, implant_row = audit_rows(session, "pump", since) + audit_rows(session, "implantation", since)
    assert pump_row.before == {"serial": old_serial, "alarm_volume_ml": "2.000"}
    assert pump_row.after == {"serial": "NGP999", "alarm_volume_ml": "4", "correction_reason": "Read off the op note"}
    assert (implant_row.before, implant_row.after["surgeon"]) == ({"surgeon": "Dr Shaw"}, "Dr Shah")
    page = as_role("nurse").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f"<s>{old_serial}</s> → NGP999" in page and "corrected by Test Nurse on" in page
    assert "surgeon Dr Shah" in page


def test_the_eri_date_is_corrected_then_voided_and_the_battery_date_follows(as_role, world, session):
    patient = implanted_days_ago(session, world, 20)
    pump = current_pump(session, patient.id)
    from_implant = battery_due(TODAY - timedelta(days=20), 84)
    record_eri(session, world.actor(), pump.id, TODAY - timedelta(days=10), pump.version, NOW)
    assert pump.battery_replacement_due == TODAY + timedelta(days=80)  # ERI + 90 days
    nurse = as_role("nurse")
    response = nurse.post(
        f"/patients/{patient.id}/eri/correct",
        {
            **implant_form(pump, session),
            "eri_on": (TODAY - timedelta(days=5)).isoformat(),
            "action": "correct",
            "why": "The programmer showed ERI on the 5th",
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    session.expire_all()
    pump = session.get(Pump, pump.id)
    # Set afresh from the implant's date, not from the wrong ERI's: (ERI + 5 days) + 90 days, later than before.
    assert (pump.eri_on, pump.battery_replacement_due) == (TODAY - timedelta(days=5), TODAY + timedelta(days=85))
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert f"<s>{(TODAY - timedelta(days=10)).isoformat()}</s>" in page

    response = nurse.post(
        f"/patients/{patient.id}/eri/correct",
        {**implant_form(pump, session), "eri_on": "", "action": "void", "why": "It was the low-battery test"},
    )
    assert response.status_code == 302
    session.expire_all()
    pump = session.get(Pump, pump.id)
    assert (pump.eri_on, pump.battery_replacement_due) == (None, from_implant)
    rows = audit_rows(session, "pump")
    assert rows[-1].before["eri_on"] == (TODAY - timedelta(days=5)).isoformat() and rows[-1].after["eri_on"] is None
    assert rows[-1].after["battery_replacement_due"] == from_implant.isoformat()


# -- refusals ----------------------------------------------------------------------------------------------------


def implant_fill(session, pump) -> RefillVisit:
    return session.scalar(select(RefillVisit).where(RefillVisit.pump_id == pump.id, RefillVisit.at_implant))


def test_the_fill_at_implantation_is_corrected_not_voided(as_role, world, session):
    patient, pump = implanted(session, world)
    fill = implant_fill(session, pump)
    before = row_counts(session)
    response = as_role("nurse").post(f"/patients/{patient.id}/refills/{fill.id}/void", {"why": "typo"})
    assert response.status_code == 422 and IMPLANT_FILL in text(response)
    assert row_counts(session) == before
    # Its own form: volume, concentration, lot. 18 mL instead of 20: (18 - 2) / 0.6 = 26.67 days -> day 26.
    response = as_role("nurse").post(
        f"/patients/{patient.id}/refills/{fill.id}/correct",
        {"fill_volume_ml": "18", "concentration_mcg_per_ml": "500", "lot": "L7", "why": "18 mL at implant"},
    )
    assert response.status_code == 302
    assert schedule(session, pump).alarm_date == IMPLANTED_ON + timedelta(days=26)
    assert session.scalar(select(RefillVisit).where(RefillVisit.corrects_id == fill.id)).at_implant


def test_voiding_a_pumps_only_fill_is_refused(as_role, world, session):
    patient, pump = implanted(session, world)
    fill = implant_fill(session, pump)
    session.execute(update(RefillVisit).where(RefillVisit.id == fill.id).values(at_implant=False))  # as imported
    session.commit()
    response = as_role("nurse").post(f"/patients/{patient.id}/refills/{fill.id}/void", {"why": "typo"})
    assert response.status_code == 422 and ONLY_FILL in text(response)
    assert not session.get(RefillVisit, fill.id).voided


def test_voiding_the_starting_dose_is_refused_a_later_dose_change_may_be_voided(as_role, world, session):
    patient, pump = implanted(session, world)
    starting = session.scalar(select(DoseChange).where(DoseChange.pump_id == pump.id))
    later = change_dose(session, world.actor(), pump.id, start_of_day(TODAY), Programme(Decimal(360)), "tone", NOW)
    nurse = as_role("nurse")
    response = nurse.post(f"/patients/{patient.id}/doses/{starting.id}/void", {"why": "typo"})
    assert response.status_code == 422 and "No dose would be in force at the pump" in text(response)
    session.expire_all()
    assert not session.get(DoseChange, starting.id).voided
    assert nurse.post(f"/patients/{patient.id}/doses/{later.id}/void", {"why": "never programmed"}).status_code == 302
    assert schedule(session, pump).due_date == IMPLANTED_ON + timedelta(days=23)  # 300 mcg/day again


def test_a_correction_gets_the_refill_forms_checks_and_nothing_is_written_when_refused(as_role, world, session):
    patient, pump = implanted(session, world)
    first = refill(session, world, pump)
    refill(session, world, pump, at=NOW - timedelta(hours=1))
    before, due = row_counts(session), schedule(session, pump).due_date
    url = f"/patients/{patient.id}/refills/{first.id}/correct"
    nurse = as_role("nurse")
    for changes, message in [
        ({"resulting_volume_ml": "25"}, "never overfill"),
        ({"visit_at": (NOW - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")}, "must be before the next fill"),
        ({"visit_at": (IMPLANTED_ON - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")}, "must be after the last fill"),
        ({"why": ""}, "Say why."),
    ]:
        response = nurse.post(url, refill_form(**changes))
        assert response.status_code == 422 and message in text(response), message
        assert row_counts(session) == before and schedule(session, pump).due_date == due


# -- stale forms -------------------------------------------------------------------------------------------------


def test_a_second_tab_correcting_an_entry_already_corrected_is_refused(as_role, world, session):
    patient, pump = implanted(session, world)
    original = refill(session, world, pump)
    first_tab, second_tab = as_role("nurse"), as_role("physician")
    url = f"/patients/{patient.id}/refills/{original.id}/correct"
    assert first_tab.post(url, refill_form(ml="18", why="18 went in")).status_code == 302
    before = row_counts(session)
    response = second_tab.post(url, refill_form(ml="19", why="19 went in"))
    assert row_counts(session) == before and schedule(session, pump).volume_after_fill_ml == Decimal(18)
    assert response.status_code == 302 and "already corrected by Test Nurse" in text(
        second_tab.get(response.headers["Location"])
    )


def test_a_refill_form_opened_before_a_correction_of_the_last_fill_is_stale(as_role, world, session):
    patient, pump = implanted(session, world)
    original = refill(session, world, pump)
    nurse = as_role("nurse")
    opened = nurse.get(f"/patients/{patient.id}/refill").get_data(as_text=True)
    assert f'name="last_fill_id" type="hidden" value="{original.id}"' in opened
    assert (
        nurse.post(
            f"/patients/{patient.id}/refills/{original.id}/correct", refill_form(ml="18", why="18 went in")
        ).status_code
        == 302
    )
    before = row_counts(session)
    response = nurse.post(
        f"/patients/{patient.id}/refill",
        {**refill_form(at=NOW - timedelta(minutes=5)), "last_fill_id": str(original.id), "acknowledge": "y"},
    )
    assert response.status_code == 422 and "Someone else recorded a refill" in text(response)
    assert row_counts(session) == before


def test_an_implant_form_opened_before_another_correction_is_stale(as_role, world, session):
    patient, pump = implanted(session, world)
    opened = implant_form(pump, session, serial="NGP1", why="typo")
    nurse = as_role("nurse")
    assert (
        nurse.post(
            f"/patients/{patient.id}/pump/correct", implant_form(pump, session, surgeon="Dr Shah", why="op note")
        ).status_code
        == 302
    )
    before = row_counts(session)
    response = nurse.post(f"/patients/{patient.id}/pump/correct", opened)
    assert row_counts(session) == before and session.get(Pump, pump.id).serial != "NGP1"
    assert "Someone else changed this pump" in text(nurse.get(response.headers["Location"]))


def test_only_nurses_and_physicians_correct(as_role, world, session):
    patient, pump = implanted(session, world)
    fill = implant_fill(session, pump)
    for role in ("coordinator", "admin"):
        assert as_role(role).get(f"/patients/{patient.id}/refills/{fill.id}/correct").status_code == 403
    page = as_role("coordinator").get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "/correct" not in page and '/void"' not in page


def test_a_voided_refill_leaves_the_digest_and_the_importers_last_fill(world, session):
    """The daily e-mail's refill warnings and an import's comparison with the last fill read only entries that
    stand."""
    from tracker.clinic_zone import clinic_zone_name
    from tracker.services.corrections import void_refill
    from tracker.services.digest_contents import DigestOptions, gather
    from tracker.services.import_existing import load_existing

    patient, pump = implanted(session, world)
    entry = RefillEntry(
        visit_at=VISIT_AT,
        expected_residual_ml=Decimal(15),
        actual_residual_ml=Decimal(10),
        concentration_mcg_per_ml=500,
        volume_added_ml=Decimal(20),
        resulting_volume_ml=Decimal(20),
    )
    visit = record_refill(session, world.actor(), pump.id, entry, True, NOW)  # 5 mL discrepancy: a digest warning
    options = DigestOptions(clinic_zone_name(), time(7), "http://tracker.test", "tracker@example.org")
    tomorrow = TODAY + timedelta(days=1)  # the digest reports the refills recorded the day before
    assert [s.item.code for s in gather(session, tomorrow, NOW, options).warnings] == ["residual_discrepancy"]
    assert load_existing(session, [patient.mrn_key])[patient.mrn_key].last_fill.id == visit.id

    void_refill(session, world.actor(), visit.id, "Wrong patient", NOW)
    assert gather(session, tomorrow, NOW, options).warnings == []
    assert load_existing(session, [patient.mrn_key])[patient.mrn_key].last_fill.at_implant
