"""The trial-bolus form warns before saving, and no clinical choice is pre-selected (issue 17, item 6)."""

import re
from datetime import timedelta

from sqlalchemy import func, select

from tests.support.factories import TODAY, bolus_data, implanted_days_ago, make_patient, move, patient_data
from tracker.formats import fmt_date
from tracker.models import ContactAttempt, Patient, TrialBolus
from tracker.services import trial_boluses
from tracker.services.catalogue import settings_version, update_settings
from tracker.services.settings import all_settings


def form_of(data: dict, **extra) -> dict:
    out = {k: ("y" if v is True else "" if v in (None, False) else str(v)) for k, v in data.items()}
    out.update({k: str(v) for k, v in extra.items()})
    return {k: v for k, v in out.items() if not (k == "withdrawal_risk" and v == "")}


def selects(page: str) -> dict[str, list[tuple[str, bool]]]:
    """Each <select>'s options as (value, selected)."""
    found = {}
    for attrs, body in re.findall(r"<select([^>]*)>(.*?)</select>", page, re.S):
        name = re.search(r'name="([^"]+)"', attrs).group(1)
        found[name] = [
            (value, "selected" in before + after)
            for before, value, after in re.findall(r'<option([^>]*?)value="([^"]*)"([^>]*)>', body)
        ]
    return found


def assert_nothing_chosen(page: str, names: list[str]) -> None:
    options = selects(page)
    for name in names:
        assert options[name][0][0] == "", f"{name}: the first choice is the empty one"
        assert not [v for v, selected in options[name] if selected and v], f"{name} is pre-selected"
    assert not re.search(r'<input[^>]*type="radio"[^>]*checked', page), "no radio is pre-checked"


def in_trial(session, world) -> Patient:
    patient = make_patient(session, world)
    move(session, world, patient, "trial", days_ago=3)
    return patient


def bolus_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(TrialBolus.id)))


BOLUS_CHOICES = ["ashworth_before", "ashworth_after", "penn_frequency_before", "penn_frequency_after", "outcome"]


def test_the_bolus_form_preselects_no_score_or_outcome_and_says_the_usual_doses(as_role, world, session):
    patient = in_trial(session, world)
    page = as_role("nurse").get(f"/patients/{patient.id}/bolus").get_data(as_text=True)
    assert_nothing_chosen(page, BOLUS_CHOICES)
    assert re.search(r'<input[^>]*name="concentration_mcg_per_ml"[^>]*value="50"', page), "the trial strength"
    assert "Usually 50, then 75, then 100 mcg, at least 24 h apart (25-100 mcg at 50 mcg/mL)." in page


