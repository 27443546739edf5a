"""HTTP hardening (HSTS in production, CSRF on JSON posts) and the request log, which never holds a patient's
name, MRN or birth date."""

import json
import logging
from datetime import date

import pytest
from flask import url_for
from sqlalchemy import select

from tests.support.factories import TODAY, bolus_data, patient_data
from tests.web.test_accounts import row_counts
from tests.web.test_patients import form_of
from tracker.formats import fmt_date
from tracker.models import Patient


def test_hsts_is_sent_only_when_cookies_are_secure(client, app, monkeypatch):
    assert "Strict-Transport-Security" not in client.get("/login").headers
    monkeypatch.setitem(app.config, "SESSION_COOKIE_SECURE", True)
    assert client.get("/login").headers["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


def test_a_json_post_without_the_csrf_token_is_refused_on_every_route(app, world, session, as_role):
    physician, admin = as_role("physician"), as_role("admin")
    before = row_counts(session)
    posts = []
    for rule in app.url_map.iter_rules():
        # The FHIR API takes no cookie, so no CSRF token: its writes are all 405 (tests/fhir/test_api.py).
        if "POST" in rule.methods and rule.endpoint != "auth.login" and not rule.endpoint.startswith("fhir."):
            with app.test_request_context():
                posts.append(url_for(rule.endpoint, **{name: 1 for name in rule.arguments}))
    assert len(posts) > 10
    for url in posts:
        for who in (physician, admin):
            with app.app_context():
                response = who.http.post(url, json={"active": "0", "move": "trial", "version": 1})
            assert response.status_code == 400, (url, response.status_code)
    assert row_counts(session) == before


def test_each_request_logs_one_line_with_method_path_status_duration_user_and_request_id(as_role, world, caplog):
    nurse = as_role("nurse")
    caplog.set_level(logging.INFO, logger="tracker.request")
    caplog.clear()
    response = nurse.get("/patients?q=Secret", headers={"X-Request-ID": "abc-123"})
    assert response.headers["X-Request-ID"] == "abc-123"
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tracker.request"]
    assert len(lines) == 1
    line = lines[0]
    assert {k: line[k] for k in ("method", "path", "status", "user_id", "request_id")} == {
        "method": "GET",
        "path": "/patients",
        "status": 200,
        "user_id": world.users["nurse"].id,
        "request_id": "abc-123",
    }
    assert line["duration_ms"] >= 0
    caplog.clear()
    generated = nurse.get("/patients", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert generated != "bad id with spaces" and len(generated) == 32
    nurse.get("/patients/Lovelace")  # no such route: its path is not logged
    assert json.loads(caplog.records[-1].getMessage())["path"] == "(no route)"


FIRST, LAST, MRN, BORN = "Zephyrine", "Quillfeather", "MRNLEAK4417", date(1963, 8, 29)


def birth_date_spellings(born: date) -> list[str]:
    return [
        born.isoformat(),
        born.strftime("%m/%d/%Y"),
        born.strftime("%d/%m/%Y"),
        born.strftime("%d %b %Y"),
        fmt_date(born),
        born.strftime("%b %d, %Y"),
        born.strftime("%Y%m%d"),
        born.strftime("%d.%m.%Y"),
        repr(born),
    ]


@pytest.fixture
def everything_logged(caplog):
    """Every logger at DEBUG: the app's, werkzeug's and SQLAlchemy's (which logs SQL when enabled)."""
    caplog.set_level(logging.DEBUG)
    for name in ("tracker", "werkzeug", "sqlalchemy", "sqlalchemy.engine", "sqlalchemy.pool", "flask", "alembic"):
        caplog.set_level(logging.DEBUG, logger=name)
    return caplog


def test_a_full_flow_logs_no_patient_name_mrn_or_birth_date(as_role, world, session, everything_logged):
    nurse = as_role("nurse")
    data = patient_data(world, mrn=MRN, first_name=FIRST, last_name=LAST, date_of_birth=BORN)
    response = nurse.post("/patients/new", form_of(data, referred_on=TODAY.isoformat()))
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    patient = session.scalar(select(Patient).where(Patient.mrn == MRN))
    assert nurse.get(f"/patients/{patient.id}").status_code == 200
    response = nurse.post(
        f"/patients/{patient.id}/move",
        {"move": "trial", "effective_date": TODAY.isoformat(), "reason": "", "version": 1},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    assert nurse.post(f"/patients/{patient.id}/bolus", form_of(bolus_data(TODAY))).status_code == 302
    for query in (LAST, FIRST, MRN):
        page = nurse.get(f"/patients?q={query}")
        assert page.status_code == 200 and MRN in page.get_data(as_text=True)
    assert nurse.get(f"/patients?q={BORN.isoformat()}").status_code == 200
    # A refused save (a stale version) and a search for a name that is not there.
    assert nurse.post(f"/patients/{patient.id}/move", {"move": "implantation", "version": "1"}).status_code != 500
    nurse.get(f"/patients?q={LAST}x")

    logged = everything_logged.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''}" for r in everything_logged.records
    )
    assert len(everything_logged.records) > 20  # SQLAlchemy and the request log really were listening
    assert any(r.name.startswith("sqlalchemy.engine") for r in everything_logged.records)
    for secret in [FIRST, LAST, MRN, MRN.lower(), *birth_date_spellings(BORN)]:
        assert secret not in logged, secret


def test_the_menu_links_follow_the_script_root_they_are_served_under(as_role, world):
    """The menu's and head's URLs follow the script root: an app mounted
    under a prefix, or at the root, each gets its own."""
    admin = as_role("admin")
    for root in ("", "/itb", ""):
        page = admin.get("/patients", base_url=f"http://localhost{root}").get_data(as_text=True)
        for path in ("/patients", "/board", "/calendar", "/worklist", "/admin/users", "/static/css/app.css"):
            assert f'href="{root}{path}"' in page, (root, path)
        if not root:
            assert 'href="/itb/' not in page
