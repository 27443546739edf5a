"""Nurses record and move patients through the journey, through the pages."""

from datetime import timedelta

from flask import url_for
from sqlalchemy import func, select

from tests.support.factories import TODAY, bolus_data, implant_details, make_patient, move, patient_data, to_adjustment
from tracker.models import AuditEvent, Implantation, Patient, StageEvent, TrialBolus
from tracker.services import patients as service
from tracker.services import trial_boluses


def IMPLANT_FORM(session) -> dict:  # noqa: N802  (a constant-like helper)
    from tracker.models import PumpModel

    model_id = session.scalar(select(PumpModel.id).where(PumpModel.name == "SynchroMed II 20 mL"))
    return {
        "model_id": model_id,
        "serial": "NGP123456",
        "catheter_tip_level": "T10",
        "fill_volume_ml": "20",
        "concentration_mcg_per_ml": "500",
        "daily_dose_mcg": "300",
    }


def form_of(data: dict, **extra) -> dict:
    out = {k: ("y" if v is True else "" if v in (None, False) else str(v)) for k, v in data.items()}
    out.update({k: str(v) for k, v in extra.items()})
    return {k: v for k, v in out.items() if not (k == "withdrawal_risk" and v == "")}


def test_nurse_creates_a_patient_who_starts_in_evaluation(as_role, world, session):
    nurse = as_role("nurse")
    data = patient_data(world, mrn=" ab123 ", first_name="Grace", last_name="Hopper")
    response = nurse.post("/patients/new", form_of(data, referred_on=TODAY.isoformat()))
    assert response.status_code == 302, response.get_data(as_text=True)
    patient = session.scalar(select(Patient).where(Patient.mrn_key == "ab123"))
    assert patient.mrn == "ab123" and patient.stage == "evaluation" and patient.stage_since == TODAY
    events = session.scalars(select(StageEvent).where(StageEvent.patient_id == patient.id)).all()
    assert [(e.from_stage, e.to_stage) for e in events] == [(None, "evaluation")]
    page = nurse.get(response.location).get_data(as_text=True)
    assert "Hopper, Grace" in page and "Referred" in page


def test_markup_in_names_is_shown_escaped(as_role, world, session):
    nurse = as_role("nurse")
    patient = make_patient(session, world, first_name="<script>alert(1)</script>")
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_full_journey_through_the_pages(as_role, world, session):
    nurse = as_role("nurse")
    patient = make_patient(session, world, referred_days_ago=10)
    pid = patient.id

    def go(to, **fields):
        session.expire_all()
        version = session.get(Patient, pid).version
        data = {"move": to, "effective_date": TODAY.isoformat(), "reason": "", "version": version}
        data.update(fields)
        return nurse.post(f"/patients/{pid}/move", data)

    assert go("trial").status_code == 302
    response = nurse.post(f"/patients/{pid}/bolus", form_of(bolus_data(TODAY)))
    assert response.status_code == 302, response.get_data(as_text=True)
    # The start is the 50 mcg trial's guide, 100 mcg/day: within it, a nurse records the implantation.
    response = go(
        "implantation",
        surgery_centre_id=world.centre.id,
        surgeon="Dr Shaw",
        **IMPLANT_FORM(session) | {"daily_dose_mcg": "100"},
    )
    assert response.status_code == 302, response.get_data(as_text=True)
    assert go("adjustment").status_code == 302
    session.expire_all()
    patient = session.get(Patient, pid)
    assert (patient.stage, patient.status) == ("adjustment", "active")
    implant = session.scalar(select(Implantation).where(Implantation.patient_id == pid))
    assert implant.surgeon == "Dr Shaw" and implant.surgery_centre_id == world.centre.id
    page = nurse.get(f"/patients/{pid}").get_data(as_text=True)
    for text in (
        "Evaluation → <b>Trial</b>",
        "Trial → <b>Implantation</b>",
        "Implantation → <b>Adjustment</b>",
        "Snellville Surgery Center",
    ):
        assert text in page


def test_a_refused_move_lists_the_allowed_ones_and_writes_nothing(as_role, world, session):
    nurse = as_role("nurse")
    patient = make_patient(session, world)
    before = session.scalar(select(func.count(StageEvent.id)))
    response = nurse.post(
        f"/patients/{patient.id}/move",
        {"move": "adjustment", "effective_date": TODAY.isoformat(), "version": patient.version},
    )
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "cannot move to Adjustment. Allowed: Trial, Exit: Not a candidate" in page
    assert session.scalar(select(func.count(StageEvent.id))) == before
    # The form only offers the allowed moves.
    page = nurse.get(f"/patients/{patient.id}/move").get_data(as_text=True)
    assert 'value="trial"' in page and 'value="adjustment"' not in page and "Not a candidate" in page


