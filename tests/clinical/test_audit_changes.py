"""The audit trail in words: labels, units, codes and ids as names (tracker.admin.audit_changes, pure)."""

import pytest

from tracker.admin.audit_changes import Change, describe_event, references
from tracker.clinic_zone import clinic_zone_name, set_clinic_zone

NAMES = {
    "user": {3: "Dr Grace Hopper", 1: "Kim Nurse"},
    "location": {3: "Kennesaw Clinic", 5: "Buckhead Clinic"},
    "pump_model": {1: "SynchroMed II 20 mL"},
    "pump": {7: "NGP1001"},
    "drug_concentration": {2: "2000 mcg/mL"},
}


@pytest.fixture(autouse=True)
def new_york():
    """Times read on the clinic's clock: New York here, whatever zone the run's app set."""
    before = clinic_zone_name()
    set_clinic_zone("America/New_York")
    yield
    set_clinic_zone(before)


def lines(action, entity, before, after, entity_id=None) -> list[str]:
    said = describe_event(action, entity, entity_id, before, after, NAMES)
    return [
        f"{c.label}: {c.before} → {c.after}" if c.before is not None else f"{c.label}: {c.after}" for c in said.changes
    ]


def test_a_dose_change_reads_as_the_old_dose_and_the_new_with_its_unit_once():
    text = lines(
        "create",
        "dose_change",
        {"daily_dose_mcg": "300.00"},
        {
            "effective_at": "2026-12-03T09:21:13.197611-05:00",
            "mode": "simple",
            "daily_dose_mcg": "330.00",
            "flex_schedule": None,
            "bolus_dose_mcg": "0",
            "max_boluses_per_day": 0,
            "reason": "More tone",
            "signed_off_by_id": 3,
        },
    )
    assert text == [
        "Programmed: 3 Dec 2026 09:21",
        "Mode: Simple",
        "Dose: 300 → 330 mcg/day",
        "Bolus dose: 0 mcg",
        "Boluses a day, at most: 0",
        "Reason: More tone",
        "Signed off by: Dr Grace Hopper",
    ]


def test_an_edit_lists_only_what_differs_with_clinics_and_nurses_by_name_and_codes_by_label():
    text = lines(
        "update",
        "patient",
        {"location_id": 3, "nurse_id": None, "diagnosis": "ms", "withdrawal_risk": False, "version": 1},
        {"location_id": 5, "nurse_id": 1, "diagnosis": "sci", "withdrawal_risk": True, "version": 2},
    )
    assert text == [
        "Clinic: Kennesaw Clinic → Buckhead Clinic",
        "Primary nurse: — → Kim Nurse",
        "Diagnosis: Multiple sclerosis → Spinal cord injury",
        "High withdrawal risk: No → Yes",
    ]


def test_a_note_keeps_its_line_breaks_as_text_not_escapes():
    said = describe_event(
        "create",
        "pump_event",
        4,
        None,
        {"kind": "mri", "notes": "Brain MRI\nPump emptied first", "pump_id": 7, "volume_removed_ml": "14.500"},
        NAMES,
    )
    assert said.record == "Pump event #4" and said.action == "Added"
    assert said.changes == [
        Change("Event", None, "MRI scan"),
        Change("Notes", None, "Brain MRI\nPump emptied first"),
        Change("Pump", None, "NGP1001"),
        Change("Volume removed", None, "14.5 mL"),
    ]


def test_a_void_shows_why_and_the_dates_it_moved():
    text = lines(
        "void",
        "refill_visit",
        {"due_date": "2026-12-24", "alarm_date": "2026-12-31"},
        {
            "void_reason": "18 mL went in; 20 was typed",
            "corrected_by": 12,
            "due_date": "2026-12-20",
            "alarm_date": "2026-12-31",
        },
    )
    assert text == [
        "Why voided: 18 mL went in; 20 was typed",
        "Replaced by: #12",
        "Refill due: 24 Dec 2026 → 20 Dec 2026",
    ]