def test_a_missing_outcome_is_refused_beside_the_field_and_the_rest_is_kept(as_role, world, session):
    patient = in_trial(session, world)
    data = form_of(bolus_data(TODAY, notes="tone much better"), outcome="")
    response = as_role("nurse").post(f"/patients/{patient.id}/bolus", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose the outcome: positive, negative or equivocal." in page
    assert "tone much better" in page and ("3", True) in selects(page)["ashworth_before"]
    assert bolus_count(session) == 0


def test_missing_scores_are_refused_each_with_its_message(as_role, world, session):
    patient = in_trial(session, world)
    data = form_of(bolus_data(TODAY), ashworth_after="", penn_frequency_before="")
    page = as_role("nurse").post(f"/patients/{patient.id}/bolus", data).get_data(as_text=True)
    assert "Choose the Ashworth score after." in page and "Choose the Penn frequency before (0-4)." in page
    assert bolus_count(session) == 0


def test_a_textbook_first_bolus_saves_with_no_warning(as_role, world, session):
    patient = in_trial(session, world)
    response = as_role("nurse").post(f"/patients/{patient.id}/bolus", form_of(bolus_data(TODAY)))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert session.scalar(select(TrialBolus)).warnings == []


def test_warnings_are_shown_and_nothing_is_saved_until_acknowledged(as_role, world, session):
    patient = in_trial(session, world)
    nurse = as_role("nurse")
    # A first bolus of 100 mcg at 500 mcg/mL: the wrong strength, and 50 and 75 skipped.
    typed = form_of(bolus_data(TODAY, dose_mcg=100, concentration_mcg_per_ml=500, notes="as ordered"))
    response = nurse.post(f"/patients/{patient.id}/bolus", typed)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'data-code="trial_concentration"' in page and 'data-code="trial_sequence"' in page
    assert "Concentration 500 mcg/mL is not the trial concentration (50 mcg/mL)" in page
    assert "A first bolus of 100 mcg skips the usual start: 50, then 75, then 100 mcg." in page
    assert 'value="100"' in page and 'value="500"' in page and "as ordered" in page, "what was typed is kept"
    assert 'name="acknowledge"' in page
    assert bolus_count(session) == 0

    # Ticking the box without the warnings having been shown (or for other ones) saves nothing.
    response = nurse.post(
        f"/patients/{patient.id}/bolus", {**typed, "acknowledge": "y", "shown_warnings": "trial_concentration"}
    )
    assert response.status_code == 422 and "tick the box to save this bolus anyway" in response.get_data(as_text=True)
    assert bolus_count(session) == 0

    response = nurse.post(
        f"/patients/{patient.id}/bolus",
        {**typed, "acknowledge": "y", "shown_warnings": "trial_concentration,trial_sequence"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    bolus = session.scalar(select(TrialBolus))
    assert (
        bolus.dose_mcg,
        bolus.concentration_mcg_per_ml,
        bolus.ashworth_before,
        bolus.ashworth_after,
        bolus.penn_frequency_before,
        bolus.penn_severity_before,
    ) == (100, 500, "3", "1+", 3, 2), "raw scores"
    assert [(w["code"], w["severity"]) for w in bolus.warnings] == [
        ("trial_concentration", "high"),
        ("trial_sequence", "medium"),
    ]
    shown = nurse.get(response.location).get_data(as_text=True)
    assert "Saved despite:" in shown and "A first bolus of 100 mcg skips the usual start" in shown


def test_a_second_bolus_the_same_day_and_a_skipped_step_warn(as_role, world, session):
    patient = in_trial(session, world)
    trial_boluses.record_bolus(
        session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=1), "negative"), TODAY
    )
    nurse = as_role("nurse")
    response = nurse.post(f"/patients/{patient.id}/bolus", form_of(bolus_data(TODAY, "negative", dose_mcg=75)))
    assert response.status_code == 302 and bolus_count(session) == 2, "50 then 75 the next day: no warning, saved"
    response = nurse.post(f"/patients/{patient.id}/bolus", form_of(bolus_data(TODAY, dose_mcg=125)))
    page = response.get_data(as_text=True)
    assert response.status_code == 422 and bolus_count(session) == 2
    assert re.findall(r'data-code="(\w+)"', page) == ["trial_dose_range", "trial_spacing", "trial_sequence"]
    assert f"Another bolus (75 mcg) was given on {fmt_date(TODAY)}, the same day" in page
    assert "From 75 to 125 mcg skips a step" in page


def test_the_clinics_settings_move_the_warnings(as_role, world, session):
    patient = in_trial(session, world)
    update_settings(session, world.actor("admin"), {"trial_first_dose_mcg": 25, "trial_dose_step_mcg": 25})
    response = as_role("nurse").post(f"/patients/{patient.id}/bolus", form_of(bolus_data(TODAY)))
    assert response.status_code == 422
    assert "A first bolus of 50 mcg skips the usual start: 25, then 50, then 75, then 100 mcg." in response.get_data(
        as_text=True
    )


def test_the_admin_page_shows_the_trial_settings_and_refuses_an_upside_down_range(as_role, session):
    admin = as_role("admin")
    page = admin.get("/admin/settings").get_data(as_text=True)
    for label in (
        "Trial bolus warning: concentration other than (mcg/mL)",
        "Trial bolus warning: dose above (mcg)",
        "Trial bolus warning: less than this between boluses (hours)",
    ):
        assert label in page
    current = all_settings(session)
    form = {k: str(v) for k, v in (current | {"version": settings_version(current), "trial_dose_max_mcg": 20}).items()}
    response = admin.post("/admin/settings", form)
    assert response.status_code == 422
    assert "The trial dose range needs its upper limit above its lower limit (25 mcg)." in response.get_data(
        as_text=True
    )


def test_a_new_patient_has_no_sex_diagnosis_or_origin_chosen_for_them(as_role, world, session):
    nurse = as_role("nurse")
    page = nurse.get("/patients/new").get_data(as_text=True)
    assert_nothing_chosen(page, ["sex", "diagnosis", "spasticity_origin"])
    data = form_of(
        patient_data(world, mrn="NOSEX1", first_name="Grace"),
        referred_on=TODAY.isoformat(),
        sex="",
        spasticity_origin="",
    )
    response = nurse.post("/patients/new", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose the sex (or Unknown)." in page and "Choose spinal or cerebral." in page
    assert 'value="NOSEX1"' in page and 'value="Grace"' in page and ("ms", True) in selects(page)["diagnosis"]
    assert session.scalar(select(func.count(Patient.id)).where(Patient.mrn == "NOSEX1")) == 0


def test_a_contact_attempt_has_no_outcome_chosen_and_a_missing_one_is_refused(as_role, world, session):
    patient = implanted_days_ago(session, world, 20)  # due in 3 days, not booked: on the worklist
    coordinator = as_role("coordinator")
    page = coordinator.get("/worklist").get_data(as_text=True)
    assert f'id="p{patient.id}"' in page
    assert_nothing_chosen(page, ["outcome"])
    response = coordinator.post(
        f"/patients/{patient.id}/contacts?location=&nurse=",
        {"method": "sms", "outcome": "", "notes": "mother will call back"},
    )
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Choose the outcome of the attempt." in page
    assert "mother will call back" in page and ("sms", True) in selects(page)["method"]
    assert session.scalar(select(func.count(ContactAttempt.id))) == 0
    response = coordinator.post(
        f"/patients/{patient.id}/contacts?location=&nurse=",
        {"method": "sms", "outcome": "voicemail", "notes": "mother will call back"},
    )
    assert response.status_code == 302 and response.location.endswith(f"#p{patient.id}")
    assert session.scalar(select(ContactAttempt.outcome)) == "voicemail"