def test_implant_without_positive_trial_needs_a_physician_override(as_role, world, session):
    patient = make_patient(session, world, referred_days_ago=5)
    move(session, world, patient, "trial", days_ago=4)
    trial_boluses.record_bolus(
        session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=3), "negative"), TODAY
    )
    data = {
        "move": "implantation",
        "effective_date": TODAY.isoformat(),
        "surgery_centre_id": world.centre.id,
        "surgeon": "Dr Shaw",
        "version": session.get(Patient, patient.id).version,
        **IMPLANT_FORM(session),
    }
    nurse = as_role("nurse")
    response = nurse.post(f"/patients/{patient.id}/move", data)
    assert response.status_code == 422 and "No positive trial bolus" in response.get_data(as_text=True)
    response = nurse.post(f"/patients/{patient.id}/move", {**data, "override_reason": "Goals met clinically"})
    assert response.status_code == 422 and "Only a physician" in response.get_data(as_text=True)
    physician = as_role("physician")
    response = physician.post(f"/patients/{patient.id}/move", {**data, "override_reason": "Goals met clinically"})
    assert response.status_code == 302
    event = session.scalars(
        select(StageEvent).where(StageEvent.patient_id == patient.id).order_by(StageEvent.id.desc())
    ).first()
    assert event.override and "Goals met clinically" in event.reason


def test_voiding_the_latest_change_returns_the_patient_and_keeps_the_entry(as_role, world, session):
    patient = make_patient(session, world, referred_days_ago=5)
    move(session, world, patient, "trial", days_ago=2)
    session.expire_all()
    patient = session.get(Patient, patient.id)
    event = session.scalars(
        select(StageEvent).where(StageEvent.patient_id == patient.id).order_by(StageEvent.id.desc())
    ).first()
    nurse = as_role("nurse")
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert page.count("Void this entry") == 1 and f"/events/{event.id}/void" in page  # the latest change only
    response = nurse.post(
        f"/patients/{patient.id}/events/{event.id}/void", {"why": "Wrong patient chart", "version": patient.version}
    )
    assert response.status_code == 302
    session.expire_all()
    patient = session.get(Patient, patient.id)
    event = session.get(StageEvent, event.id)
    assert patient.stage == "evaluation" and patient.stage_since == TODAY - timedelta(days=5)
    assert event.voided and event.void_reason == "Wrong patient chart"
    assert event.voided_by_id == world.users["nurse"].id
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "<s>" in page and "Wrong patient chart" in page
    assert "Void this entry" not in page  # back to the referral alone, which is never voided


def test_the_referral_cannot_be_voided(world, session):
    patient = make_patient(session, world)
    event = session.scalar(select(StageEvent).where(StageEvent.patient_id == patient.id))
    try:
        service.void_last_event(session, world.actor(), patient.id, patient.version, event.id, "oops", None)
    except service.DomainError as error:
        assert "never the referral" in error.message
    else:
        raise AssertionError("the referral was voided")


def test_exit_and_re_referral_start_a_new_journey_and_keep_the_old_history(world, session):
    patient = make_patient(session, world, referred_days_ago=40)
    move(session, world, patient, "trial", days_ago=30)
    move(session, world, patient, "exit:trial_failed", days_ago=20)
    session.refresh(patient)
    assert (patient.status, patient.exit_reason) == ("exited", "trial_failed")
    move(session, world, patient, "evaluation", days_ago=1)
    session.refresh(patient)
    assert (patient.status, patient.stage, patient.journey_started) == (
        "active",
        "evaluation",
        TODAY - timedelta(days=1),
    )
    # A positive bolus from the old journey does not count for the new one.
    assert service.has_positive_trial(session, patient) is False
    events = session.scalars(
        select(StageEvent).where(StageEvent.patient_id == patient.id).order_by(StageEvent.id)
    ).all()
    assert [e.to_stage for e in events] == ["evaluation", "trial", "exited", "evaluation"]


def test_pump_replacement_goes_back_to_implantation(world, session):
    patient = to_adjustment(session, world, make_patient(session, world))
    move(
        session,
        world,
        patient,
        "implantation",
        surgery_centre_id=world.sites["Marietta Surgery Center"].id,
        surgeon="Dr Lee",
        implant=implant_details(session, model="Prometra II 40 mL", fill_ml="40"),
    )
    session.refresh(patient)
    assert patient.stage == "implantation"


def test_bolus_only_in_trial_and_penn_severity_rules(as_role, world, session):
    nurse = as_role("nurse")
    patient = make_patient(session, world)
    response = nurse.post(f"/patients/{patient.id}/bolus", form_of(bolus_data(TODAY)))
    assert response.status_code == 422 and "trial stage" in response.get_data(as_text=True)
    move(session, world, patient, "trial")
    bad = bolus_data(TODAY, penn_frequency_after=0, penn_severity_after=2)
    response = nurse.post(f"/patients/{patient.id}/bolus", form_of(bad))
    assert response.status_code == 422 and "Penn severity" in response.get_data(as_text=True)
    assert session.scalar(select(func.count(TrialBolus.id))) == 0


