"""The daily reminder e-mail end to end: a real SMTP server in the process (aiosmtpd), real app instances
racing for the same day, crashes, retries, dead letters, the catch-up, the scheduler, the pages and the CLI."""

from __future__ import annotations

import shutil
import ssl
import threading
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from types import SimpleNamespace

import click
import pytest
from aiosmtpd.smtp import AuthResult
from sqlalchemy import func, select

from config import TestConfig
from tests.support.digest_smtp import Recorder, self_signed_certificate, server_tls_context, smtp_server
from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago, make_patient, make_user, to_adjustment
from tracker import create_app, jobs
from tracker.clinical.refill_risk import add_months
from tracker.extensions import db
from tracker.formats import fmt_date
from tracker.models import DigestRun, OutboxMessage, Pump, RefillSchedule, Setting, User
from tracker.models.digest import DEAD, QUEUED, SENT
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.services import digest as service
from tracker.services import digest_contents
from tracker.services.bookings import book_refill
from tracker.services.escalation import ask_physician
from tracker.services.mailer import SmtpConfigError, SmtpMailer, compose, parse_smtp_url
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import current_pump
from tracker.services.sender import SendPolicy, claim_next, parse_retry_minutes, send_pending, worker_name
from tracker.services.settings import risk_windows
from tracker.services.worklist import worklist

NAMES_AND_BIRTH_DATE = ("1970", "17 May", "May 17", "Multiple sclerosis", "sclerosis")


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), CLINIC_ZONE)


@pytest.fixture
def digest_config(app):
    """Digest settings for one test, restored afterwards (the app is shared by the whole run)."""
    keys = [
        "SMTP_URL",
        "DIGEST_RETRY_MINUTES",
        "DIGEST_RETRY_HOURS",
        "DIGEST_CLAIM_LEASE_SECONDS",
        "DIGEST_SEND_TIME",
        "DIGEST_NOTHING_DUE_EMAIL",
        "MAIL_FROM",
        "BASE_URL",
        "SMTP_CA_FILE",
    ]
    saved = {k: app.config.get(k) for k in keys}
    app.config.update(
        DIGEST_RETRY_MINUTES="1,2,5,10,20,30,60",
        DIGEST_RETRY_HOURS=24,
        DIGEST_CLAIM_LEASE_SECONDS=600,
        DIGEST_SEND_TIME="06:30",
        DIGEST_NOTHING_DUE_EMAIL=True,
        MAIL_FROM="ITB tracker <itb@clinic.test>",
        BASE_URL="https://tracker.clinic.test",
    )
    yield app.config
    app.config.update(saved)


@pytest.fixture
def smtp(digest_config):
    """A real SMTP server; the app sends to it."""
    with smtp_server() as (recorder, port):
        digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        yield recorder


def options(app) -> digest_contents.DigestOptions:
    return digest_contents.DigestOptions.from_config(app.config, "test")


def another_app(app, **overrides):
    """A second instance of the app (its own engine and pool), as a second process would have."""
    same = {
        key: app.config[key]
        for key in (
            "SQLALCHEMY_DATABASE_URI",
            "SMTP_URL",
            "DIGEST_RETRY_MINUTES",
            "DIGEST_RETRY_HOURS",
            "DIGEST_CLAIM_LEASE_SECONDS",
            "DIGEST_SEND_TIME",
            "DIGEST_NOTHING_DUE_EMAIL",
            "MAIL_FROM",
            "BASE_URL",
        )
    }
    return create_app(TestConfig, **same | overrides)


def dispose(*apps):
    for other in apps:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()


def active_users(session) -> int:
    return session.scalar(select(func.count()).select_from(User).where(User.active.is_(True)))


def messages_by_recipient(session, day: date) -> dict[str, OutboxMessage]:
    return {m.to_address: m for m in service.messages_for(session, day)}


def section(text: str, title: str) -> str:
    """One section of an e-mail's text part: from its title line to the blank line after it."""
    assert title in text, f"no section {title!r} in:\n{text}"
    return text.split(title, 1)[1].split("\n\n", 1)[0]


def sent_digests(app, smtp, day: date) -> dict[str, str]:
    """The day's e-mails as the scheduler sends them (run_due, through the real SMTP server): address -> text."""
    now = at(day, 7)
    result = service.run_due(db.session, app.config, now, "test", clock=lambda: now)
    assert result.day == day and result.report.dead == 0
    return {m["To"]: m.get_body(("plain",)).get_content().replace("\r\n", "\n") for m in smtp.messages}


def schedule(session, patient) -> RefillSchedule:
    return session.get(RefillSchedule, current_pump(session, patient.id).id)


