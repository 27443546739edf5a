"""Staff sign in and out, change their password, and the administrator manages accounts."""

import re
from urllib.parse import urlsplit

import pytest
from flask import url_for
from sqlalchemy import func, select

from tests.conftest import PASSWORD
from tests.support.factories import make_patient
from tracker.extensions import db
from tracker.models import User

WRONG_LOGIN = "The e-mail or password is not correct."
NEW_PASSWORD = "a new and longer passphrase"


def path_of(response) -> str:
    return urlsplit(response.location).path


def is_signed_in(client) -> bool:
    response = client.get("/patients")
    return response.status_code == 200


def row_counts(session) -> dict[str, int]:
    """How many rows each table holds, read fresh from the database."""
    session.expire_all()
    return {table.name: session.scalar(select(func.count()).select_from(table)) for table in db.metadata.sorted_tables}


def sign_in(client, email, password=PASSWORD):
    client.refresh_token("/login")
    return client.post("/login", {"email": email, "password": password})


# Signing in


def test_nurse_signs_in_with_the_right_password_and_lands_on_today(client, world):
    response = sign_in(client, "nurse@example.org")
    assert response.status_code == 302 and path_of(response) == "/"
    assert is_signed_in(client)


@pytest.mark.parametrize(
    "email, password",
    [
        ("nurse@example.org", "not the right password"),
        ("nobody@example.org", PASSWORD),
    ],
    ids=["wrong password", "unknown e-mail"],
)
def test_a_failed_sign_in_says_the_same_thing_whatever_was_wrong(client, world, email, password):
    response = sign_in(client, email, password)
    assert response.status_code == 200
    assert WRONG_LOGIN in response.get_data(as_text=True)
    assert not is_signed_in(client)


def test_the_e_mail_is_matched_whatever_its_case(client, world):
    response = sign_in(client, "  NURSE@EXAMPLE.ORG ")
    assert response.status_code == 302
    assert is_signed_in(client)


def test_the_stored_password_is_an_argon2id_hash(world, session):
    stored = session.scalar(select(User.password_hash).where(User.email == "nurse@example.org"))
    assert stored.startswith("$argon2id$")
    assert PASSWORD not in stored


@pytest.mark.parametrize(
    "target",
    [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example/",
        "/\t/evil.example/",
        "https:evil.example",
    ],
    ids=["absolute", "scheme-relative", "backslash", "tab", "scheme without slashes"],
)
def test_sign_in_never_sends_the_user_to_another_site(client, world, target):
    client.refresh_token("/login")
    response = client.post(
        "/login", {"email": "nurse@example.org", "password": PASSWORD}, query_string={"next": target}
    )
    assert response.status_code == 302
    location = response.location
    assert location.startswith("/") and not location.startswith("//"), location
    assert not urlsplit(location).netloc and "\\" not in location and "\t" not in location, location


def test_sign_in_returns_to_the_page_the_user_asked_for(client, world):
    client.refresh_token("/login")
    response = client.post(
        "/login", {"email": "nurse@example.org", "password": PASSWORD}, query_string={"next": "/board"}
    )
    assert response.status_code == 302 and response.location == "/board"


def test_sign_out_is_a_form_post_and_ends_the_session(as_role):
    nurse = as_role("nurse")
    assert nurse.get("/logout").status_code == 405
    assert is_signed_in(nurse)
    response = nurse.post("/logout")
    assert response.status_code == 302 and path_of(response) == "/login"
    response = nurse.get("/patients")
    assert response.status_code == 302 and path_of(response) == "/login"


# Deactivation


def deactivate(admin, user_id):
    admin.refresh_token("/admin/users")
    return admin.post(f"/admin/users/{user_id}/active", {"active": "0"})


def test_a_deactivated_nurse_cannot_sign_in(as_role, world, session, make_client):
    response = deactivate(as_role("admin"), world.users["nurse"].id)
    assert response.status_code == 302
    session.expire_all()
    assert session.get(User, world.users["nurse"].id).active is False
    response = sign_in(make_client(), "nurse@example.org")
    assert response.status_code == 200 and WRONG_LOGIN in response.get_data(as_text=True)


