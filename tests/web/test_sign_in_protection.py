"""Sign-in protection: lockout after repeated failures (kept in the database), a per-address rate limit on
POST /login, idle and absolute session limits, and refusing common passwords."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import PASSWORD, Client
from tests.web.test_accounts import WRONG_LOGIN, change_password, error_beside, is_signed_in, path_of, sign_in
from tracker import create_app
from tracker.extensions import limiter
from tracker.models import User
from tracker.services.accounts import is_common_password

START = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)


def failures(session, email="nurse@example.org") -> tuple[int, datetime | None]:
    session.expire_all()
    return session.execute(select(User.failed_logins, User.locked_until).where(User.email == email)).one()


def test_five_wrong_passwords_lock_the_account_even_against_the_right_one(client, world, session):
    with time_machine.travel(START, tick=False) as clock:
        for attempt in range(1, 5):
            assert WRONG_LOGIN in sign_in(client, "nurse@example.org", "wrong guess number x").get_data(as_text=True)
            assert failures(session) == (attempt, None)
        sign_in(client, "nurse@example.org", "wrong guess number 5")
        assert failures(session) == (0, START + timedelta(minutes=15))
        response = sign_in(client, "nurse@example.org", PASSWORD)
        assert response.status_code == 200 and WRONG_LOGIN in response.get_data(as_text=True)
        clock.shift(timedelta(minutes=14, seconds=59))
        assert sign_in(client, "nurse@example.org", PASSWORD).status_code == 200
        clock.shift(timedelta(seconds=2))
        assert sign_in(client, "nurse@example.org", PASSWORD).status_code == 302
        assert failures(session) == (0, None)


def test_a_successful_sign_in_resets_the_failure_count(client, world, session):
    for _ in range(4):
        sign_in(client, "nurse@example.org", "wrong guess again")
    assert sign_in(client, "nurse@example.org", PASSWORD).status_code == 302
    assert failures(session) == (0, None)


def test_the_lockout_threshold_and_length_are_settings(client, world, session, app, monkeypatch):
    monkeypatch.setitem(app.config, "LOGIN_MAX_FAILURES", 2)
    monkeypatch.setitem(app.config, "LOCKOUT_MINUTES", 60)
    with time_machine.travel(START, tick=False):
        sign_in(client, "nurse@example.org", "wrong guess again")
        sign_in(client, "nurse@example.org", "wrong guess again")
        assert failures(session) == (0, START + timedelta(minutes=60))


def test_an_admin_reactivating_an_account_lifts_its_lockout(client, world, session, as_role):
    for _ in range(5):
        sign_in(client, "nurse@example.org", "wrong guess again")
    assert failures(session)[1] is not None
    admin = as_role("admin")
    admin.refresh_token("/admin/users")
    assert admin.post(f"/admin/users/{world.users['nurse'].id}/active", {"active": "1"}).status_code == 302
    assert failures(session) == (0, None)
    assert sign_in(client, "nurse@example.org", PASSWORD).status_code == 302


@pytest.fixture
def limited_app(database_url, app):
    """An app with the rate limit on (the suite's app has it off), three sign-in posts a minute."""
    limited = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": "test",
                          "SCHEDULER": False, "RATE_LIMITS": True, "LOGIN_RATE_LIMIT": "3 per minute"})
    limiter.reset()
    yield limited
    limiter.reset()


def test_sign_in_posts_are_rate_limited_per_client_address(limited_app, world):
    client = Client(limited_app)
    with time_machine.travel(START, tick=False) as clock:
        client.refresh_token("/login")
        for _ in range(3):
            assert client.post("/login", {"email": "nurse@example.org", "password": "wrong guess"}).status_code == 200
        refused = client.post("/login", {"email": "nurse@example.org", "password": PASSWORD})
        assert refused.status_code == 429 and "Too many sign-in attempts" in refused.get_data(as_text=True)
        assert client.get("/login").status_code == 200  # only posts count
        other = client.post("/login", {"email": "coordinator@example.org", "password": PASSWORD},
                            environ_base={"REMOTE_ADDR": "10.1.2.3"})
        assert other.status_code == 302
        clock.shift(timedelta(seconds=61))
        assert client.post("/login", {"email": "nurse@example.org", "password": PASSWORD}).status_code == 302


def test_a_session_idle_for_fifteen_minutes_ends(client, world):
    with time_machine.travel(START, tick=False) as clock:
        client.login("nurse@example.org")
        clock.shift(timedelta(minutes=14))
        assert is_signed_in(client)
        clock.shift(timedelta(minutes=14))  # 14 minutes since the last request, 28 since sign-in
        assert is_signed_in(client)
        clock.shift(timedelta(minutes=15, seconds=1))
        response = client.get("/patients?q=Lovelace")
        assert response.status_code == 302 and path_of(response) == "/login"
        assert "signed out after a period of inactivity" in client.get(response.location).get_data(as_text=True)
        assert not is_signed_in(client)


def test_a_session_ends_after_twelve_hours_however_active(client, world):
    with time_machine.travel(START, tick=False) as clock:
        client.login("nurse@example.org")
        for _ in range(12 * 6 - 1):
            clock.shift(timedelta(minutes=10))
            assert is_signed_in(client)
        clock.shift(timedelta(minutes=10, seconds=1))
        response = client.get("/patients")
        assert response.status_code == 302 and path_of(response) == "/login"
        assert "the longest session allowed" in client.get(response.location).get_data(as_text=True)


@pytest.mark.parametrize("password", [
    "password1234", "Password2024!", "qwertyuiop123", "iloveyou12345", "aaaaaaaaaaaa", "123456789012",
    "correct horse battery staple", "P@ssw0rd-2027", "baclofen12345",
])
def test_common_passwords_are_refused(password):
    assert is_common_password(password)


@pytest.mark.parametrize("password", ["a new and longer passphrase", "tulip-harbour-71-quietly", "Xk9#mV2$qL7!"])
def test_uncommon_passwords_pass(password):
    assert not is_common_password(password)


def test_changing_to_a_common_password_is_refused_beside_the_field(as_role, world):
    response = change_password(as_role("nurse"), PASSWORD, "password1234")
    assert response.status_code == 200
    assert error_beside(response.get_data(as_text=True), "password") == \
        "This password is too common or too easy to guess; choose another."
