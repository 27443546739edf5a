"""An administrator edits the clinic settings and the pump and drug catalogues; the refill dates they touch move."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from tests.support.factories import TODAY, bolus_data, implant_details, make_patient, move, to_adjustment
from tracker.models import AuditEvent, DrugConcentration, Pump, PumpModel, RefillSchedule, Setting
from tracker.services import DomainError, trial_boluses
from tracker.services import catalogue as catalogue_service
from tracker.services.catalogue import settings_version, update_settings
from tracker.services.refills import current_pump
from tracker.services.settings import all_settings

IMPLANTED_ON = TODAY - timedelta(days=10)  # to_adjustment implants 10 days ago


def implanted(session, world, concentration: int = 500, **patient_overrides):
    """An implanted patient in adjustment: 20 mL pump filled to 20 mL at `concentration`, 300 mcg/day."""
    if concentration == 500:
        return to_adjustment(session, world, make_patient(session, world, **patient_overrides))
    patient = make_patient(session, world, **patient_overrides)
    move(session, world, patient, "trial", days_ago=20)
    trial_boluses.record_bolus(session, world.actor(), patient.id, bolus_data(TODAY - timedelta(days=19)), TODAY)
    move(
        session,
        world,
        patient,
        "implantation",
        days_ago=10,
        surgery_centre_id=world.centre.id,
        surgeon="Dr Shaw",
        implant=implant_details(session, concentration=concentration),
        role="physician",
    )  # above the guide
    return patient


def shown(page: str, name: str) -> str:
    """The value an input shows."""
    return re.search(rf'<input[^>]*name="{name}"[^>]*value="([^"]*)"', page).group(1)


def schedule(session, patient) -> RefillSchedule:
    session.expire_all()
    return session.get(RefillSchedule, current_pump(session, patient.id).id)


def settings_form(session, **changes) -> dict:
    current = all_settings(session)
    return {k: str(v) for k, v in (current | {"version": settings_version(current)} | changes).items()}


def audit_rows(session, entity: str) -> list[AuditEvent]:
    session.expire_all()
    return list(session.scalars(select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.id)))


def drug(session, concentration: int) -> DrugConcentration:
    session.expire_all()
    return session.scalar(select(DrugConcentration).where(DrugConcentration.concentration_mcg_per_ml == concentration))


def pump_model(session, name: str = "SynchroMed II 20 mL") -> PumpModel:
    session.expire_all()
    return session.scalar(select(PumpModel).where(PumpModel.name == name))


def drug_form(row: DrugConcentration, **changes) -> dict:
    data = {
        "stability_days": row.stability_days,
        "trial_only": "y" if row.trial_only else "",
        "active": "y" if row.active else "",
        "version": row.version,
    } | changes
    return {k: str(v) for k, v in data.items() if v != ""}


def model_form(row: PumpModel, **changes) -> dict:
    data = {
        "default_alarm_ml": row.default_alarm_ml,
        "battery_life_months": row.battery_life_months or "",
        "eri_to_stop_days": row.eri_to_stop_days or "",
        "accuracy_fraction": row.accuracy_fraction,
        "mri_rule": row.mri_rule or "",
        "active": "y" if row.active else "",
        "version": row.version,
    } | changes
    return {k: str(v) for k, v in data.items() if not (k == "active" and v == "")}


# -- the safety buffers -----------------------------------------------------------------------------------------


def test_a_longer_safety_buffer_brings_the_refill_due_date_forward_by_as_many_days(as_role, world, session):
    patient = implanted(session, world)
    before = schedule(session, patient)
    assert (before.binding_rule, before.alarm_date, before.due_date) == (
        "alarm",
        IMPLANTED_ON + timedelta(days=30),
        IMPLANTED_ON + timedelta(days=23),
    )  # domain.md's example
    admin = as_role("admin")

    response = admin.post("/admin/settings", settings_form(session, safety_buffer_days=10))

    assert response.status_code == 302, response.get_data(as_text=True)
    assert "Saved. Refill dates recomputed for 1 pump." in admin.get(response.location).get_data(as_text=True)
    after = schedule(session, patient)
    assert after.due_date == IMPLANTED_ON + timedelta(days=20)
    assert after.alarm_date == before.alarm_date
    assert session.get(Setting, "safety_buffer_days").value == "10"
    (row,) = audit_rows(session, "settings")
    assert (row.action, row.user_id, row.before, row.after) == (
        "update",
        world.users["admin"].id,
        {"safety_buffer_days": 7},
        {"safety_buffer_days": 10},
    )


def test_the_high_risk_buffer_applies_only_to_patients_flagged_at_withdrawal_risk(as_role, world, session):
    usual = implanted(session, world)
    at_risk = implanted(session, world, withdrawal_risk=True, withdrawal_risk_reason="SCI at T4")
    assert schedule(session, at_risk).due_date == IMPLANTED_ON + timedelta(days=16)  # 30 - 14
    usual_due = schedule(session, usual).due_date

    response = as_role("admin").post("/admin/settings", settings_form(session, high_risk_buffer_days=21))

    assert response.status_code == 302, response.get_data(as_text=True)
    assert schedule(session, at_risk).due_date == IMPLANTED_ON + timedelta(days=9)
    assert schedule(session, usual).due_date == usual_due
    (row,) = audit_rows(session, "settings")
    assert (row.before, row.after) == ({"high_risk_buffer_days": 14}, {"high_risk_buffer_days": 21})


def test_the_safety_buffer_leaves_patients_at_withdrawal_risk_on_their_own_buffer(as_role, world, session):
    at_risk = implanted(session, world, withdrawal_risk=True, withdrawal_risk_reason="Earlier withdrawal")
    due = schedule(session, at_risk).due_date
    assert as_role("admin").post("/admin/settings", settings_form(session, safety_buffer_days=3)).status_code == 302
    assert schedule(session, at_risk).due_date == due


def test_saving_unchanged_settings_writes_nothing(as_role, world, session):
    implanted(session, world)
    admin = as_role("admin")
    response = admin.post("/admin/settings", settings_form(session))
    assert response.status_code == 302
    assert "Nothing changed." in admin.get(response.location).get_data(as_text=True)
    assert audit_rows(session, "settings") == []
    assert session.scalar(select(func.count()).select_from(Setting)) == 0


def test_settings_page_lists_every_setting_with_its_label_and_value(as_role, world, session):
    session.add(Setting(name="titration_limit_spinal_pct", value="25"))
    session.commit()
    page = as_role("admin").get("/admin/settings").get_data(as_text=True)
    assert "Safety buffer for high withdrawal risk patients (days)" in page
    assert shown(page, "titration_limit_spinal_pct") == "25"
    assert shown(page, "safety_buffer_days") == "7"


BAD_SETTINGS = [
    ("negative buffer", {"safety_buffer_days": "-5"}, "safety_buffer_days", "from 0 to 60"),
    ("thousand-day buffer", {"safety_buffer_days": "1000"}, "safety_buffer_days", "from 0 to 60"),
    ("buffer not a number", {"safety_buffer_days": "abc"}, "safety_buffer_days", "Not a valid integer"),
    ("buffer empty", {"safety_buffer_days": ""}, "safety_buffer_days", "This field is required"),
    (
        "high risk shorter than usual",
        {"safety_buffer_days": "20"},
        "high_risk_buffer_days",
        "cannot be shorter than the safety buffer",
    ),
    ("titration over 100%", {"titration_limit_cerebral_pct": "150"}, "titration_limit_cerebral_pct", "from 1 to 100"),
    ("titration 0%", {"titration_limit_spinal_pct": "0"}, "titration_limit_spinal_pct", "from 1 to 100"),
    (
        "dose range upside down",
        {"usual_dose_min_mcg_per_day": "900", "usual_dose_max_mcg_per_day": "800"},
        "usual_dose_max_mcg_per_day",
        "upper limit above its lower limit",
    ),
    ("discrepancy threshold 0 mL", {"residual_discrepancy_ml": "0"}, "residual_discrepancy_ml", "from 1 to 10"),
]


@pytest.mark.parametrize("case, changes, field, message", BAD_SETTINGS, ids=[c[0] for c in BAD_SETTINGS])
def test_bad_settings_are_refused_beside_the_field_and_nothing_changes(
    as_role, world, session, case, changes, field, message
):
    patient = implanted(session, world)
    due = schedule(session, patient).due_date

    response = as_role("admin").post("/admin/settings", settings_form(session, **changes))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page and message in page
    assert schedule(session, patient).due_date == due
    assert session.scalar(select(func.count()).select_from(Setting)) == 0
    assert audit_rows(session, "settings") == []


def test_stale_settings_form_is_refused_and_shows_the_saved_values(as_role, world, session):
    patient = implanted(session, world)
    opened = settings_form(session, safety_buffer_days=5)
    other_admin = as_role("admin")
    assert other_admin.post("/admin/settings", settings_form(session, safety_buffer_days=10)).status_code == 302

    response = as_role("admin").post("/admin/settings", opened)

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else saved the settings" in page
    assert shown(page, "safety_buffer_days") == "10"
    assert "Safety buffer before the alarm date (days): 5" in page, "what the user typed is listed, not lost"
    assert session.get(Setting, "safety_buffer_days").value == "10"
    assert schedule(session, patient).due_date == IMPLANTED_ON + timedelta(days=20)
    assert len(audit_rows(session, "settings")) == 1


def test_a_failing_recompute_writes_nothing(world, session, monkeypatch):
    patient = implanted(session, world)
    due = schedule(session, patient).due_date

    def fails(*args, **kwargs):
        raise DomainError("The projection failed.")

    monkeypatch.setattr(catalogue_service, "recompute_schedule", fails)
    with pytest.raises(DomainError):
        update_settings(session, world.actor("admin"), {"safety_buffer_days": 10})

    assert session.get(Setting, "safety_buffer_days") is None
    assert audit_rows(session, "settings") == []
    assert schedule(session, patient).due_date == due


# -- the drug catalogue -----------------------------------------------------------------------------------------


def test_a_shorter_drug_stability_binds_for_pumps_filled_at_that_concentration_only(as_role, world, session):
    at_500 = implanted(session, world, concentration=500)
    at_1000 = implanted(session, world, concentration=1000)
    before_1000 = schedule(session, at_1000)
    assert (before_1000.binding_rule, before_1000.due_date) == ("alarm", IMPLANTED_ON + timedelta(days=53))
    admin = as_role("admin")
    row = drug(session, 500)
    version = row.version

    response = admin.post(f"/admin/catalogue/drugs/{row.id}", drug_form(row, stability_days=20))

    assert response.status_code == 302, response.get_data(as_text=True)
    assert "Saved. Refill dates recomputed for 1 pump." in admin.get(response.location).get_data(as_text=True)
    after_500 = schedule(session, at_500)
    assert (after_500.binding_rule, after_500.due_date, after_500.stability_date) == (
        "stability",
        IMPLANTED_ON + timedelta(days=20),
        IMPLANTED_ON + timedelta(days=20),
    )
    after_1000 = schedule(session, at_1000)
    assert (after_1000.binding_rule, after_1000.due_date, after_1000.computed_at) == (
        "alarm",
        before_1000.due_date,
        before_1000.computed_at,
    ), "a pump holding another concentration is untouched"
    (audit,) = audit_rows(session, "drug_concentration")
    assert (audit.entity_id, audit.before, audit.after) == (row.id, {"stability_days": 180}, {"stability_days": 20})
    assert drug(session, 500).version == version + 1


def test_explanted_pumps_are_not_recomputed(as_role, world, session):
    patient = implanted(session, world)
    pump = current_pump(session, patient.id)
    pump.explanted_on = TODAY
    session.commit()
    row = drug(session, 500)
    admin = as_role("admin")
    response = admin.post(f"/admin/catalogue/drugs/{row.id}", drug_form(row, stability_days=20))
    assert "Saved. No refill date depends on this change." in admin.get(response.location).get_data(as_text=True)


@pytest.mark.parametrize(
    "value, message",
    [
        ("0", "between 1 and 365"),
        ("366", "between 1 and 365"),
        ("abc", "Not a valid integer"),
        ("", "This field is required"),
    ],
)
def test_bad_stability_is_refused_and_nothing_changes(as_role, world, session, value, message):
    patient = implanted(session, world)
    due = schedule(session, patient).due_date
    row = drug(session, 500)

    response = as_role("admin").post(f"/admin/catalogue/drugs/{row.id}", drug_form(row, stability_days=value))

    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'id="stability_days-error"' in page and message in page
    assert drug(session, 500).stability_days == 180
    assert schedule(session, patient).due_date == due
    assert audit_rows(session, "drug_concentration") == []


def test_stale_drug_edit_is_refused_and_nothing_overwritten(as_role, world, session):
    row = drug(session, 500)
    opened = drug_form(row, stability_days=90)
    assert (
        as_role("admin").post(f"/admin/catalogue/drugs/{row.id}", drug_form(row, stability_days=120)).status_code == 302
    )

    response = as_role("admin").post(f"/admin/catalogue/drugs/{row.id}", opened)

    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else saved this concentration" in page
    assert shown(page, "stability_days") == "120"
    assert drug(session, 500).stability_days == 120
    assert len(audit_rows(session, "drug_concentration")) == 1


def test_a_concentration_in_a_pump_cannot_be_withdrawn(as_role, world, session):
    implanted(session, world)
    row = drug(session, 500)
    form = drug_form(row)
    del form["active"]
    response = as_role("admin").post(f"/admin/catalogue/drugs/{row.id}", form)
    assert response.status_code == 422
    assert "1 pump holds 500 mcg/mL now" in response.get_data(as_text=True)
    assert drug(session, 500).active is True


def test_admin_adds_a_concentration(as_role, world, session):
    admin = as_role("admin")
    response = admin.post("/admin/catalogue/drugs/new", {"concentration_mcg_per_ml": "3000", "stability_days": "90"})
    assert response.status_code == 302, response.get_data(as_text=True)
    added = drug(session, 3000)
    assert (added.stability_days, added.trial_only, added.active) == (90, False, True)
    (audit,) = audit_rows(session, "drug_concentration")
    assert (audit.action, audit.entity_id, audit.after) == (
        "create",
        added.id,
        {"concentration_mcg_per_ml": 3000, "stability_days": 90, "trial_only": False, "active": True},
    )
    assert "3000 mcg/mL" in admin.get("/admin/catalogue").get_data(as_text=True)


def test_a_concentration_already_in_the_catalogue_is_not_added_twice(as_role, world, session):
    response = as_role("admin").post(
        "/admin/catalogue/drugs/new", {"concentration_mcg_per_ml": "500", "stability_days": "90"}
    )
    assert response.status_code == 422
    assert "500 mcg/mL is in the catalogue already" in response.get_data(as_text=True)
    assert session.scalar(select(func.count()).select_from(DrugConcentration)) == 4
    assert audit_rows(session, "drug_concentration") == []


# -- the pump catalogue -----------------------------------------------------------------------------------------


def test_a_models_default_alarm_volume_leaves_implanted_pumps_alone(as_role, world, session):
    patient = implanted(session, world)
    before = schedule(session, patient)
    model = pump_model(session)
    admin = as_role("admin")
    page = admin.get(f"/admin/catalogue/pumps/{model.id}").get_data(as_text=True)
    assert "Each implanted pump keeps its own alarm volume" in page
    assert shown(page, "default_alarm_ml") == "2"

    response = admin.post(f"/admin/catalogue/pumps/{model.id}", model_form(model, default_alarm_ml="4"))

    assert response.status_code == 302, response.get_data(as_text=True)
    assert "No refill date depends on this change." in admin.get(response.location).get_data(as_text=True)
    assert pump_model(session).default_alarm_ml == 4
    assert current_pump(session, patient.id).alarm_volume_ml == 2
    after = schedule(session, patient)
    assert (after.due_date, after.computed_at) == (before.due_date, before.computed_at)
    (audit,) = audit_rows(session, "pump_model")
    assert (audit.before, audit.after) == ({"default_alarm_ml": "2.000"}, {"default_alarm_ml": "4.000"})


def test_a_pump_model_without_a_battery(as_role, world, session):
    model = pump_model(session)
    response = as_role("admin").post(f"/admin/catalogue/pumps/{model.id}", model_form(model, battery_life_months=""))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert pump_model(session).battery_life_months is None
    (audit,) = audit_rows(session, "pump_model")
    assert (audit.before, audit.after) == ({"battery_life_months": 84}, {"battery_life_months": None})


def test_the_eri_to_stop_window_is_edited_in_the_catalogue_and_empty_means_no_battery(as_role, world, session):
    model = pump_model(session)
    admin = as_role("admin")
    assert shown(admin.get(f"/admin/catalogue/pumps/{model.id}").get_data(as_text=True), "eri_to_stop_days") == "90"

    response = admin.post(f"/admin/catalogue/pumps/{model.id}", model_form(model, eri_to_stop_days="60"))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert pump_model(session).eri_to_stop_days == 60
    assert shown(admin.get(f"/admin/catalogue/pumps/{model.id}").get_data(as_text=True), "eri_to_stop_days") == "60"
    response = admin.post(f"/admin/catalogue/pumps/{model.id}", model_form(pump_model(session), eri_to_stop_days=""))
    assert response.status_code == 302, response.get_data(as_text=True)
    assert pump_model(session).eri_to_stop_days is None
    assert [(a.before, a.after) for a in audit_rows(session, "pump_model")] == [
        ({"eri_to_stop_days": 90}, {"eri_to_stop_days": 60}),
        ({"eri_to_stop_days": 60}, {"eri_to_stop_days": None}),
    ]
    assert pump_model(session, "Prometra II 20 mL").eri_to_stop_days is None  # no battery-driven pump


BAD_MODEL = [
    ("alarm at the reservoir", {"default_alarm_ml": "5"}, "default_alarm_ml", "below the 5 mL reservoir"),
    ("alarm below 0.5 mL", {"default_alarm_ml": "0.2"}, "default_alarm_ml", "between 0.5 and 10"),
    ("accuracy over 0.5", {"accuracy_fraction": "0.6"}, "accuracy_fraction", "between 0 and 0.5"),
    ("battery 0 months", {"battery_life_months": "0"}, "battery_life_months", "between 1 and 240"),
    ("battery not a number", {"battery_life_months": "seven"}, "battery_life_months", "Not a valid integer"),
    ("ERI window 0 days", {"eri_to_stop_days": "0"}, "eri_to_stop_days", "between 1 and 365"),
]


@pytest.mark.parametrize("case, changes, field, message", BAD_MODEL, ids=[c[0] for c in BAD_MODEL])
def test_bad_pump_model_input_is_refused(as_role, world, session, case, changes, field, message):
    if case == "alarm at the reservoir":  # no catalogue pump is this small; the rule still holds
        session.add(
            PumpModel(
                name="Test 5 mL",
                reservoir_ml=5,
                default_alarm_ml=1,
                battery_life_months=None,
                accuracy_fraction=Decimal("0.1"),
                mri_rule="check_after",
            )
        )
        session.commit()
    model = pump_model(session, "Test 5 mL" if case == "alarm at the reservoir" else "SynchroMed II 20 mL")
    response = as_role("admin").post(f"/admin/catalogue/pumps/{model.id}", model_form(model, **changes))
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page and message in page
    assert audit_rows(session, "pump_model") == []


def test_stale_pump_model_edit_is_refused(as_role, world, session):
    model = pump_model(session)
    opened = model_form(model, default_alarm_ml="3")
    assert (
        as_role("admin").post(f"/admin/catalogue/pumps/{model.id}", model_form(model, default_alarm_ml="4")).status_code
        == 302
    )
    response = as_role("admin").post(f"/admin/catalogue/pumps/{model.id}", opened)
    assert response.status_code == 409
    assert "Someone else saved this pump model" in response.get_data(as_text=True)
    assert pump_model(session).default_alarm_ml == 4


def test_catalogue_page_lists_both_catalogues(as_role, world, session):
    page = as_role("admin").get("/admin/catalogue").get_data(as_text=True)
    for text in (
        "SynchroMed II 40 mL",
        "Prometra 20 mL",
        "Prometra II 40 mL",
        "No battery-driven pump",
        "±14.5%",
        "50 mcg/mL",
        "Trial only",
        "2000 mcg/mL",
        "180 days",
    ):
        assert text in page


# -- who may -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["nurse", "coordinator", "physician"])
def test_only_an_admin_may_see_or_change_settings_and_catalogues(as_role, world, session, role):
    patient = implanted(session, world)
    due = schedule(session, patient).due_date
    model, row = pump_model(session), drug(session, 500)
    client = as_role(role)
    for url in (
        "/admin/settings",
        "/admin/catalogue",
        f"/admin/catalogue/pumps/{model.id}",
        f"/admin/catalogue/drugs/{row.id}",
        "/admin/catalogue/drugs/new",
    ):
        assert client.get(url).status_code == 403, url
    posts = [
        ("/admin/settings", settings_form(session, safety_buffer_days=10)),
        (f"/admin/catalogue/pumps/{model.id}", model_form(model, default_alarm_ml="4")),
        (f"/admin/catalogue/drugs/{row.id}", drug_form(row, stability_days=20)),
        ("/admin/catalogue/drugs/new", {"concentration_mcg_per_ml": "3000", "stability_days": "90"}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    assert "/admin/settings" not in client.get("/patients").get_data(as_text=True)

    assert session.scalar(select(func.count()).select_from(Setting)) == 0
    assert drug(session, 500).stability_days == 180 and drug(session, 3000) is None
    assert pump_model(session).default_alarm_ml == 2
    assert schedule(session, patient).due_date == due
    assert (
        session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.entity.in_(["settings", "pump_model", "drug_concentration"]))
        )
        == 0
    )


def test_the_settings_link_is_shown_to_admins(as_role, world, session):
    assert 'href="/admin/settings"' in as_role("admin").get("/patients").get_data(as_text=True)


def test_the_service_refuses_non_admins_too(world, session):
    with pytest.raises(DomainError):
        update_settings(session, world.actor("physician"), {"safety_buffer_days": 10})
    assert session.scalar(select(func.count()).select_from(Pump)) == 0


def test_an_admin_sets_a_clinics_24_hour_phone_and_the_emergency_summary_prints_it(as_role, world, session):
    patient = to_adjustment(session, world, make_patient(session, world))
    clinic = world.clinic
    admin = as_role("admin")
    form = {
        "address": "1 Main St",
        "phone": "770-555-0100",
        "emergency_phone": "+1 (770) 555-0199 x12",
        "version": str(clinic.version),
    }
    assert admin.post(f"/admin/catalogue/locations/{clinic.id}", form).status_code == 302
    summary = as_role("nurse").get(f"/patients/{patient.id}/emergency").get_data(as_text=True)
    # Both dial from the summary on a phone or tablet: the extension is shown, a tel: link cannot dial it.
    assert '<a class="phone" href="tel:+17705550199">+1 (770) 555-0199 x12</a>' in summary
    assert 'office <a class="phone" href="tel:7705550100">770-555-0100</a>' in summary
    assert session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.entity == "location")) == 1
    bad = admin.post(
        f"/admin/catalogue/locations/{clinic.id}",
        {**form, "emergency_phone": "call Ada", "version": str(clinic.version + 1)},
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and "24-hour phone may hold digits" in page and 'value="call Ada"' in page
    stale = admin.post(f"/admin/catalogue/locations/{clinic.id}", {**form, "emergency_phone": "111"})
    assert stale.status_code == 409, "a form opened before the last save is refused"
    session.expire_all()
    assert clinic.emergency_phone == "+1 (770) 555-0199 x12"
    assert as_role("coordinator").get(f"/admin/catalogue/locations/{clinic.id}").status_code == 403
