"""The daily e-mail's exactly-once promise where threads cannot show it: separate OS processes racing for the
same day, a process killed with SIGKILL while it holds a claim, the scheduler's start-up run after a late start,
a day with the app down all day, and the clock moved across days and daylight-saving changes (time-machine).

Every test talks to a real SMTP server (aiosmtpd) in this process and to the suite's database (the SQLite file of
the `database_url` fixture, or TRACKER_TEST_DATABASE_URL), which the worker processes open too. Each process is
handed the instant it lives at (tests/support/pinned.py): no test races the machine's clock, and a claim lease runs
out because the next process is started later on the clock, not because the test slept through it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time as walltime
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import time_machine
from sqlalchemy import func, select

from config import TestConfig
from tests.support import clock
from tests.support.digest_smtp import HoldingRecorder, Recorder, smtp_server
from tests.support.factories import make_user
from tracker import create_app, jobs
from tracker.clinic_zone import clinic_zone_name, set_clinic_zone
from tracker.extensions import db
from tracker.models import DigestRun, OutboxMessage, User
from tracker.models.digest import QUEUED, SENDING, SENT
from tracker.services import digest as service

NY = ZoneInfo("America/New_York")
ROOT = Path(__file__).resolve().parents[2]
SETTINGS = {
    "DIGEST_RETRY_MINUTES": "1,2,5,10,20,30,60",
    "DIGEST_RETRY_HOURS": 24,
    "DIGEST_CLAIM_LEASE_SECONDS": 600,
    "DIGEST_SEND_TIME": "06:30",
    "DIGEST_NOTHING_DUE_EMAIL": True,
    "DIGEST_SEND_MISSED_DAYS": False,
    "MAIL_FROM": "ITB tracker <itb@clinic.test>",
    "BASE_URL": "https://tracker.clinic.test",
    "CLINIC_TIMEZONE": "America/New_York",
    "SMTP_TIMEOUT_SECONDS": 30,
}


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), NY)


@pytest.fixture
def digest_config(app):
    """The digest settings for one test, restored afterwards (the app is shared by the whole run). These tests
    pin New York (its daylight-saving days): the process's clinic zone too, which every app created here sets."""
    keys = list(SETTINGS) + ["SMTP_URL"]
    saved, zone = {k: app.config.get(k) for k in keys}, clinic_zone_name()
    app.config.update(SETTINGS)
    set_clinic_zone(SETTINGS["CLINIC_TIMEZONE"])
    yield app.config
    app.config.update(saved)
    set_clinic_zone(zone)


@pytest.fixture
def recipients(session, world) -> list[str]:
    return sorted(session.scalars(select(User.email).where(User.active.is_(True))))


def day_of(message) -> str:
    """The clinic day a received message belongs to, from its Message-ID <itb-digest.YYYY-MM-DD.UID@domain>."""
    return message["Message-ID"].split(".")[1]


def another_app(app, **overrides):
    same = {key: app.config[key] for key in ["SQLALCHEMY_DATABASE_URI", "SMTP_URL", *SETTINGS]}
    return create_app(TestConfig, **same | overrides)


def dispose(*apps):
    for other in apps:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


# --- separate processes -----------------------------------------------------------------------------------------


# The processes live at 10:00 New York time on the suite's day: past the 06:30 send time, so each builds and sends.
WORKER_NOW = at(clock.TODAY, 10)


def pinned(now: datetime, module: str, *args: str) -> list[str]:
    """The command line running `python -m module args` with its clock starting at `now`."""
    return [sys.executable, "-m", "tests.support.pinned", now.isoformat(), module, *args]


def worker_settings(database_url: str, port: int, **overrides) -> dict:
    return {
        **SETTINGS,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SMTP_URL": f"smtp://127.0.0.1:{port}",
        "SMTP_TIMEOUT_SECONDS": 20,
    } | overrides