def book(
    session, world, patient, day: date, role: str = "coordinator", late_reason: str = "", override_reason: str = ""
):
    return book_refill(
        session,
        world.actor(role),
        patient.id,
        at(day, 10),
        world.clinic.id,
        world.users["nurse"].id,
        late_reason,
        override_reason,
        datetime.now(UTC),
    )


# --- content from the database -------------------------------------------------------------------------------------


def test_nurse_digest_lists_her_patients_like_the_worklist_by_mrn_without_names(app, world, session, digest_config):
    nurse = world.users["nurse"]
    mine = to_adjustment(session, world, make_patient(session, world))  # due in 13 days
    other_nurse = make_user(session, "nurse", location=world.clinic)
    theirs = to_adjustment(session, world, make_patient(session, world, nurse_id=other_nurse.id))
    overdue_day, soon_day = TODAY + timedelta(days=14), TODAY + timedelta(days=8)

    by_user = {u.id: c for u, c in digest_contents.contents(session, overdue_day, at(overdue_day, 7), options(app))}
    text = by_user[nurse.id].text
    assert "OVERDUE REFILLS (1)" in text and f"MRN {mine.mrn} · due" in text and theirs.mrn not in text
    assert f"https://tracker.clinic.test/patients/{mine.id}" in text
    coordinator = by_user[world.users["coordinator"].id].text
    assert "OVERDUE REFILLS (2)" in coordinator and mine.mrn in coordinator and theirs.mrn in coordinator
    physician = by_user[world.users["physician"].id].text
    assert mine.mrn not in physician and "No request is waiting for a physician" in physician
    assert mine.mrn not in by_user[world.users["admin"].id].text

    # The same rows as the nurse's worklist: one function decides, so the numbers cannot disagree.
    for day in (overdue_day, soon_day):
        content = digest_contents.contents(session, day, at(day, 7), options(app), [nurse.id])[0][1]
        rows = worklist(session, day, at(day, 7), risk_windows(session), nurse_id=nurse.id)
        assert sum(content.counts.values()) == len(rows) == 1
    soon = digest_contents.contents(session, soon_day, at(soon_day, 7), options(app), [nurse.id])[0][1]
    assert "(in 5 days)" in section(soon.text, "DUE SOON (WITHIN 14 DAYS) AND NOT BOOKED (1)")

    for _, content in digest_contents.contents(session, overdue_day, at(overdue_day, 7), options(app)):
        for raw in (content.subject, content.text, content.html):
            for secret in (mine.first_name, mine.last_name, theirs.last_name) + NAMES_AND_BIRTH_DATE:
                assert secret not in raw


def test_warnings_stage_changes_and_battery_come_from_yesterdays_records(app, world, session, digest_config):
    patient = to_adjustment(session, world, make_patient(session, world))
    pump = current_pump(session, patient.id)
    # 4 mL less than expected in the reservoir, and 3 mL missing after the fill: both warnings.
    record_refill(
        session,
        world.actor(),
        pump.id,
        RefillEntry(
            visit_at=datetime.now(CLINIC_ZONE) - timedelta(minutes=5),
            expected_residual_ml=Decimal("14"),
            actual_residual_ml=Decimal("10"),
            concentration_mcg_per_ml=500,
            volume_added_ml=Decimal("20"),
            resulting_volume_ml=Decimal("17"),
        ),
        True,
        datetime.now(CLINIC_ZONE),
    )
    session.get(Pump, pump.id).battery_replacement_due = TODAY + timedelta(days=60)
    session.commit()
    tomorrow = TODAY + timedelta(days=1)
    batteries = "PUMP BATTERIES: ERI, REPLACEMENT PAST DUE OR DUE WITHIN 6 MONTHS (1)"

    text = digest_contents.contents(session, tomorrow, at(tomorrow, 7), options(app), [world.users["nurse"].id])[0][
        1
    ].text
    assert "NEW REFILL WARNINGS (RESIDUAL DISCREPANCY, POCKET FILL) (2)" in text
    assert "Residual discrepancy · Residual 4 mL less than expected" in text and "Possible pocket fill" in text
    assert "STAGE CHANGES SINCE YESTERDAY (4)" in text and "Implantation → Adjustment" in text
    assert "Battery replacement due within 6 months" in section(text, batteries)
    assert patient.last_name not in text and "1970" not in text

    # The day after tomorrow, yesterday's records are no longer new; the battery stays until it is replaced.
    later = tomorrow + timedelta(days=1)
    text = digest_contents.contents(session, later, at(later, 7), options(app), [world.users["nurse"].id])[0][1].text
    assert "STAGE CHANGES SINCE YESTERDAY (0)" in text and "(RESIDUAL DISCREPANCY, POCKET FILL) (0)" in text
    assert batteries in text