def test_a_request_payload_reads_as_fields_with_the_form_time_in_the_clinic_zone():
    text = lines(
        "create",
        "physician_request",
        None,
        {
            "kind": "booking_after_alarm",
            "pump_id": 7,
            "note": "",
            "payload": {"starts_at": "2026-12-04T10:00", "location_id": 3, "clinician_id": 1},
        },
    )
    assert text == [
        "Kind: Booking after the alarm date",
        "Pump: NGP1001",
        "Details: Appointment: 4 Dec 2026 10:00; Clinic: Kennesaw Clinic; Clinician: Kim Nurse",
    ]


def test_accounts_settings_and_catalogue_rows_name_their_record():
    assert (
        describe_event("update", "user", 3, {"role": "physician"}, {"role": "admin"}, NAMES).record
        == "Account: Dr Grace Hopper"
    )
    assert lines("update", "user", {"location_id": 3}, {"location_id": None}) == ["Home location: Kennesaw Clinic → —"]
    assert lines("update", "settings", {"safety_buffer_days": 7}, {"safety_buffer_days": 10}) == [
        "Safety buffer before the alarm date (days): 7 → 10"
    ]
    assert lines(
        "update",
        "pump_model",
        {"accuracy_fraction": "0.1450", "active": True},
        {"accuracy_fraction": "0.1000", "active": False},
    ) == ["Accuracy: ±14.5% → ±10%", "In use: Yes → No"]
    said = describe_event("update", "drug_concentration", 2, None, {"stability_days": 20}, NAMES)
    assert said.record == "Drug concentration: 2000 mcg/mL"


def test_a_flexible_schedule_reads_as_its_steps():
    schedule = {"default": [["00:00", "10.000"], ["07:00", "15"]], "by_weekday": {"5": [["00:00", "12"]]}}
    assert lines("create", "dose_change", None, {"mode": "flex", "flex_schedule": schedule}) == [
        "Mode: Flexible schedule",
        "Flexible schedule: 00:00 10 · 07:00 15; Sat: 00:00 12 mcg/h",
    ]


def test_unknown_ids_and_values_typed_into_a_url_never_fail():
    text = lines(
        "export",
        "patient_list",
        None,
        {"filters": {"location": "99", "start": "not-a-date", "q": "x"}, "rows": 4, "names": True},
    )
    assert text == ["Filters: Clinic: #99; From: not-a-date; Search: x", "Rows: 4", "With names: Yes"]
    assert lines("create", "mystery", None, {"odd_field_id": 4, "flex_schedule": "garbled"}) == [
        "Odd field: 4",
        "Flexible schedule: garbled",
    ]


def test_references_lists_every_id_shown_as_a_name_once_per_kind():
    found = references(
        [
            ("patient", 9, {"location_id": 3, "nurse_id": 1}, {"location_id": 5, "nurse_id": 1}),
            ("physician_request", 2, None, {"pump_id": 7, "payload": {"location_id": 4, "clinician_id": 6}}),
            ("user", 3, None, {"location_id": 3}),
            ("patient_list", None, None, {"filters": {"location": "8"}}),
        ]
    )
    assert found["location"] == {3, 4, 5, 8} and found["user"] == {1, 3, 6} and found["pump"] == {7}


def test_dates_and_times_read_as_on_every_page_on_the_clinics_clock():
    said = describe_event(
        "create", "stage_event", 1, None, {"effective_date": "2026-10-24", "to_stage": "trial"}, NAMES
    )
    assert said.changes == [Change("Effective", None, "24 Oct 2026"), Change("To", None, "Trial")]
    said = describe_event(
        "update", "pump_event", 1, {"done_at": None}, {"done_at": "2026-12-03T14:26:35.620979+00:00"}, NAMES
    )
    assert said.changes == [Change("Done", "—", "3 Dec 2026 09:26")]
