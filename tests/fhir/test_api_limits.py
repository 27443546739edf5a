"""The FHIR API's rate limit counted in Redis (shared by every worker, as the sign-in counts are), a store that
cannot be reached letting calls through (logged), and the API's statements for $everything fixed as history grows."""

from __future__ import annotations

import logging

import pytest

from config import TestConfig
from tests.fhir.history import rich_patient
from tests.fhir.test_api import call, new_token, outcome
from tests.web.test_sign_in_protection import redis_reachable
from tracker import create_app
from tracker.extensions import db
from tracker.statements import statements_run


class Caller:
    """A bare test client of one app instance (a worker)."""

    def __init__(self, app):
        self.app, self.http = app, app.test_client()


def worker(database_url: str, **settings):
    return Caller(create_app(TestConfig, SQLALCHEMY_DATABASE_URI=database_url, **settings))


@pytest.mark.skipif(not redis_reachable(), reason="no redis-server on 127.0.0.1:6379 (.ci/run starts one)")
def test_two_workers_share_a_clients_count_in_redis(database_url, world, session):
    patient, _ = rich_patient(session, world, refills=0)
    token = new_token(session, world)  # a fresh token: its own Redis key, whatever earlier runs left
    shared = {"RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/0", "FHIR_API_RATE_LIMIT": "3/minute"}
    first, second = worker(database_url, **shared), worker(database_url, **shared)
    url = f"/fhir/Patient/{patient.id}"
    assert [call(w, url, token).status_code for w in (first, second, first)] == [200, 200, 200]
    outcome(call(second, url, token), 429, "throttled")
    apart = [worker(database_url, FHIR_API_RATE_LIMIT="3/minute") for _ in range(2)]  # memory://: one count each
    assert [call(w, url, token).status_code for w in (*apart, *apart)] == [200] * 4


def test_calls_go_on_when_the_count_store_is_down(database_url, world, session, caplog):
    patient, _ = rich_patient(session, world, refills=0)
    down = worker(database_url, RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0", FHIR_API_RATE_LIMIT="1/minute")
    token = new_token(session, world)
    with caplog.at_level(logging.ERROR, logger="tracker.api"):
        assert [call(down, f"/fhir/Patient/{patient.id}", token).status_code for _ in range(2)] == [200, 200]
    assert "the rate-limit store cannot be reached" in caplog.text


def test_everything_runs_the_same_statements_however_long_the_history(client, world, session):
    short, _ = rich_patient(session, world, refills=1)
    long, _ = rich_patient(session, world, refills=6)
    token = new_token(session, world)
    counts = []
    for patient in (short, long):
        with statements_run(db.engine) as seen:
            assert call(client, f"/fhir/Patient/{patient.id}/$everything", token).status_code == 200
        counts.append(len(seen))
    assert counts[0] == counts[1] == 12, counts  # the token, eight reads, the audit row and the last use, ...