def test_a_pump_past_its_alarm_booked_with_a_physician_override_stays_in_the_email_and_goes_to_physicians(
    app, world, session, smtp
):
    patient = implanted_days_ago(session, world, 31)  # due 8 days ago, alarm yesterday, empty in 2 days
    dates = schedule(session, patient)
    assert dates.alarm_date < TODAY < dates.empty_date - timedelta(days=1)
    appointment = book(
        session,
        world,
        patient,
        TODAY + timedelta(days=1),
        role="physician",
        override_reason="Inpatient elsewhere; reservoir checked there",
    )
    assert appointment.override_by_id == world.users["physician"].id
    # A physician at another clinic still hears of it: pumps past their alarm are put before every physician.
    elsewhere = make_user(session, "physician", location=world.sites["Buckhead Clinic"])

    mail = sent_digests(app, smtp, TODAY)
    booked = f"Booked after the alarm date ({fmt_date(TODAY + timedelta(days=1))})"
    for role in ("nurse", "coordinator"):
        rows = section(mail[world.users[role].email], "PAST THE LOW-RESERVOIR ALARM (1)")
        # 8 days ago, or 9 when the history crosses a DST fall-back (the model takes the earlier day: test_refill)
        ago = (TODAY - dates.due_date).days
        assert ago in (8, 9)
        assert f"MRN {patient.mrn} · due {fmt_date(dates.due_date)} ({ago} days ago) · alarm" in rows
        assert booked in rows and "Reach the patient today" in rows
        assert f"https://tracker.clinic.test/patients/{patient.id}" in rows
        assert "BOOKED LATE (AFTER THE DUE, ALARM OR EMPTY DATE) (0)" in mail[world.users[role].email]
    for physician in (world.users["physician"], elsewhere):
        rows = section(mail[physician.email], "NEEDS A PHYSICIAN (1)")
        assert f"MRN {patient.mrn} · Past the low-reservoir alarm date · due" in rows and booked in rows
    assert "1 past the alarm date" in [m for m in smtp.messages if m["To"] == world.users["nurse"].email][0]["Subject"]
    for text in mail.values():
        assert patient.last_name not in text and patient.first_name not in text


def test_a_physicians_email_lists_open_requests_first_then_the_pumps_past_their_alarm(app, world, session, smtp):
    patient = implanted_days_ago(session, world, 31)  # past its alarm date, not booked
    asked_at = at(TODAY, 6, 5) - timedelta(days=1)
    note = "No slot before the alarm date at Kennesaw; the patient can come on Friday afternoon. " * 3
    ask_physician(session, world.actor("coordinator"), patient.id, BOOKING_AFTER_ALARM, note, None, asked_at)

    mail = sent_digests(app, smtp, TODAY)
    rows = section(mail[world.users["physician"].email], "NEEDS A PHYSICIAN (2)").splitlines()
    request, pump = [r for r in rows if r.startswith("- ")]
    assert request == (
        f"- MRN {patient.mrn} · Booking after the alarm date · asked by Test Coordinator on {fmt_date(asked_at)} 06:05"
    )
    assert "Kennesaw;" not in mail[world.users["physician"].email], "the free-text note stays in the app"
    assert pump.startswith(f"- MRN {patient.mrn} · Past the low-reservoir alarm date ·") and pump.endswith("Not booked")
    [physician] = smtp.to(world.users["physician"].email)
    assert physician["Subject"].endswith(": 2 need a physician")
    nurse = mail[world.users["nurse"].email]
    assert "Booking after the alarm date · asked by" not in nurse and "PAST THE LOW-RESERVOIR ALARM (1)" in nurse


def test_an_overdue_pump_booked_after_its_due_date_stays_under_overdue(app, world, session, smtp):
    overdue = implanted_days_ago(session, world, 25)  # due 2 days ago (3 across a DST fall-back), alarm in 5
    ago = (TODAY - schedule(session, overdue).due_date).days
    assert ago in (2, 3)
    book(session, world, overdue, TODAY + timedelta(days=2), late_reason="Patient away until then")
    soon = implanted_days_ago(session, world, 20)  # due in 3 days: booked 2 days after it
    soon_due = schedule(session, soon).due_date
    book(session, world, soon, soon_due + timedelta(days=2), late_reason="First free slot")

    text = sent_digests(app, smtp, TODAY)[world.users["nurse"].email]
    rows = section(text, "OVERDUE REFILLS (1)")
    assert f"MRN {overdue.mrn} · due" in rows and f"({ago} days ago)" in rows
    assert f"Booked after the due date ({fmt_date(TODAY + timedelta(days=2))})" in rows
    late = section(text, "BOOKED LATE (AFTER THE DUE, ALARM OR EMPTY DATE) (1)")
    assert f"MRN {soon.mrn}" in late and f"Booked after the due date ({fmt_date(soon_due + timedelta(days=2))})" in late
    assert overdue.mrn not in late and "DUE SOON (WITHIN 14 DAYS) AND NOT BOOKED (0)" in text


