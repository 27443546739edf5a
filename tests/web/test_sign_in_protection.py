"""Sign-in limits that cannot lock out the clinic (issue 18, item 3), and common passwords refused.

Only wrong passwords count; each count slows guessing with a doubling wait instead of locking an account; the
account-wide and address-wide counts slow only browsers that never signed in to the account; the counts live in
one store every worker shares (Redis in production, tested here against the real server)."""

import logging
import secrets
import socket
from datetime import UTC, datetime, timedelta

import pytest
import redis
import time_machine
from argon2 import PasswordHasher
from sqlalchemy import update

from config import ProductionConfig, TestConfig
from tests.conftest import PASSWORD, Client
from tests.web.test_accounts import WRONG_LOGIN, change_password, error_beside, sign_in
from tracker import create_app
from tracker.auth.throttle import Attempt, wait_seconds
from tracker.models import User
from tracker.services import accounts
from tracker.services.accounts import is_common_password

START = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)
CLINIC, HOME, CAFE = "203.0.113.10", "198.51.100.7", "192.0.2.44"


def limited(database_url, **overrides):
    """An app with the sign-in limits on (the suite's app has them off), defaults otherwise."""
    return create_app(
        TestConfig,
        **{
            "SQLALCHEMY_DATABASE_URI": database_url,
            "RATE_LIMITS": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            **overrides,
        },
    )


@pytest.fixture
def cheap_passwords(monkeypatch, world, session):
    """argon2 at its cheapest for this file's hundreds of sign-ins: what is tested is the counting, not the hash
    (at the real cost, 300 sign-ins took 200 s on a busy machine)."""
    cheap = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
    monkeypatch.setattr(accounts, "_hasher", cheap)
    monkeypatch.setattr(accounts, "_DUMMY_HASH", cheap.hash("not-a-real-password"))
    session.execute(update(User).values(password_hash=cheap.hash(PASSWORD)))
    session.commit()


@pytest.fixture
def limited_app(database_url, app, cheap_passwords):
    return limited(database_url)


def attempt(app, email, password, address, client=None):
    """A sign-in post from `address`, by `client` (a browser with its cookies) or a new browser."""
    client = client or Client(app)
    client.refresh_token("/login")
    return client.post("/login", {"email": email, "password": password}, environ_base={"REMOTE_ADDR": address})


def sign_out(client):
    client.refresh_token("/account/password")
    assert client.post("/logout").status_code == 302


def waits(response) -> int | None:
    """The seconds a refused attempt is told to wait (None: it was not refused)."""
    if response.status_code != 429:
        return None
    assert "Too many failed sign-ins." in response.get_data(as_text=True)
    return int(response.headers["Retry-After"])


def test_the_wait_doubles_after_the_free_failures_and_stops_at_the_cap():
    # free 3, cap 300 s: failure 4 -> 1 s, 5 -> 2 s, 6 -> 4 s, 12 -> 2^8 = 256 s, 13 -> 2^9 = 512 capped to 300 s.
    assert [wait_seconds(n, 3, 300) for n in (0, 3, 4, 5, 6, 12, 13, 60)] == [0, 0, 1, 2, 4, 256, 300, 300]


@pytest.mark.slow
def test_300_correct_sign_ins_from_one_address_are_never_refused(limited_app, world):
    """A clinic behind one NAT: every nurse signs in all day, from new browsers, and a few mistype."""
    emails = [user.email for user in world.users.values()]
    with time_machine.travel(START, tick=False) as clock:
        for n in range(300):
            clock.shift(timedelta(seconds=20))
            if n % 15 == 0:  # 20 typos over the day, spread over the staff
                assert attempt(limited_app, emails[n % 4], "a typo in it", CLINIC).status_code == 200
            assert attempt(limited_app, emails[n % 4], PASSWORD, CLINIC).status_code == 302


def test_repeated_failures_for_one_account_wait_longer_each_time(limited_app, world):
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(3):  # the free failures
            assert WRONG_LOGIN in attempt(limited_app, "nurse@example.org", "guess", CAFE).get_data(as_text=True)
        assert attempt(limited_app, "nurse@example.org", "guess", CAFE).status_code == 200  # the 4th: 1 s
        for expected in (1, 2, 4, 8):
            assert waits(attempt(limited_app, "nurse@example.org", "guess", CAFE)) == expected
            # Refused before the password is looked at: the right one is refused too while the wait runs.
            assert waits(attempt(limited_app, "nurse@example.org", PASSWORD, CAFE)) == expected
            clock.shift(timedelta(seconds=expected))
            assert attempt(limited_app, "nurse@example.org", "guess", CAFE).status_code == 200
        clock.shift(timedelta(seconds=16))
        assert attempt(limited_app, "nurse@example.org", PASSWORD, CAFE).status_code == 302
        # A correct sign-in clears this address's count for the account: the next typo costs nothing.
        assert attempt(limited_app, "nurse@example.org", "typo", CAFE).status_code == 200
        assert attempt(limited_app, "nurse@example.org", PASSWORD, CAFE).status_code == 302


