"""Bad input gets a clear message beside the field, keeps what was typed, and writes nothing."""

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.support.factories import TODAY, bolus_data, make_patient, move, patient_data
from tests.web.test_patients import form_of
from tracker.models import AuditEvent, Patient, StageEvent, TrialBolus
from tracker.services.patients import has_positive_trial  # noqa: F401  (imported for clarity of the domain)

LONG = "x" * 10_000
FUTURE = (TODAY + timedelta(days=3)).isoformat()


def counts(session):
    session.expire_all()
    return tuple(session.scalar(select(func.count(m.id))) for m in (Patient, StageEvent, TrialBolus, AuditEvent))


NEW_PATIENT_CASES = [
    ("impossible date", {"date_of_birth": "1970-02-31"}, "date_of_birth", "Not a valid date"),
    ("future birth", {"date_of_birth": FUTURE}, "date_of_birth", "cannot be in the future"),
    ("future referral", {"referred_on": FUTURE}, "referred_on", "between birth and today"),
    ("referral before birth", {"referred_on": "1960-01-01"}, "referred_on", "between birth and today"),
    ("10,000-character name", {"last_name": LONG}, "last_name", "Field cannot be longer than 80"),
    ("10,000-character MRN", {"mrn": LONG}, "mrn", "Field cannot be longer than 40"),
    ("empty MRN", {"mrn": "   "}, "mrn", "This field is required"),
    ("unknown diagnosis", {"diagnosis": "flu"}, "diagnosis", "Not a valid choice"),
    ("unknown location", {"location_id": "999999"}, "location_id", "Not a valid choice"),
    ("location not a number", {"location_id": "abc"}, "location_id", "Invalid Choice: could not coerce"),
    ("nurse who is not a nurse", {"nurse_id": "COORD"}, "nurse_id", "Not a valid choice"),
    (
        "risk without reason",
        {"withdrawal_risk": "y", "withdrawal_risk_reason": ""},
        "withdrawal_risk_reason",
        "Say why",
    ),
]