def test_due_soon_uses_the_clinics_one_window_setting(app, world, session, smtp):
    session.add(Setting(name="due_soon_days", value="10"))
    session.commit()
    inside = implanted_days_ago(session, world, 14)  # due in 9 days
    outside = implanted_days_ago(session, world, 12)  # due in 11 days
    assert [(schedule(session, p).due_date - TODAY).days for p in (inside, outside)] == [9, 11]

    text = sent_digests(app, smtp, TODAY)[world.users["coordinator"].email]
    rows = section(text, "DUE SOON (WITHIN 10 DAYS) AND NOT BOOKED (1)")
    assert f"MRN {inside.mrn} · due" in rows and "(in 9 days)" in rows
    assert outside.mrn not in text


def test_battery_past_due_and_eri_are_items_with_their_own_words_judged_in_calendar_months(app, world, session, smtp):
    patients = {
        name: to_adjustment(session, world, make_patient(session, world))
        for name in ("past_due", "eri", "six_months", "beyond")
    }
    battery = {
        "past_due": (TODAY - timedelta(days=90), None),
        "eri": (add_months(TODAY, 20), TODAY - timedelta(days=3)),
        # Six calendar months ahead is within the warning; a day later is not (30-day months said 180 days).
        "six_months": (add_months(TODAY, 6), None),
        "beyond": (add_months(TODAY, 6) + timedelta(days=1), None),
    }
    for name, (due, eri_on) in battery.items():
        pump = current_pump(session, patients[name].id)
        pump.battery_replacement_due, pump.eri_on = due, eri_on
    session.commit()

    text = sent_digests(app, smtp, TODAY)[world.users["nurse"].email]
    rows = section(text, "PUMP BATTERIES: ERI, REPLACEMENT PAST DUE OR DUE WITHIN 6 MONTHS (3)").splitlines()
    eri, past_due, due_soon = (next(r for r in rows if patients[n].mrn in r) for n in ("eri", "past_due", "six_months"))
    assert rows.index(eri) < rows.index(past_due) < rows.index(due_soon)
    assert "Battery at its replacement indicator (ERI): the pump will stop" in eri
    assert f"ERI recorded {fmt_date(TODAY - timedelta(days=3))}, the pump stops within 90 days of it" in eri
    assert "Battery replacement past due · replacement due" in past_due and "(90 days ago)" in past_due
    assert "Plan the pump replacement now." in past_due
    assert f"Battery replacement due within 6 months · due {fmt_date(add_months(TODAY, 6))}" in due_soon
    assert all(patients["beyond"].mrn not in row for row in rows)
    # The worklist lists the same two as needing action: one verdict, battery_verdict, for both.
    on_worklist = {
        row.patient.mrn
        for row in worklist(session, TODAY, at(TODAY, 7), risk_windows(session))
        if {"battery_past_due", "battery_eri"} & set(row.reasons)
    }
    assert on_worklist == {patients["past_due"].mrn, patients["eri"].mrn}


def test_building_the_outbox_twice_writes_one_run_and_one_message_per_active_user(app, world, session, digest_config):
    make_user(session, "nurse").active = False
    session.commit()
    first = service.build_outbox(session, TODAY, at(TODAY, 7), options(app))
    again = service.build_outbox(session, TODAY, at(TODAY, 7, 15), options(app))
    assert first.id == again.id and again.recipients == 4
    assert session.scalar(select(func.count()).select_from(DigestRun)) == 1
    messages = service.messages_for(session, TODAY)
    assert sorted(m.to_address for m in messages) == sorted(u.email for u in world.users.values())
    assert {m.message_id for m in messages} == {
        f"<itb-digest.{TODAY.isoformat()}.{m.user_id}@clinic.test>" for m in messages
    }
    assert all(m.status == QUEUED for m in messages)


# --- exactly once ------------------------------------------------------------------------------------------------


