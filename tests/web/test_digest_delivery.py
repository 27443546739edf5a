"""The morning e-mail never fails silently (issue 18, item 4): an SMTP outage longer than the retry budget used to be
keeps the day open, /healthz degraded and a banner on every page until the messages are delivered (late, once,
saying so); a server that accepted DATA has the message, whatever it answers to QUIT.

A real SMTP server in this process (aiosmtpd), the scheduler's job body (jobs.digest_tick) run every 15 minutes
of an injected clock (time-machine), and the pages and /healthz read at that clock."""

from __future__ import annotations

import html
import re
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta

import pytest
import time_machine
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import select

from tests.support.digest_smtp import RESET, free_port, smtp_server
from tests.support.factories import CLINIC_ZONE
from tracker import jobs
from tracker.extensions import db
from tracker.models import DigestRun, OutboxMessage, User
from tracker.models.digest import DEAD, QUEUED, SENT
from tracker.statements import statements_run

DAY = date(2026, 12, 3)  # a Thursday
BANNER = "Today's reminder e-mail has not gone out: use the worklist"
LATE_LINE = "Sent late: this is the reminder for Thu 3 Dec, delayed by a mail outage since 06:00"


def at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(DAY, time(hour, minute), CLINIC_ZONE)


@pytest.fixture
def digest_config(app):
    """Send at 06:00, late from 06:15; the retry settings are the defaults. Restored afterwards."""
    keys = [
        "SMTP_URL",
        "DIGEST_SEND_TIME",
        "DIGEST_LATE_AFTER_MINUTES",
        "DIGEST_NOTHING_DUE_EMAIL",
        "MAIL_FROM",
        "BASE_URL",
        "DIGEST_CLAIM_LEASE_SECONDS",
    ]
    saved = {k: app.config[k] for k in keys if k in app.config}
    app.config.update(
        DIGEST_SEND_TIME="06:00",
        DIGEST_LATE_AFTER_MINUTES=15,
        DIGEST_NOTHING_DUE_EMAIL=True,
        MAIL_FROM="ITB tracker <itb@clinic.test>",
        BASE_URL="https://tracker.clinic.test",
        DIGEST_CLAIM_LEASE_SECONDS=600,
    )
    yield app.config
    for key in keys:
        app.config.pop(key, None)
    app.config.update(saved)


@pytest.fixture
def recipients(session, world) -> list[str]:
    return sorted(session.scalars(select(User.email).where(User.active.is_(True))))


def tick_every_15_minutes(app, clock, start: datetime, end: datetime, recorder=None) -> dict[datetime, int]:
    """The scheduler's job as its catch-up trigger runs it, from `start` to `end`; messages received per tick."""
    received, now = {}, start
    while now <= end:
        clock.move_to(now)
        before = len(recorder.messages) if recorder else 0
        jobs.digest_tick(app, "catch-up")
        received[now] = (len(recorder.messages) if recorder else 0) - before
        now += timedelta(minutes=15)
    return received


def outbox(session) -> list[OutboxMessage]:
    session.expire_all()
    return list(session.scalars(select(OutboxMessage).where(OutboxMessage.digest_day == DAY)))


def the_run(session) -> DigestRun:
    session.expire_all()
    return session.scalar(select(DigestRun).where(DigestRun.digest_day == DAY))


def page_text(response) -> str:
    """The page's words without tags, so a sentence with a link in it reads as one."""
    assert response.status_code == 200
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", response.get_data(as_text=True))))


def plain(message) -> str:
    return message.get_body(("plain",)).get_content().replace("\r\n", "\n")


