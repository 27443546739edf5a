"""The role matrix, cell by cell: every (role, route, method) built from the app's URL map and tracker/policy.py.

A role the policy allows gets anything but 403 (and never a server error); any other role gets 403 and the
database is left exactly as it was. A new route without a permission fails the first test."""

import pytest
from flask import url_for
from sqlalchemy import select

from config import TestConfig
from tests.support.factories import TODAY, make_patient
from tests.web.test_accounts import row_counts
from tracker import create_app
from tracker.models import DrugConcentration, PumpModel, StageEvent
from tracker.policy import ALL_ROLES, PERMISSIONS, allowed

# Routes open without a role, and why: signing in and out, static files, the health check (no patient data)
# and the calendar feed (its secret token is the credential); the FHIR API's views (fhir.*), whose bearer token is
# the credential and which no browser session opens (tests/fhir/test_api.py).
OPEN_ENDPOINTS = {"auth.login", "auth.logout", "static", "health.healthz", "calendar.feed"}
API_PREFIX = "fhir."
ROLES = sorted(ALL_ROLES)


def _cells():
    """(endpoint, rule, method, permission) for every guarded route; built once, at collection time."""
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    cells = []
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint)):
        if rule.endpoint in OPEN_ENDPOINTS or rule.endpoint.startswith(API_PREFIX):
            continue
        permission = getattr(app.view_functions[rule.endpoint], "permission", None)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            cells.append((rule.endpoint, method, permission))
    return cells


CELLS = _cells()


def test_every_route_is_open_on_purpose_or_carries_a_known_permission():
    assert CELLS
    missing = [(endpoint, method) for endpoint, method, permission in CELLS if permission is None]
    assert missing == [], f"routes without requires(): {missing}"
    unknown = {permission for _, _, permission in CELLS} - set(PERMISSIONS)
    assert unknown == set()


def _url(app, session, world, endpoint: str) -> str:
    """A URL for the endpoint, pointing at real records where the route takes an id."""
    patient = make_patient(session, world)
    ids = {
        "patient_id": patient.id,
        "event_id": session.scalar(select(StageEvent.id).where(StageEvent.patient_id == patient.id)),
        "user_id": world.users["admin"].id,
        "drug_id": session.scalar(select(DrugConcentration.id)),
        "model_id": session.scalar(select(PumpModel.id)),
        "location_id": world.clinic.id,
        "appointment_id": 1,
        "visit_id": 1,
        "dose_id": 1,
        "bolus_id": 1,  # no such entry: a 404 for the roles allowed
        "request_id": 1,
        "pump_event_id": 1,
        "advisory_id": 1,  # no such advisory: a 404 for the roles allowed
        "follow_up_id": 1,
        "message_id": 1,
        "session_id": 1,  # not the signed-in user's own: refused as not found
        "client_id": 1,  # no such API client: a 404 for admins
        "day": TODAY.isoformat(),
    }
    rule = next(r for r in app.url_map.iter_rules() if r.endpoint == endpoint)
    with app.test_request_context():
        return url_for(endpoint, **{name: ids[name] for name in rule.arguments})


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("endpoint, method, permission", CELLS, ids=[f"{m} {e}" for e, m, _ in CELLS])
def test_role_matrix_cell(app, world, session, as_role, role, endpoint, method, permission):
    url = _url(app, session, world, endpoint)
    client = as_role(role)
    before = row_counts(session)
    response = client.get(url) if method == "GET" else client.post(url, {})
    if allowed(role, permission):
        assert response.status_code != 403, (role, method, url)
        assert response.status_code < 500, (role, method, url, response.status_code)
    else:
        assert response.status_code == 403, (role, method, url, response.status_code)
        assert row_counts(session) == before, (role, method, url)