def test_two_app_instances_sending_the_same_day_deliver_exactly_one_message_per_recipient(
    app, world, session, digest_config
):
    for _ in range(36):
        make_user(session, "nurse")
    recipients = active_users(session)
    recorder = Recorder(delay_seconds=0.005)  # a slow server keeps both senders busy at once
    with smtp_server(recorder) as (_, port):
        digest_config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
        instances = [another_app(app), another_app(app)]
        now = at(TODAY, 6, 30)
        barrier, reports, errors = threading.Barrier(2), [None, None], []

        def run(i):
            with instances[i].app_context():
                try:
                    barrier.wait()
                    reports[i] = service.run_due(db.session, instances[i].config, now, "test", clock=lambda: now)
                except Exception as error:  # reported below, with the thread's result
                    errors.append(error)
                finally:
                    db.session.remove()

        threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        dispose(*instances)
    assert not errors, errors
    assert len(recorder.messages) == recipients
    assert set(Counter(m["To"] for m in recorder.messages).values()) == {1}
    assert len({m["Message-ID"] for m in recorder.messages}) == recipients
    assert reports[0].report.sent + reports[1].report.sent == recipients
    print(
        f"\nconcurrent senders: {recipients} recipients, server got {len(recorder.messages)}; "
        f"instance A sent {reports[0].report.sent}, instance B sent {reports[1].report.sent}"
    )
    session.expire_all()
    assert {m.status for m in service.messages_for(session, TODAY)} == {SENT}
    run = session.scalar(select(DigestRun))
    assert run.completed_at is not None and run.sent == recipients and run.recipients == recipients


def test_a_restart_after_a_crash_between_claim_and_mark_resends_with_the_same_message_id(
    app, world, session, smtp, digest_config
):
    now = at(TODAY, 6, 30)
    service.build_outbox(session, TODAY, now, options(app))
    crashed = worker_name()
    claimed = session.get(OutboxMessage, claim_next(session, crashed, now))
    # The server accepts the message, then the process dies before recording it as sent.
    SmtpMailer(parse_smtp_url(digest_config["SMTP_URL"])).send(
        compose(
            claimed.to_address,
            digest_config["MAIL_FROM"],
            claimed.subject,
            claimed.text_body,
            claimed.html_body,
            claimed.message_id,
            claimed.created_at,
        )
    )

    restarted = another_app(app)
    try:
        with restarted.app_context():
            soon = now + timedelta(minutes=1)  # within the lease: the claim may still be alive, leave it
            service.send_now(db.session, restarted.config, clock=lambda: soon)
            assert len(smtp.to(claimed.to_address)) == 1
            later = now + timedelta(seconds=digest_config["DIGEST_CLAIM_LEASE_SECONDS"] + 1)
            report = service.send_now(db.session, restarted.config, clock=lambda: later)
    finally:
        dispose(restarted)
    assert report.released == 1
    first, second = smtp.to(claimed.to_address)
    assert first["Message-ID"] == second["Message-ID"] == claimed.message_id
    assert (
        first["Date"] == second["Date"]
        and first.get_body(("plain",)).get_content() == second.get_body(("plain",)).get_content()
    )
    assert len(smtp.messages) == active_users(session) + 1  # everyone else exactly once
    session.expire_all()
    row = session.get(OutboxMessage, claimed.id)
    assert row.status == SENT and row.attempts == 2


def test_a_missed_morning_is_sent_by_the_catch_up_when_the_app_comes_back(app, world, session, smtp):
    early = at(TODAY, 6, 29)
    result = service.run_due(session, app.config, early, "test", clock=lambda: early)
    assert result.day is None and smtp.messages == []
    assert session.scalar(select(func.count()).select_from(DigestRun)) == 0

    back = at(TODAY, 9, 10)  # down at 06:30; the start-up or catch-up run finds today's digest unsent
    result = service.run_due(session, app.config, back, "test", clock=lambda: back)
    assert result.day == TODAY and result.report.sent == 4 and len(smtp.messages) == 4

    next_tick = back + timedelta(minutes=15)
    result = service.run_due(session, app.config, next_tick, "test", clock=lambda: next_tick)
    assert result.report.sent == 0 and len(smtp.messages) == 4
    assert service.last_completed_day(session) == TODAY