def test_an_account_slowed_from_one_address_still_signs_in_from_another_and_others_from_that_one(limited_app, world):
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(6):
            clock.shift(timedelta(seconds=10))
            attempt(limited_app, "nurse@example.org", "guess", CAFE)
        assert waits(attempt(limited_app, "nurse@example.org", PASSWORD, CAFE)) == 4
        assert attempt(limited_app, "nurse@example.org", PASSWORD, CLINIC).status_code == 302
        assert attempt(limited_app, "coordinator@example.org", PASSWORD, CAFE).status_code == 302


def test_unknown_e_mails_are_slowed_the_same_so_the_wait_reveals_no_account(limited_app, world):
    with time_machine.travel(START, tick=False):
        for _ in range(4):
            attempt(limited_app, "nobody@example.org", "guess", CAFE)
        assert waits(attempt(limited_app, "nobody@example.org", "guess", CAFE)) == 1


def test_counts_are_forgotten_after_fifteen_quiet_minutes(limited_app, world):
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(8):
            clock.shift(timedelta(minutes=2))
            attempt(limited_app, "nurse@example.org", "guess", CAFE)
        assert waits(attempt(limited_app, "nurse@example.org", "guess", CAFE)) == 16
        clock.shift(timedelta(minutes=15, seconds=1))
        for _ in range(4):  # the free ones again, and the first wait after them
            assert attempt(limited_app, "nurse@example.org", "guess", CAFE).status_code == 200


def test_guesses_from_many_addresses_slow_strangers_but_not_the_nurses_own_browser(limited_app, world):
    """Anyone who knows the e-mail can slow unknown browsers for the account, never the browser the nurse uses."""
    with time_machine.travel(START, tick=False):
        workstation = Client(limited_app)
        assert attempt(limited_app, "nurse@example.org", PASSWORD, CLINIC, workstation).status_code == 302
        sign_out(workstation)
        for n in range(11):  # one guess from each of 11 addresses: no pair count grows, the account's does
            assert attempt(limited_app, "nurse@example.org", "guess", f"10.0.0.{n + 1}").status_code == 200
        assert waits(attempt(limited_app, "nurse@example.org", PASSWORD, HOME)) == 1  # a new browser waits
        assert attempt(limited_app, "nurse@example.org", PASSWORD, CLINIC, workstation).status_code == 302
        sign_out(workstation)
        # Her browser is known wherever it goes (a laptop taken home), not by its address.
        assert attempt(limited_app, "nurse@example.org", PASSWORD, HOME, workstation).status_code == 302
        forged = Client(limited_app)
        forged.http.set_cookie("known-browser", workstation.http.get_cookie("known-browser").value + "x")
        assert waits(attempt(limited_app, "nurse@example.org", PASSWORD, HOME, forged)) == 1


def test_guesses_at_many_accounts_from_one_address_slow_that_address_only(limited_app, world):
    with time_machine.travel(START, tick=False):
        for n in range(31):
            attempt(limited_app, f"guess{n}@example.org", "guess", CAFE)
        assert waits(attempt(limited_app, "nurse@example.org", PASSWORD, CAFE)) == 1
        assert attempt(limited_app, "nurse@example.org", PASSWORD, CLINIC).status_code == 302


def test_the_limits_are_settings(database_url, app, cheap_passwords):
    strict = limited(database_url, LOGIN_FREE_FAILURES=1, LOGIN_MAX_DELAY_SECONDS=3)
    with time_machine.travel(START, tick=False) as clock:
        for expected in (None, 1, 2, 3, 3):
            assert waits(attempt(strict, "nurse@example.org", "guess", CAFE)) == expected
            clock.shift(timedelta(seconds=expected or 0))
            attempt(strict, "nurse@example.org", "guess", CAFE)


# One store for every worker


