"""Issue 18, item 7: edges that gave 500s or stuck. Each test failed on the code before its fix."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time

import pytest
from sqlalchemy import func, select

from config import TestConfig
from tests.support.factories import implanted_days_ago
from tracker import create_app
from tracker.imports.csv_file import MAX_COLUMNS, read_table
from tracker.imports.storage import (
    KEEP_SECONDS,
    LOCK_LEASE_SECONDS,
    AlreadyRunning,
    UploadStore,
    purge_abandoned_uploads,
)
from tracker.models import ContactAttempt
from tracker.web.exports import csv_cell

TOO_BIG = 2**31


def test_an_id_the_database_cannot_hold_is_a_404_on_every_route(app, as_role, world):
    """Before: /patients/2147483648 and 13 other routes answered 500 (the driver refused the number)."""
    admin, physician = as_role("admin"), as_role("physician")
    checked = 0
    for rule in app.url_map.iter_rules():
        ints = [name for name, conv in rule._converters.items() if type(conv).__name__ == "DatabaseId"]
        if not ints:
            continue
        url = rule.rule
        for name in ints:
            url = url.replace(f"<int:{name}>", str(TOO_BIG))
        for who in (admin, physician):
            response = who.get(url) if "GET" in rule.methods else who.post(url, {})
            assert response.status_code == 404, (url, response.status_code)
        checked += 1
    assert checked >= 14
    assert admin.get(f"/patients/{TOO_BIG - 1}").status_code == 404  # the largest id still reaches the route


def test_a_contact_posted_with_a_stray_endpoint_argument_is_saved_once_and_redirects(world, session, as_role):
    """Before: ?endpoint=x reached url_for itself: the contact was committed, then the page was a 500."""
    patient = implanted_days_ago(session, world, 20)
    response = as_role("coordinator").post(
        f"/patients/{patient.id}/contacts?endpoint=x&location=&page=2",
        {"method": "phone", "outcome": "reached", "notes": ""},
    )
    assert response.status_code == 302
    assert response.location.endswith(f"/worklist?location=&page=2#p{patient.id}")
    assert session.scalar(select(func.count(ContactAttempt.id))) == 1


def _lock(store: UploadStore, token: str, text: str, age: float = 0) -> None:
    path = store._path(token, ".lock")
    path.write_text(text)
    os.utime(path, (time.time() - age, time.time() - age))


def test_a_lock_left_by_a_killed_import_is_taken_over(tmp_path):
    """Before: a worker killed mid-import left its lock, and the upload could never be imported again."""
    store = UploadStore(str(tmp_path), 7)
    token = store.save(b"mrn\n1\n", "p.csv")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    import socket

    _lock(store, token, f"{dead.stdout.strip()} {socket.gethostname()} {time.time()}")
    with store.running(token):  # the dead process's lock is taken over
        with pytest.raises(AlreadyRunning):  # while this one holds it (alive, same host), no second import
            with store.running(token):
                pass
    _lock(store, token, f"{os.getpid()} elsewhere.example {time.time() - LOCK_LEASE_SECONDS - 1}")
    with store.running(token):  # another host's lock past the lease
        pass
    _lock(store, token, f"{os.getpid()} elsewhere.example {time.time()}")
    with pytest.raises(AlreadyRunning):  # another host's live lease: wait for it
        with store.running(token):
            pass


def test_abandoned_uploads_are_purged_for_every_user_by_the_nightly_job(tmp_path):
    """Before: an upload abandoned before its import stayed until that same user's next upload."""
    old_a, old_b = UploadStore(str(tmp_path), 1), UploadStore(str(tmp_path), 2)
    tokens = [old_a.save(b"x", "a.csv"), old_b.save(b"y", "b.csv")]
    fresh = old_b.save(b"z", "c.csv")
    for store, token in zip((old_a, old_b), tokens, strict=True):
        for suffix in (".csv", ".json"):
            path = store._path(token, suffix)
            os.utime(path, (time.time() - KEEP_SECONDS - 60,) * 2)
    assert purge_abandoned_uploads(str(tmp_path)) == 4
    assert old_a.load(tokens[0]) is None and old_b.load(tokens[1]) is None
    assert old_b.load(fresh) is not None