def test_retries_back_off_over_hours_and_stop_at_the_budget():
    # Defaults: waits 1, 2, 5, 10, 20, 30, 60 minutes, then 60 again. After failed attempt n the next one is
    # planned at the sum of the first n waits: 1+2+5+10+20+30+60 = 128 min after the 7th; after the 28th,
    # 128 + 21 x 60 = 1388 min (23 h 08) <= 24 h, so a 29th is tried; after it 1448 min > 1440: dead.
    policy = SendPolicy("itb@clinic.test")
    minutes = [policy.retry_delay(n) // timedelta(minutes=1) for n in range(1, 10)]
    assert minutes == [1, 2, 5, 10, 20, 30, 60, 60, 60]
    assert policy.retry_delay(28) == timedelta(hours=1) and policy.retry_delay(29) is None
    # A 2-hour budget: after the 6th failure 1+2+5+10+20+30 = 68 min, the 7th retry is planned; after the 7th,
    # 128 min > 120: dead. A budget of 0 gives up at the first failure.
    two_hours = SendPolicy("itb@clinic.test", retry_hours=2)
    assert two_hours.retry_delay(6) == timedelta(minutes=30) and two_hours.retry_delay(7) is None
    assert SendPolicy("itb@clinic.test", retry_hours=0).retry_delay(1) is None
    assert parse_retry_minutes(" 1, 3 ,90") == (1, 3, 90)
    for typo in ("", "1,,2", "0,5", "five"):
        with pytest.raises(ValueError, match="TRACKER_DIGEST_RETRY_MINUTES"):
            parse_retry_minutes(typo)


def test_smtp_failures_retry_after_one_then_two_minutes_then_succeed(app, world, session, smtp, digest_config):
    t0 = at(TODAY, 6, 30)
    service.build_outbox(session, TODAY, t0, options(app))
    policy = SendPolicy.from_config(digest_config)
    mailer = SmtpMailer(parse_smtp_url(digest_config["SMTP_URL"]))
    smtp.refuse = 3  # three of the four deliveries are refused with 451

    report = send_pending(session, mailer, policy, now=lambda: t0)
    assert (report.sent, report.retried, report.dead) == (1, 3, 0)
    waiting = [m for m in service.messages_for(session, TODAY) if m.status == QUEUED]
    assert {m.next_attempt_at for m in waiting} == {t0 + timedelta(minutes=1)} == {report.next_retry_at}
    assert all("451" in m.last_error and m.attempts == 1 and m.first_failed_at == t0 for m in waiting)

    assert send_pending(session, mailer, policy, now=lambda: t0 + timedelta(seconds=30)).sent == 0
    t1 = t0 + timedelta(minutes=1)
    smtp.refuse = 1
    report = send_pending(session, mailer, policy, now=lambda: t1)
    assert (report.sent, report.retried) == (2, 1)
    retried = [m for m in service.messages_for(session, TODAY) if m.status == QUEUED]
    assert [m.next_attempt_at for m in retried] == [t1 + timedelta(minutes=2)]  # 1 min, then 2
    assert [m.first_failed_at for m in retried] == [t0]  # the outage's start stays the first failure
    report = send_pending(session, mailer, policy, now=lambda: t1 + timedelta(minutes=2))
    assert report.sent == 1 and len(smtp.messages) == 4 and report.next_retry_at is None
    assert {m.status for m in service.messages_for(session, TODAY)} == {SENT}
    late = [m for m in smtp.messages if m.get_body(("plain",)).get_content().startswith("Sent late:")]
    assert len(late) == 3, "the three refused first are marked late, the one delivered at once is not"


def test_after_the_last_attempt_a_message_is_dead_lettered_shown_to_admins_and_resent_on_request(
    app, world, session, smtp, digest_config, as_role
):
    digest_config.update(DIGEST_RETRY_MINUTES="1", DIGEST_RETRY_HOURS=2 / 60)  # retried at +1 and +2 min only
    smtp.refuse = -1
    for minute in (30, 31, 32):
        now = at(TODAY, 6, minute)
        result = service.run_due(session, app.config, now, "test", clock=lambda now=now: now)
    assert result.report.dead == 4 and smtp.messages == []
    messages = service.messages_for(session, TODAY)
    assert {(m.status, m.attempts) for m in messages} == {(DEAD, 3)}
    assert all("451" in m.last_error for m in messages)
    run = session.scalar(select(DigestRun))
    # Nothing more will be tried by itself, but nobody got the reminder: the day is not complete.
    assert run.dead == 4 and run.completed_at is None and service.last_completed_day(session) is None

    # Tomorrow's admin e-mail lists the dead letters.
    tomorrow = TODAY + timedelta(days=1)
    admin = digest_contents.contents(session, tomorrow, at(tomorrow, 7), options(app), [world.users["admin"].id])[0][1]
    assert admin.counts["dead_letters"] == 4 and f"{world.users['nurse'].email} · 3 attempts" in admin.text

    client = as_role("admin")
    page = client.get("/admin/digest").get_data(as_text=True)
    assert fmt_date(TODAY) in page
    day_page = client.get(f"/admin/digest/{TODAY.isoformat()}").get_data(as_text=True)
    assert day_page.count(">Resend</button>") == 4 and "451" in day_page

    smtp.refuse = 0
    nurse_message = messages_by_recipient(session, TODAY)[world.users["nurse"].email]
    response = client.post(f"/admin/digest/messages/{nurse_message.id}/resend")
    assert response.status_code == 302
    assert [m["To"] for m in smtp.messages] == [world.users["nurse"].email]
    assert smtp.messages[0]["Message-ID"] == nurse_message.message_id
    session.expire_all()
    assert session.get(OutboxMessage, nurse_message.id).status == SENT
    again = client.post(f"/admin/digest/messages/{nurse_message.id}/resend", follow_redirects=True)
    assert "Only an undelivered (dead) message can be resent." in again.get_data(as_text=True)
    assert len(smtp.messages) == 1


def test_a_permanent_refusal_is_dead_lettered_at_once(app, world, session, smtp, digest_config):
    smtp.refuse, smtp.reply = 1, "550 5.1.1 No such mailbox"
    now = at(TODAY, 6, 30)
    result = service.run_due(session, app.config, now, "test", clock=lambda: now)
    assert (result.report.dead, result.report.sent) == (1, 3)
    [dead] = [m for m in service.messages_for(session, TODAY) if m.status == DEAD]
    assert dead.attempts == 1 and "550" in dead.last_error


def test_without_smtp_settings_the_outbox_waits_and_the_day_stays_open(app, world, session, digest_config):
    digest_config["SMTP_URL"] = ""
    now = at(TODAY, 7)
    result = service.run_due(session, app.config, now, "test", clock=lambda: now)
    assert result.report is None and not result.smtp_configured
    assert {m.status for m in service.messages_for(session, TODAY)} == {QUEUED}
    assert service.last_completed_day(session) is None


# --- SMTP security ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificate")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def _email(to="nurse@example.org"):
    return compose(
        to,
        "ITB tracker <itb@clinic.test>",
        "ITB tracker: nothing due",
        "text",
        "<p>html</p>",
        "<itb-digest.2026-03-12.1@clinic.test>",
        datetime(2026, 3, 12, 11, 30, tzinfo=CLINIC_ZONE),
    )


def test_smtps_checks_the_certificate_and_trusts_only_a_configured_ca(certificate):
    cert, key = certificate
    with smtp_server(ssl_context=server_tls_context(cert, key)) as (recorder, port):
        with pytest.raises(ssl.SSLCertVerificationError):
            SmtpMailer(parse_smtp_url(f"smtps://127.0.0.1:{port}", 5)).send(_email())
        assert recorder.messages == []
        SmtpMailer(parse_smtp_url(f"smtps://127.0.0.1:{port}", 5, ca_file=str(cert))).send(_email())
        assert len(recorder.messages) == 1


def test_starttls_with_login_from_the_url(certificate):
    cert, key = certificate
    logins = []

    def authenticator(server, session, envelope, mechanism, auth_data):
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"p@ss:word/1")

    with smtp_server(
        tls_context=server_tls_context(cert, key),
        require_starttls=True,
        auth_required=True,
        authenticator=authenticator,
    ) as (recorder, port):
        with pytest.raises(ssl.SSLCertVerificationError):
            SmtpMailer(parse_smtp_url(f"smtp+starttls://itb:p%40ss%3Aword%2F1@localhost:{port}", 5)).send(_email())
        url = f"smtp+starttls://itb:p%40ss%3Aword%2F1@localhost:{port}"
        SmtpMailer(parse_smtp_url(url, 5, ca_file=str(cert))).send(_email())
    assert logins == [(b"itb", b"p@ss:word/1")] and len(recorder.messages) == 1


