"""Fixtures: one app and schema per run, the tables a test wrote emptied after it, a client per role.

The suite runs on SQLite by default and on PostgreSQL when TRACKER_TEST_DATABASE_URL is set, in the clinic time
zone TRACKER_CLINIC_TIMEZONE names (New York when unset; CI runs the date-heavy tests once more in Auckland), at
one pinned instant (tests/support/clock.py): the machine's date never matters."""

from __future__ import annotations

import os
import re

import pytest
from sqlalchemy import delete, text

from config import TestConfig
from tests.support import clock, factories, passwords
from tests.support.snapshot import non_empty
from tracker import create_app
from tracker.extensions import db
from tracker.models.audit import SQLITE_NO_DELETE

PASSWORD = factories.PASSWORD


def pytest_configure(config):
    """Pin the clock before any test module is imported, so their TODAY and the app's agree; sign-ins at argon2's
    cheapest cost (tests/support/passwords.py)."""
    clock.start()
    passwords.cheapen()


def pytest_unconfigure(config):
    clock.stop()


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("TRACKER_TEST_DATABASE_URL")
    return url or f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"


@pytest.fixture(scope="session")
def app(database_url):
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url)
    with app.app_context():
        db.drop_all()
        db.create_all()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _allow_audit_purge(session) -> None:
    """The audit trail refuses deletes (tracker/models/audit.py); the tests own their database, so they lift that
    for this one transaction as only an owner can. DDL is transactional on both: the guard is back at commit."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only"))
    else:
        session.execute(text("DROP TRIGGER audit_event_no_delete"))


@pytest.fixture(autouse=True)
def _clean_tables(request):
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        db.session.rollback()
        written = non_empty(db.session)  # most tests touch a few of the tables: empty only those
        audit = "audit_event" in {table.name for table in written}
        if audit:
            _allow_audit_purge(db.session)
        for table in reversed(written):
            db.session.execute(delete(table))
        if audit and db.engine.dialect.name == "sqlite":
            db.session.execute(text(SQLITE_NO_DELETE))
        elif audit:
            db.session.execute(text("ALTER TABLE audit_event ENABLE TRIGGER audit_event_append_only"))
        db.session.commit()
        db.session.remove()


@pytest.fixture
def session(app):
    """The app's database session inside an app context."""
    with app.app_context():
        yield db.session


class Client:
    """A test client that signs in and adds the CSRF token to every form post, like a browser."""

    def __init__(self, app):
        self.app = app
        self.http = app.test_client()
        self.token = None

    def get(self, url, **kwargs):
        kwargs.setdefault("buffered", True)  # read and close the body, as a server does (the request log's line)
        with self.app.app_context():  # a fresh context (g, db session) per request, as in production
            return self.http.get(url, **kwargs)

    def refresh_token(self, url="/login"):
        page = self.get(url).get_data(as_text=True)
        match = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page) or re.search(
            r'name="csrf_token" value="([^"]+)"', page
        )
        self.token = match.group(1) if match else None
        return self.token

    def post(self, url, data=None, csrf=True, **kwargs):
        data = dict(data or {})
        if csrf and "csrf_token" not in data:
            data["csrf_token"] = self.token or self.refresh_token()
        kwargs.setdefault("buffered", True)
        with self.app.app_context():
            return self.http.post(url, data=data, **kwargs)

    def login(self, email, password=PASSWORD):
        self.refresh_token("/login")
        response = self.post("/login", {"email": email, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)[:500]
        self.refresh_token("/account/password")
        return response


@pytest.fixture
def make_client(app):
    return lambda: Client(app)


@pytest.fixture
def client(app):
    return Client(app)


@pytest.fixture
def world(session):
    """The clinic's sites and one active user per role."""
    return factories.world(session)


@pytest.fixture
def as_role(app, world):
    """as_role("nurse") -> a client signed in as that role's user."""

    def sign_in(role: str) -> Client:
        c = Client(app)
        c.login(world.users[role].email)
        return c

    return sign_in