def start_worker(settings: dict, now: datetime = WORKER_NOW) -> subprocess.Popen:
    """python -m tests.support.digest_worker in its own process, its clock starting at `now`; no TRACKER_* variable
    of ours leaks into it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.Popen(
        pinned(now, "tests.support.digest_worker", json.dumps(settings)),
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = 60) -> dict:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out.strip().splitlines()[-1])


def completed(session) -> date | None:
    session.rollback()  # a fresh snapshot: another thread or process wrote it
    return service.last_completed_day(session)


def wait_until(predicate, timeout: float, what: str) -> None:
    deadline = walltime.monotonic() + timeout
    while not predicate():
        assert walltime.monotonic() < deadline, f"timed out waiting for {what}"
        walltime.sleep(0.01)


@pytest.mark.slow  # separate OS processes
def test_two_processes_sending_the_same_day_deliver_one_message_per_recipient(
    app, world, session, digest_config, database_url, tmp_path
):
    for _ in range(36):
        make_user(session, "nurse")
    expected = sorted(session.scalars(select(User.email).where(User.active.is_(True))))
    recorder = Recorder(delay_seconds=0.02)  # a slow server keeps both senders busy at the same time
    go = tmp_path / "go"
    with smtp_server(recorder) as (_, port):
        workers = [
            start_worker(worker_settings(database_url, port, go_file=str(go), ready_file=str(tmp_path / f"ready-{n}")))
            for n in range(2)
        ]
        try:
            wait_until(
                lambda: all((tmp_path / f"ready-{n}").exists() or workers[n].poll() is not None for n in range(2)),
                30,
                "both workers to connect",
            )
            go.touch()  # both build the day and send from here on, at the same instant
            reports = [finish(w) for w in workers]
        finally:
            for w in workers:
                if w.poll() is None:
                    w.kill()
    received = [m["To"] for m in recorder.messages]
    message_ids = [m["Message-ID"] for m in recorder.messages]
    print(
        f"\nMEASURED two processes: expected {len(expected)} messages to {len(expected)} recipients; "
        f"received {len(received)}, distinct recipients {len(set(received))}, distinct Message-IDs "
        f"{len(set(message_ids))}; " + ", ".join(f"pid {r['pid']} sent {r['sent']}" for r in reports)
    )
    assert sorted(received) == expected  # each recipient exactly once, nobody else
    assert len(set(message_ids)) == len(expected)
    assert sum(r["sent"] for r in reports) == len(expected)
    assert all(r["sent"] > 0 for r in reports), f"the two processes did not overlap: {reports}"
    assert reports[0]["day"] == reports[1]["day"] == WORKER_NOW.date().isoformat()
    session.expire_all()
    [run] = session.scalars(select(DigestRun)).all()
    assert run.digest_day.isoformat() == reports[0]["day"]
    assert (run.recipients, run.sent, run.dead) == (len(expected), len(expected), 0) and run.completed_at
    assert {m.status for m in service.messages_for(session, run.digest_day)} == {SENT}


@pytest.mark.slow  # separate OS processes
@pytest.mark.parametrize("accepted", [False, True], ids=["killed-while-server-held-data", "killed-after-250"])
def test_a_process_killed_after_claiming_is_sent_once_by_the_next_run_after_the_lease(
    app, world, session, digest_config, recipients, database_url, accepted
):
    """SIGKILL while the server holds DATA: the message is delivered once, by the next run after the lease.
    (killed-after-250: the server accepted it just before the kill, the documented window: the next run sends
    it again with the same Message-ID and Date, so the recipient's client shows one.)"""
    lease = 600  # the default: the test moves the next process's clock past it instead of waiting
    recorder = HoldingRecorder(accept=accepted)
    with smtp_server(recorder) as (_, port):
        settings = worker_settings(database_url, port, DIGEST_CLAIM_LEASE_SECONDS=lease)
        victim = start_worker(settings)  # builds the day's outbox, claims the first message, stalls in DATA
        try:
            assert recorder.holding.wait(30), victim.communicate(timeout=5)
        finally:
            victim.send_signal(signal.SIGKILL)
            victim.communicate(timeout=10)
            recorder.release.set()
        assert victim.returncode == -signal.SIGKILL

        session.expire_all()
        messages = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        [claimed] = [m for m in messages if m.status == SENDING]
        assert f":{victim.pid}:" in claimed.claimed_by and claimed.attempts == 1
        assert recorder.held["Message-ID"] == claimed.message_id
        assert Counter(m.status for m in messages) == {SENDING: 1, QUEUED: len(recipients) - 1}

        within = finish(start_worker(settings))  # the claim may still be alive: everything else, not that one
        assert (within["sent"], within["released"]) == (len(recipients) - 1, 0)
        assert len(recorder.to(claimed.to_address)) == (1 if accepted else 0)

        after_the_lease = claimed.claimed_at.astimezone(UTC) + timedelta(seconds=lease + 1)
        after = finish(start_worker(settings, now=after_the_lease))
        assert (after["sent"], after["released"]) == (1, 1)

    received = Counter(m["To"] for m in recorder.messages)
    copies = recorder.to(claimed.to_address)
    print(
        f"\nMEASURED SIGKILL after claim ({'server had accepted' if accepted else 'server held DATA'}): "
        f"expected {len(recipients)} recipients once each; received {len(recorder.messages)} messages; "
        f"the killed pid {victim.pid} held {claimed.message_id}; its recipient got {len(copies)} "
        f"(Message-IDs {[m['Message-ID'] for m in copies]}); within-lease run sent {within['sent']}, "
        f"after-lease run re-queued {after['released']} and sent {after['sent']}"
    )
    assert set(received) == set(recipients)
    assert all(n == 1 for to, n in received.items() if to != claimed.to_address)
    if accepted:
        assert len(copies) == 2 and len(recorder.messages) == len(recipients) + 1
        assert copies[0]["Message-ID"] == copies[1]["Message-ID"] == claimed.message_id
        assert copies[0]["Date"] == copies[1]["Date"]
    else:
        assert len(copies) == 1 and len(recorder.messages) == len(recipients)
        assert copies[0]["Message-ID"] == claimed.message_id
    session.expire_all()
    row = session.get(OutboxMessage, claimed.id)
    assert row.status == SENT and row.attempts == 2
    assert {m.status for m in session.scalars(select(OutboxMessage))} == {SENT}
    assert session.scalar(select(DigestRun.completed_at)) is not None


# --- the scheduler's start-up run, and days the app was down ------------------------------------------------------


def test_app_down_at_0630_and_started_at_0900_sends_the_day_at_start_up(app, world, session, digest_config, recipients):
    day = date(2027, 3, 13)  # the Saturday before the spring-forward change
    with smtp_server() as (recorder, port):
        digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        with time_machine.travel(at(day, 9), tick=True):
            started = another_app(app, SCHEDULER=True)  # the start-up job, nothing called by hand
            try:
                assert jobs.scheduler_state(started)["state"] == "running"
                assert recorder.wait_for(len(recipients), timeout=15), "the start-up run sent nothing"
                cron = jobs._scheduler.get_job("digest-send-time")
                next_fire = cron.next_run_time
                after_that = cron.trigger.get_next_fire_time(next_fire, next_fire + timedelta(seconds=1))
            finally:
                jobs.shutdown_scheduler()  # waits for a running job: the counts below are final
                dispose(started)
    assert sorted(m["To"] for m in recorder.messages) == recipients
    assert {day_of(m) for m in recorder.messages} == {day.isoformat()}
    sent_at = parsedate_to_datetime(recorder.messages[0]["Date"]).astimezone(NY)
    assert at(day, 9) <= sent_at < at(day, 9, 1)
    [run] = session.scalars(select(DigestRun)).all()
    assert run.digest_day == day and run.completed_at is not None and run.sent == len(recipients)
    # The send-time job fires next at 06:30 local on the following days, across the change to daylight time.
    assert next_fire == at(day + timedelta(days=1), 6, 30) and next_fire.utcoffset() == timedelta(hours=-4)
    assert after_that == at(day + timedelta(days=2), 6, 30)
    assert at(day, 6, 30).utcoffset() == timedelta(hours=-5)


@pytest.mark.parametrize("send_missed", [False, True], ids=["default-note-the-gap", "setting-sends-the-missed-day"])
def test_a_day_with_the_app_down_all_day(app, world, session, digest_config, recipients, send_missed):
    monday, tuesday, wednesday = date(2027, 3, 8), date(2027, 3, 9), date(2027, 3, 10)
    admin = world.users["admin"].email
    with smtp_server() as (recorder, port):
        digest_config.update(SMTP_URL=f"smtp://127.0.0.1:{port}", DIGEST_SEND_MISSED_DAYS=send_missed)
        with time_machine.travel(at(monday, 6, 30), tick=False):
            jobs.digest_tick(app, "send time")  # Monday as usual
        assert len(recorder.messages) == len(recipients)
        # Tuesday the app is down all day; it starts on Wednesday at 09:00.
        with time_machine.travel(at(wednesday, 9), tick=True):
            started = another_app(app, SCHEDULER=True)
            try:
                wait_until(lambda: completed(session) == wednesday, 15, "the start-up run")
            finally:
                jobs.shutdown_scheduler()
                dispose(started)
        with time_machine.travel(at(wednesday, 10), tick=False):
            status = app.test_cli_runner().invoke(args=["digest", "status"]).output

    per_day = Counter(day_of(m) for m in recorder.messages)
    assert set(Counter((day_of(m), m["To"]) for m in recorder.messages).values()) == {1}
    [wednesday_admin] = [m for m in recorder.to(admin) if day_of(m) == wednesday.isoformat()]
    admin_text = wednesday_admin.get_body(("plain",)).get_content()
    runs = {r.digest_day: r for r in session.scalars(select(DigestRun))}
    if send_missed:
        assert per_day == {d.isoformat(): len(recipients) for d in (monday, tuesday, wednesday)}
        assert runs[tuesday].completed_at and at(wednesday, 9) <= runs[tuesday].started_at < at(wednesday, 9, 1)
        late = [m for m in recorder.messages if day_of(m) == tuesday.isoformat()]
        assert all(parsedate_to_datetime(m["Date"]).astimezone(NY).date() == wednesday for m in late)
        assert "Days whose digest was sent late, after the day had ended: 9 Mar 2027" in admin_text
        assert "Days with no completed digest" not in admin_text and "Days with no completed digest" not in status
    else:
        assert per_day == {monday.isoformat(): len(recipients), wednesday.isoformat(): len(recipients)}
        assert tuesday not in runs
        # The gap is noted: in the admins' digest (its subject counts it as a problem) and in `digest status`.
        assert "Days with no completed digest: 9 Mar 2027" in admin_text
        assert "1 scheduler problem" in wednesday_admin["Subject"]
        assert "Days with no completed digest: 2027-03-09" in status
    nurse_text = [m for m in recorder.to(world.users["nurse"].email) if day_of(m) == wednesday.isoformat()][0]
    assert "Days with no completed digest" not in nurse_text.get_body(("plain",)).get_content()


# --- the clock moved across days and daylight-saving changes ---------------------------------------------------


@pytest.mark.parametrize("first_day", [date(2027, 3, 13), date(2026, 10, 31)], ids=["spring-forward", "fall-back"])
@pytest.mark.slow
def test_clock_moved_across_days_and_a_dst_change_sends_one_digest_per_day_at_0630_local(
    app, world, session, digest_config, recipients, first_day
):
    """The scheduler's job runs every 15 minutes of wall-clock time (UTC steps, as APScheduler's interval
    trigger would) from midnight before the first day to 07:00 on the third: each day's digest goes out once,
    at the first run at or after 06:30 local, whether the day is 23, 24 or 25 hours long."""
    days = [first_day + timedelta(days=n) for n in range(3)]
    deliveries: list[tuple[datetime, object]] = []
    with smtp_server() as (recorder, port):
        digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        now, end = at(days[0], 0).astimezone(UTC), at(days[-1], 7)
        with time_machine.travel(now, tick=False) as clock:
            while now <= end:
                clock.move_to(now)
                before = len(recorder.messages)
                jobs.digest_tick(app, "catch-up")
                deliveries += [(now, m) for m in recorder.messages[before:]]
                now += timedelta(minutes=15)

    assert len(recorder.messages) == len(recipients) * len(days)
    assert Counter((day_of(m), m["To"]) for _, m in deliveries) == {
        (d.isoformat(), to): 1 for d in days for to in recipients
    }
    sent_local: dict[str, set[datetime]] = {}
    for when, message in deliveries:
        sent_local.setdefault(day_of(message), set()).add(when.astimezone(NY))
    for day in days:
        [when] = sent_local[day.isoformat()]  # all of a day's messages in one run
        assert when == at(day, 6, 30) and when.date() == day
    offsets = {at(d, 6, 30).utcoffset() for d in days}
    assert len(offsets) == 2, "the days should straddle a daylight-saving change"
    for _, message in deliveries:  # the Date header is the outbox row's creation: 06:30 local too
        assert parsedate_to_datetime(message["Date"]).astimezone(NY).time() == time(6, 30)
    runs = session.scalars(select(DigestRun).order_by(DigestRun.digest_day)).all()
    assert [r.digest_day for r in runs] == days
    assert all(r.completed_at and r.sent == len(recipients) and r.dead == 0 for r in runs)
    assert session.scalar(select(func.count()).select_from(OutboxMessage)) == len(recipients) * len(days)


# --- `flask --app wsgi scheduler`: the jobs in a process of their own ---------------------------------------------


def start_scheduler_process(database_url: str, port: int, log: Path) -> subprocess.Popen:
    """The production scheduler process, started as its systemd unit would: only TRACKER_* variables configure it.
    Its clock starts at 10:00 New York time, past the 06:30 send time, so its start-up run builds and sends the day."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(
        PYTHONPATH=str(ROOT),
        TRACKER_ENV="development",
        TRACKER_DATABASE_URL=database_url,
        TRACKER_SMTP_URL=f"smtp://127.0.0.1:{port}",
        TRACKER_DIGEST_SEND_TIME=SETTINGS["DIGEST_SEND_TIME"],
        TRACKER_CLINIC_TIMEZONE=SETTINGS["CLINIC_TIMEZONE"],
        TRACKER_MAIL_FROM=SETTINGS["MAIL_FROM"],
    )
    with log.open("w") as out:
        return subprocess.Popen(
            pinned(WORKER_NOW, "flask", "--app", "wsgi", "scheduler"),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def stop(process: subprocess.Popen, log: Path) -> str:
    """SIGTERM, as systemd stops a unit; the process must finish its job and exit 0."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return log.read_text()


@pytest.mark.slow  # separate OS processes
@pytest.mark.parametrize("processes", [1, 2], ids=["one-process", "two-processes-by-mistake"])
def test_the_scheduler_command_sends_the_day_once_and_stops_cleanly_on_sigterm(
    app, world, session, digest_config, recipients, database_url, tmp_path, processes
):
    logs = [tmp_path / f"scheduler-{n}.log" for n in range(processes)]
    with smtp_server() as (recorder, port):
        running = [start_scheduler_process(database_url, port, log) for log in logs]
        outputs = []
        try:
            wait_until(
                lambda: completed(session) is not None or any(p.poll() is not None for p in running),
                90,
                "a scheduler process to send the day",
            )
            # Every process has run the start-up job: the later ones found the day built and sent, and sent nothing.
            wait_until(
                lambda: all(
                    "job digest-start-up ran" in log.read_text() or p.poll() is not None
                    for p, log in zip(running, logs, strict=True)
                ),
                60,
                "every start-up run",
            )
        finally:
            outputs = [stop(p, log) for p, log in zip(running, logs, strict=True)]
    for process, output in zip(running, outputs, strict=True):
        assert process.returncode == 0, output[-3000:]
        assert "job digest-start-up ran" in output and "SIGTERM received" in output, output[-3000:]
        assert f"scheduler process {process.pid} stopped" in output
        assert "Traceback" not in output, output[-3000:]
    assert sorted(m["To"] for m in recorder.messages) == recipients  # each recipient exactly once
    session.expire_all()
    [run] = session.scalars(select(DigestRun)).all()
    assert run.digest_day == WORKER_NOW.date()
    assert run.completed_at is not None and run.sent == len(recipients)
    assert any(run.started_by.endswith(f":{p.pid}") for p in running), run.started_by


@pytest.mark.slow  # separate OS processes
def test_the_scheduler_command_refuses_a_bad_setting_with_a_clear_message(database_url, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    env.update(PYTHONPATH=str(ROOT), TRACKER_DATABASE_URL=database_url, TRACKER_DIGEST_SEND_TIME="6.30am")
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "scheduler"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "The scheduler cannot start: TRACKER_DIGEST_SEND_TIME must look like 06:30, not '6.30am'" in result.stderr
