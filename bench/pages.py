"""The pages the benchmark drives, and in-process measurements: SQL statements per request (a
before_cursor_execute counter around the Flask test client) and single-request latency without HTTP."""

from __future__ import annotations

import calendar as cal
import re
import statistics
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from tracker.extensions import db
from tracker.models import Location, Patient, Pump, RefillSchedule, RefillVisit
from tracker.statements import statements_run

LOGIN_EMAIL = "coordinator1@demo.example"
LOGIN_PASSWORD = "demo-password-1234"
CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')

# (key, label); the URL of each is worked out from the data (a clinic, an implanted patient, this month).
PAGES = [
    ("static", "static file /static/css/app.css"),
    ("healthz", "/healthz (2 tiny queries)"),
    ("list", "patient list, 50 rows, filtered"),
    ("board", "stage board"),
    ("patient", "patient page (implanted)"),
    ("cal_json", "calendar month data (JSON)"),
    ("cal_page", "calendar month page"),
    ("worklist", "worklist"),
]
REFERENCES = ("static", "healthz")


def clinic_today(app) -> date:
    return datetime.now(ZoneInfo(app.config["CLINIC_TIMEZONE"])).date()


def urls(app) -> dict[str, str]:
    """Concrete URLs for this database: the busiest clinic, a typical implanted patient, this month's grid."""
    with app.app_context():
        s = db.session
        location = s.scalar(
            select(Patient.location_id)
            .group_by(Patient.location_id)
            .order_by(func.count().desc(), Patient.location_id)
            .limit(1)
        )
        assert s.get(Location, location).kind == "clinic"
        # An active patient in adjustment whose pump holds drug, with a median number of fills.
        fills = select(RefillVisit.pump_id, func.count().label("n")).group_by(RefillVisit.pump_id).subquery()
        candidates = s.execute(
            select(Patient.id, fills.c.n)
            .join(Pump, Pump.patient_id == Patient.id)
            .join(RefillSchedule, RefillSchedule.pump_id == Pump.id)
            .join(fills, fills.c.pump_id == Pump.id)
            .where(Patient.stage == "adjustment", Patient.status == "active")
            .order_by(Patient.id)
            .limit(200)
        ).all()
        patient = sorted(candidates, key=lambda r: (r.n, r.id))[len(candidates) // 2].id
    today = clinic_today(app)
    weeks = cal.Calendar(firstweekday=0).monthdatescalendar(today.year, today.month)
    start, end = weeks[0][0], weeks[-1][-1]
    return {
        "static": "/static/css/app.css",
        "healthz": "/healthz",
        "list": f"/patients?stage=adjustment&location={location}",
        "board": "/board",
        "patient": f"/patients/{patient}",
        "cal_json": f"/calendar/events.json?start={start}&end={end}",
        "cal_page": "/calendar",
        "worklist": "/worklist",
    }


def login(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    token = CSRF.search(page).group(1)
    response = client.post("/login", data={"email": LOGIN_EMAIL, "password": LOGIN_PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


@dataclass
class InProcess:
    queries: int
    median_ms: float
    body_kb: float


def measure(app, url_map: dict[str, str], repeat: int = 5) -> dict[str, InProcess]:
    """Per page: statements executed by one request (after a warm-up request) and the median of `repeat`."""
    client = app.test_client()
    with app.app_context():
        login(client)
        engine = db.engine
    results = {}
    for key, url in url_map.items():
        client.get(url)  # warm-up: template compilation, first connection
        with statements_run(engine) as statements:
            response = client.get(url)
        assert response.status_code == 200, (url, response.status_code)
        timings = []
        for _ in range(repeat):
            started = time.perf_counter()
            client.get(url)
            timings.append((time.perf_counter() - started) * 1000)
        results[key] = InProcess(len(statements), statistics.median(timings), len(response.data) / 1024)
    return results


def time_digest(app, repeat: int = 3) -> dict:
    """The daily digest as the scheduler builds it, without writing: tracker.services.digest.contents (every
    recipient's e-mail computed). `rows_loaded`: the refill rows its pre-filter reads (those that may need action)."""
    from tracker.services import digest
    from tracker.services.settings import risk_windows
    from tracker.services.worklist import refill_facts

    with app.app_context():
        s = db.session
        pumps = s.scalar(select(func.count()).select_from(Pump).where(Pump.explanted_on.is_(None)))
        schedules = s.scalar(select(func.count()).select_from(RefillSchedule))
        now = datetime.now(UTC)
        today = clinic_today(app)
        options = digest.DigestOptions.from_config(app.config)
        timings = []
        for _ in range(repeat):
            s.expire_all()
            started = time.perf_counter()
            digest.contents(s, today, now, options)
            timings.append(time.perf_counter() - started)
            s.rollback()
        rows = len(refill_facts(s, today, now, risk_windows(s), needing_action=True))
        s.rollback()
    return {
        "what": "tracker.services.digest.contents (all recipients)",
        "pumps": pumps,
        "schedules": schedules,
        "rows_loaded": rows,
        "seconds": statistics.median(timings),
        "all": timings,
    }