def test_a_file_wider_than_the_limit_is_refused_at_once_with_a_clear_message(as_role, app, tmp_path, monkeypatch):
    """Before: a header of 100,000 columns gave a 250 s, 101 MB column-mapping page."""
    monkeypatch.setattr(app, "instance_path", str(tmp_path))
    wide = ",".join(f"c{i}" for i in range(100_000)).encode() + b"\n" + b"1," * 99_999 + b"1\n"
    table = read_table(wide)  # refused at the header (0.24 s measured here, against 250 s for the mapping page)
    assert table.headers == [] and "100,000 columns" in table.issues[0].message
    assert f"at most {MAX_COLUMNS}" in table.issues[0].message
    # Trailing empty columns (a spreadsheet's habit) do not count.
    padded = read_table(b"mrn,last_name" + b"," * 500 + b"\n1,Doe\n")
    assert padded.headers == ["mrn", "last_name"] and not padded.issues
    response = as_role("nurse").post(
        "/import/", {"file": (io.BytesIO(wide), "wide.csv")}, content_type="multipart/form-data"
    )
    assert response.status_code in (200, 302, 422)
    page = (
        as_role("nurse").get(response.location).get_data(as_text=True)
        if response.status_code == 302
        else response.get_data(as_text=True)
    )
    assert "100,000 columns" in page and len(page) < 200_000


@pytest.mark.parametrize(
    "typed, safe",
    [
        ("=1+2", "'=1+2"),
        ("Doe;=1+2", "Doe;'=1+2"),
        ("Doe, @SUM(A1)", "Doe, '@SUM(A1)"),
        ("a|-2+3", "a|'-2+3"),
        ("Doe\t+1", "Doe\t'+1"),
        ("O'Brien-Smith", "O'Brien-Smith"),
        ("2026-12-03", "2026-12-03"),
        ("", ""),
        # A plain number is data, not a formula: "-66" days stays a number a spreadsheet sorts (it was "'-66").
        ("-66", "-66"),
        ("+2", "+2"),
        ("-0.5", "-0.5"),
        ("-1+2", "'-1+2"),
        ("-66 days", "'-66 days"),
        ("-", "'-"),
    ],
)
def test_a_formula_after_any_separator_is_defused(typed, safe):
    """Before: only the first character was checked, so "Doe;=1+2" ran as a formula in a ';' spreadsheet."""
    assert csv_cell(typed) == safe


def test_exports_quote_every_cell(app, as_role, world, session):
    from tests.support.factories import make_patient
    from tracker.web.exports import csv_response

    with app.test_request_context():
        body = csv_response([["Doe;=1+2", 5, None]], "x.csv").get_data(as_text=True)
    assert body == '"Doe;\'=1+2","5",""\r\n'
    make_patient(session, world)
    export = as_role("admin").get("/patients/export.csv").get_data(as_text=True)
    assert all(line.startswith('"') and line.endswith('"') for line in export.splitlines())


def test_a_failure_after_the_view_is_logged_with_the_status_the_client_got(app, caplog):
    """Before: an error raised while the request closed (teardown) reached the client as a 500 but was logged
    as the view's 200."""
    broken = create_app(TestConfig, TESTING=False, SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])

    @broken.teardown_request
    def _fail(error):
        from flask import request

        if request.path == "/healthz":
            raise RuntimeError("teardown failed")

    caplog.set_level(logging.INFO, logger="tracker.request")
    with pytest.raises(RuntimeError):
        broken.test_client().get("/healthz", buffered=True)
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "tracker.request"]
    assert [(line["path"], line["status"]) for line in lines] == [("/healthz", 500)]