@pytest.mark.parametrize("case, changes, field, message", NEW_PATIENT_CASES, ids=[c[0] for c in NEW_PATIENT_CASES])
def test_new_patient_bad_input(as_role, world, session, case, changes, field, message):
    nurse = as_role("nurse")
    data = form_of(patient_data(world, last_name="Typedname"), referred_on=TODAY.isoformat())
    changes = {k: (str(world.users["coordinator"].id) if v == "COORD" else v) for k, v in changes.items()}
    data.update(changes)
    before = counts(session)
    response = nurse.post("/patients/new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert f'id="{field}-error"' in page, "the error is shown beside its field"
    if field != "last_name":
        assert 'value="Typedname"' in page, "what the user typed is kept"
    assert counts(session) == before


def test_duplicate_mrn_written_differently_is_refused(as_role, world, session):
    make_patient(session, world, mrn="AB123")
    nurse = as_role("nurse")
    before = counts(session)
    data = form_of(patient_data(world, mrn=" ab123 "), referred_on=TODAY.isoformat())
    response = nurse.post("/patients/new", data)
    assert response.status_code == 422
    assert "Another patient already has this MRN" in response.get_data(as_text=True)
    assert counts(session) == before


def test_missing_csrf_token_is_refused_and_writes_nothing(as_role, world, session):
    nurse = as_role("nurse")
    before = counts(session)
    data = form_of(patient_data(world), referred_on=TODAY.isoformat())
    response = nurse.post("/patients/new", data, csrf=False)
    assert response.status_code == 400 and "Form expired" in response.get_data(as_text=True)
    response = nurse.post("/patients/new", {**data, "csrf_token": "forged"})
    assert response.status_code == 400
    assert counts(session) == before


MOVE_CASES = [
    ("31 Feb", {"effective_date": "2026-02-31"}, "Not a valid date"),
    ("future", {"effective_date": FUTURE}, "cannot be in the future"),
    (
        "before previous event",
        {"effective_date": (TODAY - timedelta(days=60)).isoformat(), "reason": "late"},
        "cannot be before the previous stage change",
    ),
    ("back-dated without reason", {"effective_date": (TODAY - timedelta(days=5)).isoformat()}, "need a reason"),
    ("unknown move", {"move": "exit:abducted"}, "cannot move to &#39;exit:abducted&#39;. Allowed: Trial"),
    ("long reason", {"reason": LONG}, "Field cannot be longer than 2000"),
    ("no version", {"version": ""}, "This field is required"),
]


@pytest.mark.parametrize("case, changes, message", MOVE_CASES, ids=[c[0] for c in MOVE_CASES])
def test_move_bad_input(as_role, world, session, case, changes, message):
    patient = make_patient(session, world, referred_days_ago=30)
    nurse = as_role("nurse")
    data = {"move": "trial", "effective_date": TODAY.isoformat(), "reason": "", "version": patient.version}
    data.update(changes)
    before = counts(session)
    response = nurse.post(f"/patients/{patient.id}/move", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(session) == before
    assert session.get(Patient, patient.id).stage == "evaluation"


BOLUS_CASES = [
    ("negative dose", {"dose_mcg": "-5"}, "Number must be between 5 and 200"),
    ("huge dose", {"dose_mcg": "100000"}, "Number must be between 5 and 200"),
    ("dose not a number", {"dose_mcg": "lots"}, "Not a valid integer"),
    ("impossible date", {"given_on": "2026-02-31"}, "Not a valid date"),
    ("future", {"given_on": FUTURE}, "cannot be in the future"),
    ("before the trial", {"given_on": (TODAY - timedelta(days=10)).isoformat()}, "before the trial began"),
    ("unknown Ashworth", {"ashworth_before": "5"}, "Not a valid choice"),
    ("Penn severity 9", {"penn_severity_before": "9"}, "Not a valid choice"),
    ("negative hours", {"hours_of_effect": "-1"}, "Number must be between 0 and 72"),
    ("unknown outcome", {"outcome": "great"}, "Not a valid choice"),
    ("long notes", {"notes": LONG}, "Field cannot be longer than 4000"),
]


@pytest.mark.parametrize("case, changes, message", BOLUS_CASES, ids=[c[0] for c in BOLUS_CASES])
def test_bolus_bad_input(as_role, world, session, case, changes, message):
    patient = make_patient(session, world, referred_days_ago=30)
    move(session, world, patient, "trial", days_ago=1)
    nurse = as_role("nurse")
    data = form_of(bolus_data(TODAY))
    data.update(changes)
    before = counts(session)
    response = nurse.post(f"/patients/{patient.id}/bolus", data)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert counts(session) == before


def test_unknown_patient_is_a_404_not_a_500(as_role, world):
    nurse = as_role("nurse")
    assert nurse.get("/patients/999999").status_code == 404
    assert nurse.post("/patients/999999/move", {"move": "trial"}).status_code == 404


def test_garbage_query_parameters_do_not_break_the_list(as_role, world):
    nurse = as_role("nurse")
    for query in ("page=-1", "page=abc", "location=x", "sort=drop", "stage=<b>", "q=" + "%" * 500, "nurse=1e9"):
        assert nurse.get(f"/patients?{query}").status_code == 200, query
    assert nurse.get("/board?location=abc").status_code == 200


CALCULATOR = {
    "reservoir_ml": "20",
    "fill_volume_ml": "20",
    "concentration_mcg_per_ml": "500",
    "dose_mcg_per_day": "200",
    "bolus_dose_mcg": "25",
    "max_boluses_per_day": "4",
    "alarm_volume_ml": "2",
    "buffer_days": "7",
    "stability_days": "180",
    "fill_date": "2027-01-01",
}
CALCULATOR_CASES = [
    (
        "a schedule as well as a dose",
        {"flex_schedule": "00:00 8"},
        "dose_mcg_per_day",
        "not both or neither",
        "00:00 8</textarea>",
    ),
    (
        "a schedule in words",
        {"dose_mcg_per_day": "", "flex_schedule": "8 all day"},
        "flex_schedule",
        "&#39;8 all day&#39; is not a step",
        "8 all day</textarea>",
    ),
    (
        "a day that is not a day",
        {"dose_mcg_per_day": "", "flex_schedule": "00:00 8\nWeekend: 00:00 6"},
        "flex_schedule",
        "&#39;Weekend&#39; is not a day of the week",
        "Weekend: 00:00 6</textarea>",
    ),
    (
        "a bolus without its maximum",
        {"max_boluses_per_day": ""},
        "max_boluses_per_day",
        "Enter the maximum boluses a day too",
        'value="25"',
    ),
    (
        "a fill time in words",
        {"fill_time": "after lunch"},
        "fill_time",
        "Not a valid time value",
        'value="after lunch"',
    ),
    (
        "a previous concentration of 0.5",
        {"previous_concentration_mcg_per_ml": "0.5"},
        "previous_concentration_mcg_per_ml",
        "Not a valid integer value",
        'value="0.5"',
    ),
]


@pytest.mark.parametrize("case, changes, field, message, kept", CALCULATOR_CASES, ids=[c[0] for c in CALCULATOR_CASES])
def test_calculator_bad_input(as_role, world, session, case, changes, field, message, kept):
    before = counts(session)
    response = as_role("nurse").get("/calculator/", query_string=CALCULATOR | changes)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in page
    assert f'id="{field}-error"' in page, "the error is shown beside its field"
    assert kept in page, "what the user typed is kept"
    assert "Refill due" not in page
    assert counts(session) == before