def test_list_search_filter_sort_and_paginate(as_role, world, session, app):
    for n in range(7):
        make_patient(session, world, mrn=f"ZX{n:03d}", last_name=f"Zed{n}", referred_days_ago=n + 1)
    make_patient(
        session,
        world,
        mrn="QQ1",
        last_name="Quill",
        withdrawal_risk=True,
        withdrawal_risk_reason="C5 SCI",
        location_id=world.sites["Buckhead Clinic"].id,
    )
    nurse = as_role("nurse")
    page = nurse.get("/patients?q=zx00").get_data(as_text=True)
    assert "ZX001" in page and "Quill" not in page
    page = nurse.get("/patients?q=quill").get_data(as_text=True)
    assert "QQ1" in page and "ZX001" not in page
    page = nurse.get("/patients?risk=1").get_data(as_text=True)
    assert "Quill" in page and "ZX001" not in page
    page = nurse.get(f"/patients?location={world.sites['Buckhead Clinic'].id}").get_data(as_text=True)
    assert "Quill" in page and "ZX001" not in page
    page = nurse.get("/patients?sort=days").get_data(as_text=True)
    assert page.index("ZX006") < page.index("ZX000")  # longest in stage first
    app.config["PAGE_SIZE"] = 3
    try:
        first, second = (
            nurse.get("/patients?sort=mrn").get_data(as_text=True),
            nurse.get("/patients?sort=mrn&page=2").get_data(as_text=True),
        )
        past_the_end = nurse.get("/patients?sort=mrn&page=99").get_data(as_text=True)
    finally:
        app.config["PAGE_SIZE"] = 50
    assert "Page 1 of 3" in first and "QQ1" in first and "ZX003" not in first
    assert "ZX003" in second and "QQ1" not in second
    # The total rides on each row of the page query, and is counted apart only past the end.
    assert all('<small class="muted">8 active' in page for page in (first, second, past_the_end))
    assert "Page 3 of 3" in past_the_end and "ZX006" in past_the_end, "a page past the end shows the last one"


def test_stage_board_counts_and_oldest_first(as_role, world, session):
    old = make_patient(session, world, last_name="Oldest", referred_days_ago=90)
    make_patient(session, world, last_name="Newest", referred_days_ago=1)
    to_adjustment(session, world, make_patient(session, world, last_name="Pumped", referred_days_ago=60))
    page = as_role("coordinator").get("/board").get_data(as_text=True)
    assert page.index("Oldest") < page.index("Newest")
    assert '<span class="count">2</span>' in page and '<span class="count">1</span>' in page
    assert f"/patients/{old.id}" in page
    other = world.sites["Buckhead Clinic"].id
    page = as_role("coordinator").get(f"/board?location={other}").get_data(as_text=True)
    assert "Oldest" not in page


def test_viewing_a_patient_is_audited(as_role, world, session):
    patient = make_patient(session, world)
    as_role("coordinator").get(f"/patients/{patient.id}")
    views = session.scalars(select(AuditEvent).where(AuditEvent.action == "view")).all()
    assert [(v.user_id, v.patient_id) for v in views] == [(world.users["coordinator"].id, patient.id)]


def test_coordinators_read_but_do_not_change_clinical_data(as_role, world, session):
    patient = make_patient(session, world)
    coordinator = as_role("coordinator")
    assert coordinator.get(f"/patients/{patient.id}").status_code == 200
    assert coordinator.get("/patients/new").status_code == 403
    before = session.scalar(select(func.count(StageEvent.id)))
    response = coordinator.post(
        f"/patients/{patient.id}/move",
        {"move": "trial", "effective_date": TODAY.isoformat(), "version": patient.version},
    )
    assert response.status_code == 403
    assert session.scalar(select(func.count(StageEvent.id))) == before


def test_list_and_board_build_patient_links_from_one_url(app):
    """The list and the board write /patients/<id> from one url_for (a url_for a row was a tenth of the board's
    time); this breaks the day the patient page's URL moves."""
    with app.test_request_context():
        assert url_for("patients.show", patient_id=42) == url_for("patients.list_patients") + "/42"


def test_list_shows_exits_with_their_reason_and_searches_wildcards_as_letters(as_role, world, session):
    gone = make_patient(session, world, mrn="EX1", last_name="Gone", referred_days_ago=40)
    move(session, world, gone, "trial", days_ago=30)
    move(session, world, gone, "exit:trial_failed", days_ago=20)
    make_patient(session, world, mrn="PC1", last_name="Per_cent")
    make_patient(session, world, mrn="PL1", last_name="Plain")
    make_patient(session, world, mrn="AR1", last_name="Arec")  # "rec" would match "r_c" if "_" were a wildcard
    nurse = as_role("nurse")
    for url, shown, hidden in [
        ("/patients?status=exited", '<span class="badge exited">Exited · Trial failed</span>', "Plain"),
        ("/patients", '<span class="badge stage-evaluation">Evaluation</span>', "Gone"),
        ("/patients?q=r_c", "Per_cent", "Arec"),
        ("/patients?q=%25", "No patients match", "Plain"),
    ]:
        page = nurse.get(url).get_data(as_text=True)
        assert shown in page and hidden not in page, url