def test_deactivation_ends_the_session_the_nurse_already_has_open(as_role, world):
    nurse = as_role("nurse")
    assert is_signed_in(nurse)
    deactivate(as_role("admin"), world.users["nurse"].id)
    response = nurse.get("/patients")
    assert response.status_code == 302 and path_of(response) == "/login"


def test_an_admin_cannot_deactivate_their_own_account(as_role, world, session):
    admin = as_role("admin")
    response = deactivate(admin, world.users["admin"].id)
    assert response.status_code == 302
    assert "You cannot deactivate your own account." in admin.get(response.location).get_data(as_text=True)
    session.expire_all()
    assert session.get(User, world.users["admin"].id).active is True


def test_a_reactivated_nurse_can_sign_in_again(as_role, world, make_client):
    admin = as_role("admin")
    deactivate(admin, world.users["nurse"].id)
    response = admin.post(f"/admin/users/{world.users['nurse'].id}/active", {"active": "1"})
    assert response.status_code == 302
    assert sign_in(make_client(), "nurse@example.org").status_code == 302


# Changing one's password


def change_password(client, current, new, confirm=None):
    client.refresh_token("/account/password")
    return client.post("/account/password", {"current_password": current, "password": new, "confirm": confirm or new})


def error_beside(page: str, field: str) -> str:
    match = re.search(rf'<small class="field-error" id="{field}-error">([^<]*)</small>', page)
    return match.group(1) if match else ""


def test_a_wrong_current_password_is_refused_beside_that_field(as_role, world, session):
    nurse = as_role("nurse")
    before = session.scalar(select(User.password_hash).where(User.id == world.users["nurse"].id))
    response = change_password(nurse, "not my password at all", NEW_PASSWORD)
    assert response.status_code == 200
    assert error_beside(response.get_data(as_text=True), "current_password") == "The current password is not correct."
    session.expire_all()
    assert session.scalar(select(User.password_hash).where(User.id == world.users["nurse"].id)) == before


def test_a_new_password_shorter_than_twelve_characters_is_refused(as_role, world, make_client):
    nurse = as_role("nurse")
    response = change_password(nurse, PASSWORD, "short-pw-11")
    assert response.status_code == 200
    assert error_beside(response.get_data(as_text=True), "password") == "Use at least 12 characters."
    assert sign_in(make_client(), "nurse@example.org", PASSWORD).status_code == 302


@pytest.mark.slow
def test_changing_the_password_signs_out_other_sessions_but_not_this_one(as_role, make_client):
    at_desk = as_role("nurse")
    on_ward = as_role("nurse")
    response = change_password(at_desk, PASSWORD, NEW_PASSWORD)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    assert is_signed_in(at_desk)
    response = on_ward.get("/patients")
    assert response.status_code == 302 and path_of(response) == "/login"
    assert sign_in(make_client(), "nurse@example.org", PASSWORD).status_code == 200
    assert sign_in(make_client(), "nurse@example.org", NEW_PASSWORD).status_code == 302


# The administrator's user pages


def test_admin_lists_the_users(as_role, world):
    page = as_role("admin").get("/admin/users")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    for user in world.users.values():
        assert user.email in text


def new_user_form(world, **overrides):
    data = {
        "email": "new.nurse@example.org",
        "full_name": "Florence Nightingale",
        "role": "nurse",
        "location_id": str(world.sites["Buckhead Clinic"].id),
        "password": "a-long-enough-password",
    }
    data.update(overrides)
    return data


def test_admin_creates_a_nurse_at_a_clinic_who_can_then_sign_in(as_role, world, session, make_client):
    admin = as_role("admin")
    admin.refresh_token("/admin/users/new")
    response = admin.post("/admin/users/new", new_user_form(world))
    assert response.status_code == 302 and path_of(response) == "/admin/users"
    user = session.scalar(select(User).where(User.email == "new.nurse@example.org"))
    assert (user.role, user.location_id, user.full_name) == (
        "nurse",
        world.sites["Buckhead Clinic"].id,
        "Florence Nightingale",
    )
    assert "new.nurse@example.org" in admin.get("/admin/users").get_data(as_text=True)
    assert sign_in(make_client(), "new.nurse@example.org", "a-long-enough-password").status_code == 302