@pytest.mark.slow
def test_an_outage_longer_than_the_old_retry_budget_keeps_the_day_open_then_delivers_once_marked_late(
    app, world, session, digest_config, client, as_role, recipients
):
    port = free_port()
    digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"  # nothing listens there: the mail server is down
    with time_machine.travel(at(6), tick=False) as clock:
        # Three hours down. The old budget (5 attempts, 2 minutes doubling) gave up after about an hour.
        tick_every_15_minutes(app, clock, at(6), at(9))
        during = {
            "statuses": Counter(m.status for m in outbox(session)),
            "run": the_run(session),
            "health": client.get("/healthz"),
            "nurse": page_text(as_role("nurse").get("/patients")),
            "admin": page_text(as_role("admin").get("/patients")),
        }
    health = during["health"].get_json()
    print(
        f"\nMEASURED outage 06:00-09:00: outbox {dict(during['statuses'])}, day complete "
        f"{during['run'].completed_at is not None}, /healthz {during['health'].status_code} {health['status']}, "
        f"last_digest_day {health['last_digest_day']}, banner {BANNER in during['nurse']}"
    )
    assert during["statuses"] == {QUEUED: len(recipients)}, "nothing may be given up after three hours"
    assert during["run"].completed_at is None and health["last_digest_day"] != DAY.isoformat()
    assert during["health"].status_code == 503 and health["status"] == "degraded"
    assert health["digest"]["state"] == "late"
    assert f"{len(recipients)} of {len(recipients)} of today's e-mails not delivered" in health["digest"]["reason"]
    assert "ConnectionRefusedError" in health["digest"]["reason"] and "@" not in str(health)
    assert BANNER in during["nurse"] and BANNER in during["admin"] and "Delivery details" in during["admin"]

    with smtp_server(port=port) as (recorder, _):  # the mail server is back at 09:15
        with time_machine.travel(at(9, 15), tick=False) as clock:
            received = tick_every_15_minutes(app, clock, at(9, 15), at(11), recorder)
            after = {"health": client.get("/healthz"), "nurse": page_text(as_role("nurse").get("/patients"))}
    # Failures at 06:00 (+1 min), 06:15 (+2), 06:30 (+5), 06:45 (+10), 07:00 (+20), 07:30 (+30), 08:00 (+60),
    # 09:00 (+60): the next attempt is 10:00, delivered by the first run at or after it.
    print(
        f"MEASURED after the server came back at 09:15: received per run {[n for n in received.values()]}, "
        f"total {len(recorder.messages)} for {len(recipients)} recipients, /healthz "
        f"{after['health'].status_code}"
    )
    assert {when: n for when, n in received.items() if n} == {at(10): len(recipients)}
    assert sorted(m["To"] for m in recorder.messages) == recipients  # once each, never again
    for message in recorder.messages:
        assert plain(message).splitlines()[0] == LATE_LINE
        assert LATE_LINE in message.get_body(("html",)).get_content()
    rows = outbox(session)
    assert {m.status for m in rows} == {SENT} and {m.message_id for m in rows} == {
        m["Message-ID"] for m in recorder.messages
    }
    run = the_run(session)
    assert run.completed_at is not None and run.sent == len(recipients) and run.dead == 0
    assert after["health"].status_code == 200 and after["health"].get_json()["digest"]["state"] == "delivered"
    assert after["health"].get_json()["last_digest_day"] == DAY.isoformat()
    assert BANNER not in after["nurse"]


@pytest.mark.parametrize(
    "goodbye",
    ["421 4.4.2 Closing the connection", "554 5.3.0 Error at QUIT", RESET],
    ids=["421-to-quit", "554-to-quit", "connection-reset-at-quit"],
)
def test_a_server_that_accepted_data_has_the_message_whatever_it_answers_to_quit(
    app, world, session, digest_config, recipients, goodbye
):
    with smtp_server() as (recorder, port):
        recorder.quit_reply = goodbye
        digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        with time_machine.travel(at(6), tick=False) as clock:
            tick_every_15_minutes(app, clock, at(6), at(8), recorder)  # the retry ladder would have run by now
    rows = outbox(session)
    print(
        f"\nMEASURED {goodbye!r} at QUIT: {len(recorder.messages)} messages at the server for {len(recipients)} "
        f"recipients; outbox {dict(Counter(m.status for m in rows))}"
    )
    assert recorder.quits >= len(recipients), "the server was asked to QUIT after each message"
    assert sorted(m["To"] for m in recorder.messages) == recipients
    assert {(m.status, m.attempts, m.last_error) for m in rows} == {(SENT, 1, "")}
    assert not any(plain(m).startswith("Sent late") for m in recorder.messages)
    assert the_run(session).completed_at is not None