def test_smtp_url_rules():
    settings = parse_smtp_url("smtps://user:secret@mail.example.org", 12)
    assert (settings.security, settings.port, settings.timeout_seconds) == ("tls", 465, 12)
    assert "secret" not in settings.redacted()
    assert parse_smtp_url("smtp+starttls://mail.example.org").port == 587
    with pytest.raises(SmtpConfigError, match="without TLS"):
        parse_smtp_url("smtp://user:secret@mail.example.org")
    with pytest.raises(SmtpConfigError):
        parse_smtp_url("http://mail.example.org")


# --- scheduler, pages, CLI ----------------------------------------------------------------------------------------


def test_the_scheduler_starts_once_per_process_sends_at_start_up_and_shuts_down(
    app, world, session, smtp, digest_config
):
    # Send time 00:00 so that "now" is always past it: the start-up run must send today's digest.
    first = another_app(app, SCHEDULER=True, DIGEST_SEND_TIME="00:00")
    second = None
    try:
        assert jobs.scheduler_state(first)["state"] == "running"
        scheduler = jobs._scheduler
        jobs_ids = {job.id for job in scheduler.get_jobs()}
        assert jobs_ids >= {"digest-send-time", "digest-catch-up", "housekeeping-nightly"}
        # SQLite's planner statistics (tracker.services.maintenance); PostgreSQL's autovacuum keeps its own.
        assert ("statistics-nightly" in jobs_ids) == (session.get_bind().dialect.name == "sqlite")
        second = another_app(app, SCHEDULER=True, DIGEST_SEND_TIME="00:00")
        assert jobs._scheduler is scheduler  # the same process never runs two
        assert second.extensions[jobs.EXTENSION].startswith("running (started by another app")
        assert smtp.wait_for(4, timeout=15), "the start-up run sent nothing"
        for _ in range(100):
            health = first.test_client().get("/healthz").get_json()
            if health["last_digest_day"]:
                break
            threading.Event().wait(0.05)
        assert health["scheduler"]["state"] == "running" and health["last_digest_day"] == TODAY.isoformat()
    finally:
        jobs.shutdown_scheduler()
        dispose(*(a for a in (first, second) if a is not None))
    assert jobs.scheduler_state(first)["state"] == "stopped"
    assert len(smtp.messages) == 4


