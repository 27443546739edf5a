"""The app's own password hasher, put back for these tests: the rest of the suite signs in at argon2's cheapest
cost (tests/support/passwords.py), so this is where the real parameters are held to."""

import pytest
from argon2 import extract_parameters, profiles
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.support import passwords
from tracker.models import User
from tracker.services import accounts

RECOMMENDED = profiles.get_default_parameters()


@pytest.fixture
def production_hashing(monkeypatch):
    monkeypatch.setattr(accounts, "_hasher", passwords.PRODUCTION)


def stored_hash(session, email: str) -> str:
    session.expire_all()
    return session.scalar(select(User.password_hash).where(User.email == email))


def test_the_app_hashes_new_passwords_with_argon2ids_recommended_parameters(production_hashing):
    assert extract_parameters(accounts.hash_password(PASSWORD)) == RECOMMENDED
    assert RECOMMENDED.type.name == "ID" and RECOMMENDED.memory_cost >= 65536


def test_a_hash_below_the_recommended_cost_is_upgraded_at_the_next_sign_in(production_hashing, client, world, session):
    assert extract_parameters(stored_hash(session, "nurse@example.org")) != RECOMMENDED  # the suite's cheap hash
    client.login("nurse@example.org")
    upgraded = stored_hash(session, "nurse@example.org")
    assert extract_parameters(upgraded) == RECOMMENDED
    assert passwords.PRODUCTION.verify(upgraded, PASSWORD)
