"""Fuzzing every form: random and hostile values posted to every POST route as every role, with a valid CSRF token.

Routes come from the app's URL map (as in test_role_matrix), ids point at real records (an implanted patient, its
pump, its appointment...). Whatever is sent, the app never answers 5xx, and a rejected post (4xx, or the form
shown again with 200/422) leaves every table's row count as it was. A redirect is an accepted write: the fuzz
carries on from the new state. NUL bytes are left out: they get a deliberate 400 (tracker/web/hooks.py).

The total number of requests and server errors is printed by the last test, per database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import url_for
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from config import TestConfig
from tests.support.factories import TODAY, implanted_days_ago, make_user
from tracker import create_app
from tracker.clinical.import_columns import COLUMNS as IMPORT_COLUMNS
from tracker.clinical.settings_spec import DEFAULTS
from tracker.extensions import db
from tracker.models import (
    AdvisoryFollowUp,
    DoseChange,
    DrugConcentration,
    Pump,
    PumpModel,
    RefillVisit,
    StageEvent,
    TrialBolus,
    UserSession,
)
from tracker.models import RefillAppointment as Appointment
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.policy import ALL_ROLES, allowed
from tracker.services import advisories, api_clients, escalation, pump_events, sessions
from tracker.services.refills import current_pump

pytestmark = pytest.mark.slow

ROLES = sorted(ALL_ROLES)
EXAMPLES = 12  # per (route, role) the policy allows: small enough for < 60 s on SQLite and PostgreSQL
FORBIDDEN_EXAMPLES = 3  # where the policy refuses the role, every post is the same cheap 403
STATS = {"requests": 0, "server_errors": 0, "rejected": 0, "accepted": 0, "cells": 0}

# The fields each route's form reads (tracker/*/forms.py); unknown extra fields are added at random as well.
PATIENT = [
    "mrn",
    "first_name",
    "last_name",
    "date_of_birth",
    "sex",
    "diagnosis",
    "spasticity_origin",
    "location_id",
    "nurse_id",
    "withdrawal_risk",
    "withdrawal_risk_reason",
    "phone",
    "version",
]
FIELDS: dict[str, list[str]] = {
    "auth.login": ["email", "password"],
    "auth.logout": [],
    "auth.password": ["current_password", "password", "confirm"],
    "auth.end_other_sessions": [],
    "auth.end_one_session": [],
    "calendar.my_feed": [],
    "admin.edit_drug": ["stability_days", "trial_only", "active", "version"],
    "admin.new_drug": ["concentration_mcg_per_ml", "stability_days", "trial_only"],
    "admin.edit_pump_model": [
        "default_alarm_ml",
        "battery_life_months",
        "eri_to_stop_days",
        "accuracy_fraction",
        "mri_rule",
        "active",
        "version",
    ],
    "admin.edit_location": ["address", "phone", "emergency_phone", "version"],
    "admin.resend_digest": [],
    "admin.settings": [*DEFAULTS, "version"],
    "admin.set_user_active": ["active"],
    "admin.new_user": ["email", "full_name", "role", "location_id", "password"],
    "admin.edit_user": ["email", "full_name", "role", "location_id", "version"],
    "admin.reset_user_password": [],
    "admin.unlock_user": [],
    "admin.api_clients": ["name"],
    "admin.revoke_api_client": [],
    "calendar.cancel": ["why", "version"],
    "patients.bolus": [
        "given_on",
        "dose_mcg",
        "concentration_mcg_per_ml",
        "ashworth_before",
        "ashworth_after",
        "penn_frequency_before",
        "penn_severity_before",
        "penn_frequency_after",
        "penn_severity_after",
        "hours_of_effect",
        "outcome",
        "notes",
        "acknowledge",
        "shown_warnings",
    ],
    "calendar.book": [
        "starts_at",
        "location_id",
        "clinician_id",
        "late_reason",
        "override_reason",
        "why",
        "appointment_id",
        "version",
    ],
    "calendar.log_contact": ["method", "outcome", "notes"],
    "refills.dose": [
        "effective_at",
        "mode",
        "daily_dose_mcg",
        "flex_schedule",
        "bolus_dose_mcg",
        "max_boluses_per_day",
        "reason",
        "acknowledge",
        "last_dose_id",
        "action",
        "sign_off-note",
    ],
    "physician.ask": ["ask-kind", "ask-note", "ask-starts_at", "ask-location_id", "ask-clinician_id"],
    "physician.answer": ["note", "version", "approve", "decline"],
    "physician.withdraw": ["note", "version"],
    "patients.edit": PATIENT,
    "patients.void": ["why", "version"],
    "patients.move": [
        "move",
        "effective_date",
        "reason",
        "override_reason",
        "surgery_centre_id",
        "surgeon",
        "model_id",
        "serial",
        "catheter_tip_level",
        "alarm_volume_ml",
        "fill_volume_ml",
        "concentration_mcg_per_ml",
        "daily_dose_mcg",
        "version",
    ],
    "refills.eri": ["eri_on", "version"],
    "refills.pump_event": ["kind", "occurred_at", "volume_removed_ml", "notes", "pump_id"],
    "refills.event_check": ["note", "version"],
    "refills.event_review": ["note", "version"],
    "refills.refill": [
        "visit_at",
        "expected_residual_ml",
        "actual_residual_ml",
        "concentration_mcg_per_ml",
        "lot",
        "volume_added_ml",
        "resulting_volume_ml",
        "bridge_bolus_mcg",
        "ashworth",
        "penn_frequency",
        "complications",
        "notes",
        "acknowledge",
        "last_fill_id",
        "action",
    ],
    "patients.new_patient": [*PATIENT, "referred_on"],
    "corrections.refill": [
        "visit_at",
        "expected_residual_ml",
        "actual_residual_ml",
        "concentration_mcg_per_ml",
        "lot",
        "volume_added_ml",
        "resulting_volume_ml",
        "bridge_bolus_mcg",
        "ashworth",
        "penn_frequency",
        "complications",
        "notes",
        "acknowledge",
        "action",
        "why",
        "fill_volume_ml",
    ],
    "corrections.dose": [
        "effective_at",
        "mode",
        "daily_dose_mcg",
        "flex_schedule",
        "bolus_dose_mcg",
        "max_boluses_per_day",
        "reason",
        "acknowledge",
        "why",
    ],
    "corrections.bolus": [
        "given_on",
        "dose_mcg",
        "concentration_mcg_per_ml",
        "ashworth_before",
        "ashworth_after",
        "penn_frequency_before",
        "penn_severity_before",
        "penn_frequency_after",
        "penn_severity_after",
        "hours_of_effect",
        "outcome",
        "notes",
        "acknowledge",
        "shown_warnings",
        "why",
    ],
    "corrections.void_refill": ["why"],
    "corrections.void_dose": ["why"],
    "corrections.void_bolus": ["why"],
    "corrections.implant": [
        "serial",
        "catheter_tip_level",
        "alarm_volume_ml",
        "surgeon",
        "surgery_centre_id",
        "why",
        "version",
        "last_correction_id",
    ],
    "corrections.eri": ["eri_on", "why", "version", "last_correction_id", "action"],
    "advisories.new": [
        "title",
        "source",
        "issued_on",
        "model_ids",
        "serials",
        "serial_file",
        "implanted_from",
        "implanted_to",
        "distributed_from",
        "distributed_to",
        "concentrations",
        "lots",
        "recommended_action",
        "follow_up",
        "call_days",
    ],
    "advisories.follow_up": ["status", "notes", "version"],
    "advisories.close": ["close_note", "version"],
    "imports.upload": ["file"],
    "imports.columns": ["token", *(column.name for column in IMPORT_COLUMNS)],
    "imports.run": ["token", "acknowledge"],
}


def _post_routes():
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    endpoints = sorted(
        {
            rule.endpoint
            for rule in app.url_map.iter_rules()
            # the FHIR API's writes are all 405, for a client's token, not a form (tests/fhir/test_api.py)
            if "POST" in rule.methods and not rule.endpoint.startswith("fhir.")
        }
    )
    return endpoints, {e: getattr(app.view_functions[e], "permission", None) for e in endpoints}


ENDPOINTS, PERMISSION = _post_routes()


def test_every_post_route_has_a_field_list():
    assert ENDPOINTS and set(ENDPOINTS) == set(FIELDS), "a new POST route: add its form's fields to FIELDS"


# Values -------------------------------------------------------------------------------------------------------

HOSTILE = [
    "",
    " ",
    "-1",
    "0",
    "-0",
    "1.5",
    "-999999999999999999999999",
    "99999999999999999999999999999",
    "1e308",
    "-1e308",
    "NaN",
    "nan",
    "inf",
    "-Infinity",
    "0x1F",
    "1_000",
    "١٢٣",
    "²",
    "None",
    "null",
    "true",
    "[]",
    "{}",
    "[object]",
    "' OR '1'='1",
    "1; DROP TABLE patient; --",
    '" OR 1=1 --',
    "%",
    "_",
    "\\",
    "%00",
    "' UNION SELECT * FROM user --",
    "<script>alert(1)</script>",
    "<b>bold</b>",
    '"><img src=x onerror=alert(1)>',
    "{{7*7}}",
    "${7*7}",
    "=1+2",
    "\u202eevil\u202c",
    "שלום עולם",
    "مرحبا",
    "😀🔥💉",
    "👩‍⚕️",
    "Ω≈ç√∫",
    "ǅ",
    "\ufeff",
    "\u200b",
    "a\r\nb",
    "\t",
    "2026-02-31",
    "9999-12-31",
    "0001-01-01",
    "1900-01-01",
    "2026-13-01",
    "31/12/2025",
    "2026-01-01T25:61",
    "9999-12-31T23:59",
    "0001-01-01T00:00",
    "2026-1-1",
    "yesterday",
    "x" * 10_000,
    "é" * 5_000,
    "😀" * 2_500,
    "<" * 10_000,
    "9" * 10_000,
]
TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=60)
LONG = st.builds(
    lambda ch, n: ch * n, st.sampled_from(["x", "é", "😀", "\u202e", "'", "9"]), st.integers(1_000, 10_000)
)
NUMBER = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False, places=3).map(str),
)
HOSTILE_VALUE = st.one_of(st.sampled_from(HOSTILE), TEXT, LONG, NUMBER)


def plausible(ids: dict) -> dict[str, list[str]]:
    """Values a real form would send, so that the fuzz also gets past the first validation errors."""
    today, earlier = TODAY.isoformat(), (TODAY - timedelta(days=3)).isoformat()
    soon = [f"{(TODAY + timedelta(days=d)).isoformat()}T10:00" for d in (0, 1, 3, 20)]
    location_ids = [str(i) for i in ids["locations"]]
    user_ids = [str(i) for i in ids["users"]]
    versions = ["1", "2", "3", "4", "5"]
    return {
        "date_of_birth": ["1970-05-17"],
        # device advisories
        "title": ["Motor stall"],
        "source": ["FDA"],
        "issued_on": [today],
        "model_ids": [str(ids["model_id"])],
        "serials": ["NGP100000-NGP100500", "NGP1, ngp 0002", "NGP5-NGP1"],
        "follow_up": ["call_within", "inform_at_refill"],
        "call_days": ["7"],
        "recommended_action": ["Check the pump"],
        "status": ["informed", "not_reached", "action_taken"],
        "close_note": ["every patient reached"],
        "referred_on": [today, earlier],
        "effective_date": [today, earlier],
        "given_on": [today, earlier],
        "eri_on": [today, earlier],
        "eri_to_stop_days": ["90", ""],
        "kind": ["mri", "catheter_revision", "suspected_occlusion", "dye_study", ""],
        "occurred_at": [f"{earlier}T10:00", f"{today}T00:01"],
        "pump_id": [str(ids["pump_id"])],
        "volume_removed_ml": ["", "0", "12.5"],
        "mri_rule": ["check_after", "empty_before", ""],
        "visit_at": soon,
        "effective_at": soon,
        "starts_at": soon,
        "location_id": location_ids,
        "surgery_centre_id": location_ids,
        "nurse_id": user_ids,
        "clinician_id": user_ids,
        "model_id": [str(ids["model_id"])],
        "appointment_id": [str(ids["appointment_id"])],
        "last_fill_id": ["1", "2"],
        "last_dose_id": ["1", "2"],
        "version": versions,
        "move": ["trial", "implantation", "adjustment", "evaluation", "exit:deceased", "exit:transferred"],
        "sex": ["female", "male"],
        "diagnosis": ["ms"],
        "spasticity_origin": ["spinal", "cerebral"],
        "mrn": ["FUZZ1"],
        "first_name": ["Ada"],
        "last_name": ["Fuzz"],
        "phone": ["555 0100"],
        "emergency_phone": ["+1 770 555 0199", "x" * 50],
        "address": ["1 Main St"],
        "withdrawal_risk": ["y"],
        "withdrawal_risk_reason": ["fragile"],
        "serial": ["NGP77"],
        "catheter_tip_level": ["T10"],
        "surgeon": ["Dr Shaw"],
        "concentration_mcg_per_ml": ["500", "50", "2000"],
        "fill_volume_ml": ["20"],
        "alarm_volume_ml": ["2"],
        "daily_dose_mcg": ["300", "330", "3000"],
        "dose_mcg": ["50"],
        "hours_of_effect": ["4"],
        "ashworth_before": ["3"],
        "ashworth_after": ["1+"],
        "ashworth": ["2"],
        "penn_frequency_before": ["3"],
        "penn_frequency_after": ["1"],
        "penn_frequency": ["2"],
        "penn_severity_before": ["2"],
        "penn_severity_after": ["1"],
        "outcome": ["positive", "negative", "reached"],
        "expected_residual_ml": ["2.5"],
        "actual_residual_ml": ["2.4"],
        "volume_added_ml": ["17.5"],
        "resulting_volume_ml": ["20"],
        "acknowledge": ["y"],
        "action": ["save", "check", "sign_off", "void"],
        "last_correction_id": ["0", "1"],
        "mode": ["simple", "flex"],
        "flex_schedule": ["00:00 12.5\n08:00 15"],
        "bolus_dose_mcg": ["0", "25"],
        "max_boluses_per_day": ["0", "4"],
        "method": ["phone"],
        "why": ["patient asked"],
        "reason": ["clinical reasons"],
        "notes": ["fine"],
        "email": ["fuzz@example.org", "nurse@example.org"],
        "password": ["correct horse battery staple", "a much longer new password"],
        "current_password": ["wrong password here"],
        "confirm": ["a much longer new password"],
        "full_name": ["Fuzz User"],
        "role": ["nurse", "admin", "pharaoh"],
        "stability_days": ["180", "0"],
        "trial_only": ["y"],
        "active": ["y", "1", "0"],
        "default_alarm_ml": ["2"],
        "battery_life_months": ["84"],
        "accuracy_fraction": ["0.145"],
        **{name: ["7", "1"] for name in DEFAULTS},
        "ask-kind": ["booking_after_alarm", "dose_sign_off"],
        "ask-starts_at": soon,
        "note": ["checked"],
        "approve": ["y"],
        "decline": ["y"],
        "shown_warnings": ["trial_sequence", "trial_concentration,trial_sequence"],
    }


# Whole-number fields: a number too big for a float (e.g. "9" * 400) once crashed WTForms' NumberRange
# (math.isnan(int) -> OverflowError -> 500); tracker.fields.WholeNumberField refuses it. Pinned below.
INTEGER_FIELDS = {
    "admin.edit_drug": ["stability_days"],
    "admin.new_drug": ["concentration_mcg_per_ml", "stability_days"],
    "admin.edit_pump_model": ["battery_life_months"],
    "admin.settings": list(DEFAULTS),
    "patients.bolus": ["dose_mcg", "concentration_mcg_per_ml"],
    "refills.dose": ["max_boluses_per_day"],
    "corrections.bolus": ["dose_mcg", "concentration_mcg_per_ml"],
    "corrections.dose": ["max_boluses_per_day"],
    "advisories.new": ["call_days"],
}
SAFE_FOR_INTEGERS = HOSTILE_VALUE


@st.composite
def form_data(draw, fields: list[str], good: dict[str, list[str]], integer_fields=()):
    data = {}
    for name in fields:
        hostile = SAFE_FOR_INTEGERS if name in integer_fields else HOSTILE_VALUE
        choice = draw(st.sampled_from(["missing", "plausible", "plausible", "hostile", "list"]))
        if choice == "missing":
            continue
        if choice == "plausible":
            data[name] = draw(st.sampled_from(good.get(name) or ["1"]))
        elif choice == "hostile":
            data[name] = draw(hostile)
        else:  # the wrong type: several values for one field
            data[name] = draw(st.lists(hostile, min_size=2, max_size=3))
    extras = draw(
        st.dictionaries(
            st.sampled_from(
                ["id", "user_id", "role", "patient_id", "stage", "deleted", "version", "is_admin", "__class__", "next"]
            ),
            HOSTILE_VALUE,
            max_size=2,
        )
    )
    for name, value in extras.items():
        data.setdefault(name, value)
    return data


# The records the URLs and plausible values point at -------------------------------------------------------------


@pytest.fixture
def targets(app, session, world):
    patient = implanted_days_ago(session, world, 20)
    spare = make_user(session, "nurse", location=world.clinic)  # deactivated and reactivated by the fuzz
    event_id = session.scalar(
        select(StageEvent.id).where(StageEvent.patient_id == patient.id).order_by(StageEvent.id.desc())
    )
    appointment_id = session.scalar(select(Appointment.id).where(Appointment.patient_id == patient.id))
    pump_id = session.scalar(select(Pump.id).where(Pump.patient_id == patient.id))
    ids = {
        "patient_id": patient.id,
        "event_id": event_id,
        "user_id": spare.id,
        "drug_id": session.scalar(select(DrugConcentration.id)),
        "model_id": session.scalar(select(PumpModel.id)),
        "location_id": world.clinic.id,
        "appointment_id": appointment_id or 1,
        "message_id": 1,
        # Someone else's session (the spare nurse's): every role's post to end it must be refused.
        "session_id": session.scalar(
            select(UserSession.id).where(
                UserSession.token_hash == sessions.hash_token(sessions.start(session, spare, datetime.now(UTC)))
            )
        ),
        "request_id": escalation.ask_physician(
            session, world.actor("coordinator"), patient.id, BOOKING_AFTER_ALARM, "", None, datetime.now(UTC)
        ).id,
        # The entries a correction or void points at: the implant fill, the starting dose, the trial bolus.
        "visit_id": session.scalar(select(RefillVisit.id).where(RefillVisit.pump_id == pump_id)),
        "dose_id": session.scalar(select(DoseChange.id).where(DoseChange.pump_id == pump_id)),
        "bolus_id": session.scalar(select(TrialBolus.id).where(TrialBolus.patient_id == patient.id)),
        # A post-MRI check to record done (the review route finds no review on it: a 404, still never a 5xx).
        "pump_event_id": pump_events.record_event(
            session,
            world.actor(),
            patient.id,
            None,
            pump_events.EventEntry("mri", datetime.now(UTC) - timedelta(hours=1)),
            datetime.now(UTC),
        ).id,
        "pump_id": current_pump(session, patient.id).id,
        "client_id": api_clients.create_client(session, world.actor("admin"), "Fuzz EHR", datetime.now(UTC))[0].id,
        "locations": sorted(site.id for site in world.sites.values()),
        "users": sorted(user.id for user in world.users.values()),
    }
    # A device advisory catching the patient's pump: its follow-up to record, the advisory to close.
    advisory = advisories.create_advisory(
        session,
        world.actor(),
        advisories.AdvisoryEntry(
            "Recall",
            "FDA",
            TODAY,
            "Check the pump",
            "inform_at_refill",
            serials_text=current_pump(session, patient.id).serial,
        ),
        datetime.now(UTC),
    )
    ids["advisory_id"] = advisory.id
    ids["follow_up_id"] = session.scalar(select(AdvisoryFollowUp.id).where(AdvisoryFollowUp.advisory_id == advisory.id))
    return ids


def _book(client, ids):
    """Give the patient an open appointment so that cancel and rebook have something real to work on."""
    start = f"{(TODAY + timedelta(days=2)).isoformat()}T10:00"
    client.post(
        f"/patients/{ids['patient_id']}/book",
        {
            "starts_at": start,
            "location_id": ids["locations"][0],
            "clinician_id": "",
            "why": "",
            "late_reason": "",
            "override_reason": "",
            "appointment_id": "",
            "version": "",
        },
    )


def row_counts(session) -> dict[str, int]:
    """Every table's row count, read fresh in one round trip (as tests.web.test_accounts.row_counts). Sign-in
    sessions are left out: a test signing someone in between two counts writes no patient data."""
    session.expire_all()
    tables = [t for t in db.metadata.sorted_tables if t.name != "user_session"]
    counts = session.execute(select(*[select(func.count()).select_from(t).scalar_subquery() for t in tables])).one()
    return dict(zip([t.name for t in tables], counts, strict=True))


def _url(app, endpoint: str, ids: dict) -> str:
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        return url_for(endpoint, **{name: ids[name] for name in rule.arguments})


# Accepted with a page, not a redirect: what it shows is shown once, never put in a redirect or the session cookie.
SHOWN_ONCE = {"admin.reset_user_password", "admin.api_clients"}


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_fuzz_post(app, session, world, as_role, make_client, targets, endpoint):
    """Every role in turn (one set of records per route keeps the file fast); each role is its own cell."""
    assert row_counts(session)["patient"] == 1 and row_counts(session)["audit_event"] > 0  # the check has teeth
    for role in ROLES:
        _fuzz_cell(app, session, world, as_role, make_client, targets, endpoint, role)


def _fuzz_cell(app, session, world, as_role, make_client, ids, endpoint, role):
    client = as_role(role)
    if endpoint in ("calendar.cancel", "calendar.book"):  # an open appointment to cancel or rebook
        _book(client if role != "admin" else as_role("coordinator"), ids)
        ids["appointment_id"] = (
            session.scalar(
                select(Appointment.id)
                .where(Appointment.patient_id == ids["patient_id"])
                .order_by(Appointment.id.desc())
            )
            or 1
        )
    if endpoint == "auth.login":  # signing in is tried by someone not yet signed in
        client = make_client()
        client.refresh_token("/login")
    url = _url(app, endpoint, ids)
    good = plausible(ids)
    permitted = PERMISSION[endpoint] is None or allowed(role, PERMISSION[endpoint])
    # Signing out has no fields (only the random extras) and each accepted post costs a fresh sign-in.
    examples = FORBIDDEN_EXAMPLES if endpoint == "auth.logout" or not permitted else EXAMPLES
    STATS["cells"] += 1

    @settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(data=form_data(FIELDS[endpoint], good, INTEGER_FIELDS.get(endpoint, ())))
    def fuzz(data):
        before = row_counts(session)
        response = client.post(url, data)
        STATS["requests"] += 1
        status = response.status_code
        if status >= 500:
            STATS["server_errors"] += 1
        assert status < 500, (endpoint, role, data, response.get_data(as_text=True)[:2000])
        if status in (301, 302, 303, 307, 308) or (status == 200 and permitted and endpoint in SHOWN_ONCE):
            STATS["accepted"] += 1
            if endpoint == "auth.logout":
                client.login(world.users[role].email)
            return
        STATS["rejected"] += 1
        if not permitted:
            assert status == 403, (endpoint, role, status)
        assert status in (200, 422) or 400 <= status < 500, (endpoint, role, status)
        assert row_counts(session) == before, (endpoint, role, status, data)

    fuzz()


# The what-if calculator is a GET form (bookmarkable, writes nothing), fuzzed on its own: a plausible query (the PTM
# example and its variants) with up to three fields spoiled, so that most requests reach the engine.
CALCULATOR = {
    "reservoir_ml": ["20", "40"],
    "fill_volume_ml": ["20", "18", "5"],
    "concentration_mcg_per_ml": ["500", "2000"],
    "previous_concentration_mcg_per_ml": ["", "1000"],
    "fill_date": ["2027-01-09", TODAY.isoformat()],
    "fill_time": ["", "18:00", "02:30"],
    "alarm_volume_ml": ["2"],
    "buffer_days": ["7"],
    "stability_days": ["180"],
}
PROGRAMMES = [  # dose_mcg_per_day, flex_schedule, bolus_dose_mcg, max_boluses_per_day
    ("200", "", "25", "4"),
    ("300", "", "", ""),
    ("", "00:00 10\nSat Sun: 00:00 20", "", ""),
    ("", "00:00 8; 07:00 12", "50", "2"),
]
CALCULATOR_FIELDS = [*CALCULATOR, "dose_mcg_per_day", "flex_schedule", "bolus_dose_mcg", "max_boluses_per_day"]
CALCULATOR_EXAMPLES = 150


@st.composite
def calculator_query(draw):
    query = {name: draw(st.sampled_from(values)) for name, values in CALCULATOR.items()}
    query.update(zip(CALCULATOR_FIELDS[len(CALCULATOR) :], draw(st.sampled_from(PROGRAMMES)), strict=True))
    for name in draw(st.lists(st.sampled_from(CALCULATOR_FIELDS), max_size=3, unique=True)):
        spoil = draw(st.sampled_from(["missing", "hostile", "list"]))
        if spoil == "missing":
            del query[name]
        else:
            query[name] = draw(HOSTILE_VALUE if spoil == "hostile" else st.lists(HOSTILE_VALUE, min_size=2, max_size=3))
    return query


def test_fuzz_calculator(app, session, world, as_role):
    client = as_role("nurse")
    before = row_counts(session)
    STATS["cells"] += 1

    @settings(
        max_examples=CALCULATOR_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )
    @given(query=calculator_query())
    def fuzz(query):
        response = client.get("/calculator/", query_string=query)
        STATS["requests"] += 1
        STATS["server_errors"] += response.status_code >= 500
        assert response.status_code in (200, 422), (query, response.get_data(as_text=True)[:2000])
        STATS["accepted" if response.status_code == 200 else "rejected"] += 1

    fuzz()
    assert row_counts(session) == before


KNOWN_OVERFLOW = [(endpoint, field) for endpoint, fields in INTEGER_FIELDS.items() for field in fields[:2]]
ALLOWED_ROLE = {
    "admin.edit_drug": "admin",
    "admin.new_drug": "admin",
    "admin.edit_pump_model": "admin",
    "admin.settings": "admin",
    "patients.bolus": "nurse",
    "refills.dose": "nurse",
    "corrections.bolus": "nurse",
    "corrections.dose": "nurse",
    "advisories.new": "nurse",
}


@pytest.mark.parametrize("endpoint, field", KNOWN_OVERFLOW, ids=[f"{e}-{f}" for e, f in KNOWN_OVERFLOW])
def test_huge_whole_number_is_refused_not_a_server_error(app, session, world, as_role, targets, endpoint, field):
    client = as_role(ALLOWED_ROLE[endpoint])
    before = row_counts(session)
    response = client.post(_url(app, endpoint, targets), {field: "9" * 400})
    assert response.status_code in (200, 422)
    assert row_counts(session) == before


def test_zz_fuzz_summary(database_url, capsys):
    """Runs last in this file: how many requests the fuzz sent, and how many came back 5xx."""
    if not STATS["cells"]:
        pytest.skip("the fuzz cells did not run in this session")
    dialect = database_url.split(":", 1)[0].split("+")[0]
    line = (
        f"fuzz ({dialect}): {STATS['requests']} requests over {STATS['cells']} route x role cells, "
        f"{STATS['server_errors']} server errors ({STATS['accepted']} accepted, {STATS['rejected']} rejected)"
    )
    with capsys.disabled():
        print("\n" + line)
    assert STATS["server_errors"] == 0
    assert STATS["requests"] >= STATS["cells"] * FORBIDDEN_EXAMPLES