def test_cli_commands_and_the_reloader_parent_do_not_start_a_scheduler(monkeypatch):
    fake = SimpleNamespace(config={"SCHEDULER": True}, debug=False)
    monkeypatch.delenv("WERKZEUG_RUN_MAIN", raising=False)
    assert jobs._reason_not_to_start(fake) is None  # gunicorn, or a plain python process
    with click.Context(click.Command("upgrade")):
        assert jobs._reason_not_to_start(fake) == "not serving (CLI)"
    with click.Context(click.Command("run")) as ctx:
        ctx.params["reload"] = True
        assert jobs._reason_not_to_start(fake) == "reloader parent"
        monkeypatch.setenv("WERKZEUG_RUN_MAIN", "true")
        assert jobs._reason_not_to_start(fake) is None
    assert jobs._reason_not_to_start(SimpleNamespace(config={"SCHEDULER": False}, debug=False)) == "off"


def test_healthz_reports_the_scheduler_and_the_last_completed_day_without_patient_data(
    app, world, session, client, smtp
):
    health = client.get("/healthz").get_json()
    assert health["scheduler"]["state"] == "off" and health["last_digest_day"] is None
    now = at(TODAY, 7)
    service.run_due(session, app.config, now, "test", clock=lambda: now)
    health = client.get("/healthz").get_json()
    assert health["last_digest_day"] == TODAY.isoformat()


@pytest.mark.slow
def test_only_admins_see_the_digest_pages(as_role):
    for role in ("nurse", "coordinator", "physician"):
        assert as_role(role).get("/admin/digest").status_code == 403
    assert as_role("admin").get("/admin/digest").status_code == 200


def test_cli_preview_send_and_status(app, world, session, smtp):
    patient = to_adjustment(session, world, make_patient(session, world))
    runner = app.test_cli_runner()
    later = (TODAY + timedelta(days=14)).isoformat()
    result = runner.invoke(args=["digest", "preview", "--user", world.users["nurse"].email.upper(), "--date", later])
    assert result.exit_code == 0, result.output
    assert "Subject: ITB tracker" in result.output and f"MRN {patient.mrn}" in result.output
    assert patient.last_name not in result.output

    result = runner.invoke(args=["digest", "send", "--dry-run"])
    assert result.exit_code == 0 and world.users["admin"].email in result.output and smtp.messages == []
    assert session.scalar(select(func.count()).select_from(DigestRun)) == 0

    result = runner.invoke(args=["digest", "send", "--date", TODAY.isoformat()])
    assert result.exit_code == 0, result.output
    assert "Sent 4" in result.output and len(smtp.messages) == 4
    result = runner.invoke(args=["digest", "send", "--date", TODAY.isoformat()])
    assert "Sent 0" in result.output and len(smtp.messages) == 4

    result = runner.invoke(args=["digest", "status"])
    assert result.exit_code == 0 and f"Last completed day: {TODAY.isoformat()}" in result.output
    assert runner.invoke(args=["digest", "preview", "--user", "nobody@example.org"]).exit_code != 0