def redis_reachable() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not redis_reachable(), reason="no redis-server on 127.0.0.1:6379 (.ci/run starts one)")
def test_two_app_instances_share_the_failure_counts_in_redis(database_url, app, cheap_passwords):
    """Two workers (two app instances, each with its own Redis connection): failures counted by one slow the other.
    With memory:// each worker would have its own count, as the old per-worker limit had."""
    secret = secrets.token_hex(16)  # keys are keyed hashes: a fresh secret keeps this run's keys apart
    redis_uri = "redis://127.0.0.1:6379/0"
    first, second = (limited(database_url, SECRET_KEY=secret, RATELIMIT_STORAGE_URI=redis_uri) for _ in range(2))
    try:
        with time_machine.travel(START, tick=False):  # "now" pinned; Redis forgets keys in its own time (15 min)
            for _ in range(4):
                assert attempt(first, "nurse@example.org", "guess", CAFE).status_code == 200
            assert waits(attempt(second, "nurse@example.org", PASSWORD, CAFE)) == 1
            # Redis forgets each count by itself after 15 quiet minutes (no key outlives its memory).
            keys = [
                key
                for key, _ in first.extensions["sign_in_limits"]._counts(
                    Attempt("nurse@example.org", CAFE, "", known=False)
                )
            ]
            assert all(0 < ttl <= 15 * 60 for ttl in map(redis.Redis.from_url(redis_uri).ttl, keys))
            assert attempt(second, "coordinator@example.org", PASSWORD, CAFE).status_code == 302
            apart = [limited(database_url, SECRET_KEY=secret) for _ in range(2)]
            for _ in range(4):
                attempt(apart[0], "nurse@example.org", "guess", CAFE)
            assert attempt(apart[1], "nurse@example.org", PASSWORD, CAFE).status_code == 302
    finally:
        limits = first.extensions["sign_in_limits"]
        for email in ("nurse@example.org", "coordinator@example.org"):
            for key, _ in limits._counts(Attempt(email, CAFE, "", known=False)):
                limits.store.forget(key)
            limits.store.forget(limits._key("locked", email))


def test_sign_in_goes_on_when_the_failure_store_is_down(database_url, app, cheap_passwords, caplog):
    """A counter that cannot be reached must not lock the clinic out: sign-in goes on and the error is logged."""
    down = limited(database_url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    with caplog.at_level(logging.ERROR, logger="tracker.auth"):
        assert attempt(down, "nurse@example.org", "guess", CAFE).status_code == 200
        assert attempt(down, "nurse@example.org", PASSWORD, CAFE).status_code == 302
    assert "the failure store cannot be read" in caplog.text


def test_production_refuses_to_start_without_a_shared_store(monkeypatch):
    monkeypatch.setenv("TRACKER_SECRET_KEY", "x" * 40)
    monkeypatch.setenv("TRACKER_DATABASE_URL", "postgresql+psycopg://tracker@db/tracker")
    monkeypatch.delenv("TRACKER_RATELIMIT_STORAGE_URI", raising=False)
    with pytest.raises(RuntimeError, match="TRACKER_RATELIMIT_STORAGE_URI must name a Redis server"):
        ProductionConfig.check()
    monkeypatch.setenv("TRACKER_RATELIMIT_STORAGE_URI", "redis://127.0.0.1:6379/0")
    ProductionConfig.check()


# Passwords


@pytest.mark.parametrize(
    "password",
    [
        "password1234",
        "Password2024!",
        "qwertyuiop123",
        "iloveyou12345",
        "aaaaaaaaaaaa",
        "123456789012",
        "correct horse battery staple",
        "P@ssw0rd-2027",
        "baclofen12345",
    ],
)
def test_common_passwords_are_refused(password):
    assert is_common_password(password)


@pytest.mark.parametrize("password", ["a new and longer passphrase", "tulip-harbour-71-quietly", "Xk9#mV2$qL7!"])
def test_uncommon_passwords_pass(password):
    assert not is_common_password(password)


def test_changing_to_a_common_password_is_refused_beside_the_field(as_role, world):
    response = change_password(as_role("nurse"), PASSWORD, "password1234")
    assert response.status_code == 200
    assert (
        error_beside(response.get_data(as_text=True), "password")
        == "This password is too common or too easy to guess; choose another."
    )


def test_a_wrong_password_is_refused_with_the_same_words_when_the_limits_are_off(client, world):
    assert WRONG_LOGIN in sign_in(client, "nurse@example.org", "guess").get_data(as_text=True)