@pytest.mark.slow
def test_the_banner_shows_to_whom_the_email_has_not_reached_and_to_admins_until_it_is_resent(
    app, world, session, digest_config, client, as_role, recipients
):
    nurse, admin = world.users["nurse"], world.users["admin"]
    with smtp_server() as (recorder, port):
        recorder.refuse_to, recorder.reply = {nurse.email}, "550 5.1.1 Mailbox unavailable"
        digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        with time_machine.travel(at(6), tick=False):
            jobs.digest_tick(app, "send time")
        [dead] = [m for m in outbox(session) if m.status == DEAD]  # a permanent refusal: given up at once
        assert dead.to_address == nurse.email and len(recorder.messages) == len(recipients) - 1

        with time_machine.travel(at(6, 10), tick=False):  # before the late moment (06:15): no banner, no query
            early = as_role("nurse")
            assert BANNER not in page_text(early.get("/patients"))
            with_smtp = statements(early, "/worklist")
            digest_config["SMTP_URL"] = ""
            assert statements(early, "/worklist") == with_smtp
            digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
            assert client.get("/healthz").status_code == 200

        with time_machine.travel(at(7), tick=False):
            pages = {role: as_role(role) for role in ("nurse", "coordinator", "admin")}
            assert BANNER in page_text(pages["nurse"].get("/patients"))
            assert BANNER not in page_text(pages["coordinator"].get("/patients")), "hers was delivered"
            assert BANNER in page_text(pages["admin"].get("/patients")), "admins see every undelivered one"
            digest_page = page_text(pages["admin"].get("/admin/digest"))
            assert f"Late: 1 of {len(recipients)} of today's e-mails not delivered" in digest_page
            assert "SMTPDataError 550" in digest_page and "1 given up" in digest_page
            health = client.get("/healthz")
            assert health.status_code == 503 and health.get_json()["digest"]["state"] == "late"
            # The banner costs one statement a page, whatever the page.
            with_banner = statements(pages["coordinator"], "/worklist")
            digest_config["SMTP_URL"] = ""
            assert statements(pages["coordinator"], "/worklist") == with_banner - 1
            digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"

            recorder.refuse_to = set()  # the mailbox is fixed; an admin resends
            assert pages["admin"].post(f"/admin/digest/messages/{dead.id}/resend").status_code == 302
            assert BANNER not in page_text(pages["nurse"].get("/patients"))
            assert BANNER not in page_text(pages["admin"].get("/patients"))
            assert client.get("/healthz").status_code == 200
    [resent] = recorder.to(nurse.email)
    assert plain(resent).splitlines()[0] == LATE_LINE
    assert the_run(session).completed_at is not None and admin.email in {m["To"] for m in recorder.messages}


def statements(client, url: str) -> int:
    with client.app.app_context():
        engine = db.engine
    with statements_run(engine) as seen:
        assert client.get(url).status_code == 200
    return len(seen)


def test_a_retry_sooner_than_the_catch_up_gets_a_run_of_its_own(app, monkeypatch):
    scheduler = BackgroundScheduler(timezone=UTC)
    scheduler.start(paused=True)  # holds the jobs without running them
    monkeypatch.setattr(jobs, "_scheduler", scheduler)
    try:
        first = datetime(2099, 12, 3, 11, 1, tzinfo=UTC)
        jobs._plan_retry(app, first)
        jobs._plan_retry(app, first + timedelta(minutes=2))  # the next run's plan replaces the last
        [retry] = [job for job in scheduler.get_jobs() if job.id == "digest-retry"]
        assert retry.next_run_time == first + timedelta(minutes=2) and retry.args == (app, "retry")
    finally:
        scheduler.shutdown(wait=False)