def test_an_e_mail_that_differs_only_in_case_is_refused(as_role, world, session):
    admin = as_role("admin")
    before = row_counts(session)
    admin.refresh_token("/admin/users/new")
    response = admin.post("/admin/users/new", new_user_form(world, email="Nurse@Example.ORG"))
    assert response.status_code == 422
    assert error_beside(response.get_data(as_text=True), "email") == "A user with this e-mail already exists."
    assert row_counts(session) == before


def test_admin_is_told_when_the_initial_password_is_too_short(as_role, world, session):
    admin = as_role("admin")
    admin.refresh_token("/admin/users/new")
    response = admin.post("/admin/users/new", new_user_form(world, password="short-pw-11"))
    assert response.status_code == 422
    assert error_beside(response.get_data(as_text=True), "password") == "Use at least 12 characters."
    assert session.scalar(select(User).where(User.email == "new.nurse@example.org")) is None


@pytest.mark.parametrize("role", ["nurse", "coordinator", "physician"])
def test_only_the_admin_may_manage_users(as_role, world, session, role):
    someone = as_role(role)
    before = row_counts(session)
    assert someone.get("/admin/users").status_code == 403
    assert someone.get("/admin/users/new").status_code == 403
    assert someone.post("/admin/users/new", new_user_form(world)).status_code == 403
    response = someone.post(f"/admin/users/{world.users['admin'].id}/active", {"active": "0"})
    assert response.status_code == 403
    assert row_counts(session) == before
    session.expire_all()
    assert session.get(User, world.users["admin"].id).active is True


# Every page needs a signed-in user


def anonymous_requests(app):
    """(method, url) for every route except sign-in, static files, the health check, the calendar feed (whose secret
    token is the credential; tested below) and the FHIR API (a client's bearer token: tests/fhir/test_api.py)."""
    open_routes = {"auth.login", "static", "health.healthz", "calendar.feed"}
    for rule in app.url_map.iter_rules():
        if rule.endpoint in open_routes or rule.endpoint.startswith("fhir."):
            continue
        with app.test_request_context():
            url = url_for(rule.endpoint, **{name: 1 for name in rule.arguments})
        for method in ("GET", "POST"):
            if method in rule.methods:
                yield method, url


def test_the_route_list_is_not_empty(app):
    urls = {url for _, url in anonymous_requests(app)}
    assert {"/patients", "/admin/users", "/patients/1/move", "/logout"} <= urls


def test_every_page_sends_an_anonymous_visitor_to_sign_in_and_writes_nothing(app, world, session, client):
    make_patient(session, world)
    before = row_counts(session)
    for method, url in anonymous_requests(app):
        if method == "GET":
            response = client.get(url)
            assert response.status_code == 302, (method, url, response.status_code)
            assert path_of(response) == "/login", (method, url, response.location)
        else:
            # A form post without the security token is refused before anything else is looked at.
            response = client.post(url, {"active": "0", "move": "trial"}, csrf=False)
            assert response.status_code == 400, (method, url, response.status_code)
            # With a valid token (from the sign-in page) the visitor is still sent to sign in.
            response = client.post(url, {"active": "0", "move": "trial"})
            assert response.status_code == 302, (method, url, response.status_code)
            assert path_of(response) == "/login", (method, url, response.location)
    assert row_counts(session) == before


def test_the_calendar_feed_without_a_valid_token_is_not_found(client, world):
    for token in ("1", "x" * 43, ""):
        assert client.get(f"/calendar/feed/{token}.ics").status_code == 404


def test_the_health_check_needs_no_login_and_shows_no_patient_data(client, world, session):
    patient = make_patient(session, world, mrn="HEALTH777", last_name="Zebediah")
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.get_json()
    assert (body["status"], body["database"]) == ("ok", "ok") and body["version"]
    text = response.get_data(as_text=True)
    for private in (patient.mrn, patient.last_name, patient.first_name, "nurse@example.org"):
        assert private not in text
