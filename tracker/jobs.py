"""Scheduler wiring: one APScheduler 3 BackgroundScheduler per process, jobs that push an app context and call
one service. Production runs it in a process of its own (`flask --app wsgi scheduler`, tracker/cli: start_scheduler
whatever TRACKER_SCHEDULER says); `make run` in its web process (init_scheduler, TRACKER_SCHEDULER=on).

APScheduler alone promises neither "at least once" (a process down at 06:30 misses the cron firing) nor "at most
once" (two processes each run their own scheduler). So the digest job fires at the send time, at start-up and
every few minutes, and tracker.services.digest / sender make every firing after the first a no-op through the
database. On SQLite a second job refreshes the planner statistics at start-up and nightly."""

from __future__ import annotations

import atexit
import logging
import os
import threading
from datetime import datetime, timedelta

import click
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger
from flask import Flask
from sqlalchemy import text

from tracker.clinic_zone import clinic_zone
from tracker.extensions import db
from tracker.imports.storage import purge_abandoned_uploads
from tracker.models.types import utcnow
from tracker.once import KEEP_DAYS
from tracker.services.digest import run_due
from tracker.services.digest_contents import parse_send_time
from tracker.services.maintenance import purge_form_keys, refresh_planner_statistics

log = logging.getLogger(__name__)
EXTENSION = "tracker.scheduler"

_lock = threading.Lock()
_scheduler: BackgroundScheduler | None = None
_health: dict = {"last_tick_at": None, "last_error": None}
_atexit_registered = False


def _reason_not_to_start(app: Flask) -> str | None:
    """Why this process must not run the scheduler, or None when it should."""
    if not app.config.get("SCHEDULER"):
        return "off"
    if os.environ.get("WERKZEUG_RUN_MAIN") == "true":
        return None  # the reloader's child: the process that serves
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        # Under the flask command only `flask run` serves; `flask db upgrade` or `flask digest send` must not
        # leave a scheduler behind.
        if ctx.command.name != "run":
            return "not serving (CLI)"
        reload = ctx.params.get("reload")
        if reload if reload is not None else app.debug:
            return "reloader parent"  # its child starts one
    return None


def digest_tick(app: Flask, why: str) -> None:
    """Build today's outbox when due and send what is waiting."""
    with app.app_context():
        try:
            result = run_due(db.session, app.config, utcnow(), scheduler_state="running")
        except Exception as error:  # the scheduler thread must survive a bad morning; /healthz shows it
            _health["last_error"] = f"{type(error).__name__} at {utcnow():%Y-%m-%d %H:%M} UTC"
            log.exception("digest job (%s) failed", why)
        else:
            _health.update(last_tick_at=utcnow(), last_error=None)
            if result.report and (result.report.sent or result.report.dead or result.report.retried):
                log.info("digest job (%s): %s", why, result.report)
            if result.report and result.report.next_retry_at:
                _plan_retry(app, result.report.next_retry_at)
        finally:
            db.session.remove()


def _plan_retry(app: Flask, when: datetime) -> None:
    """Run the job again when the next retry is due: the first waits (1, 2, 5 minutes) are shorter than the
    catch-up interval. One such job at a time; a later plan replaces it."""
    scheduler = _scheduler  # not under _lock: shutdown_scheduler holds it while waiting for this job to end
    if scheduler is None or not scheduler.running:
        return  # called outside a running scheduler (a test, the CLI): the catch-up will do
    scheduler.add_job(
        digest_tick, DateTrigger(max(when, utcnow())), args=[app, "retry"], id="digest-retry", replace_existing=True
    )


def statistics_tick(app: Flask) -> None:
    """SQLite's planner statistics (tracker.services.maintenance); a failure is logged, the app serves on."""
    with app.app_context():
        try:
            refresh_planner_statistics(db.session)
        except Exception:  # stale statistics slow pages down; they never make them wrong
            log.exception("planner statistics job failed")
        finally:
            db.session.remove()


def housekeeping_tick(app: Flask) -> None:
    """Nightly: forget one-time form keys past their use (tracker.once) and delete uploads abandoned before
    their import (tracker.imports.storage); a failure is logged, the app serves on."""
    with app.app_context():
        try:
            purge_form_keys(db.session, utcnow(), KEEP_DAYS)
            purge_abandoned_uploads(app.instance_path)
        except Exception:
            log.exception("housekeeping job failed")
        finally:
            db.session.remove()


def init_scheduler(app: Flask) -> BackgroundScheduler | None:
    """Start this process's scheduler when TRACKER_SCHEDULER is on and this process serves; never twice."""
    reason = _reason_not_to_start(app)
    if reason is not None:
        app.extensions[EXTENSION] = reason
        return None
    return start_scheduler(app)


def configuration_problems(app: Flask) -> list[str]:
    """What would make a scheduler process run uselessly (checked by `flask scheduler` before it starts)."""
    problems = []
    try:
        parse_send_time(app.config["DIGEST_SEND_TIME"])
    except ValueError as error:
        problems.append(str(error))
    try:
        if int(app.config["DIGEST_CATCH_UP_MINUTES"]) < 1:
            raise ValueError
    except (TypeError, ValueError):
        problems.append(
            "TRACKER_DIGEST_CATCH_UP_MINUTES must be a whole number of minutes, 1 or more, not "
            f"{app.config['DIGEST_CATCH_UP_MINUTES']!r}"
        )
    with app.app_context():
        try:
            db.session.execute(text("SELECT 1 FROM digest_run WHERE 1 = 0"))
        except Exception as error:  # unreachable server, wrong credentials, schema not migrated
            problems.append(
                f"the database cannot be read ({type(error).__name__}): check TRACKER_DATABASE_URL and "
                "run `flask --app wsgi db upgrade`"
            )
        finally:
            db.session.remove()
    return problems


def start_scheduler(app: Flask) -> BackgroundScheduler:
    """Start this process's scheduler whatever TRACKER_SCHEDULER says (`flask scheduler` calls this); never twice."""
    global _scheduler, _atexit_registered
    with _lock:
        if _scheduler is not None:
            log.info("a scheduler already runs in this process; not starting another")
            app.extensions[EXTENSION] = "running (started by another app in this process)"
            return _scheduler
        zone = clinic_zone()
        send_at = parse_send_time(app.config["DIGEST_SEND_TIME"])
        # One worker thread: the three triggers never run the job side by side in one process.
        scheduler = BackgroundScheduler(
            timezone=zone,
            executors={"default": ThreadPoolExecutor(1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 3600},
        )
        scheduler.add_job(
            digest_tick,
            DateTrigger(datetime.now(zone) + timedelta(seconds=1)),
            args=[app, "start-up"],
            id="digest-start-up",
        )
        scheduler.add_job(
            digest_tick,
            CronTrigger(hour=send_at.hour, minute=send_at.minute, timezone=zone),
            args=[app, "send time"],
            id="digest-send-time",
        )
        scheduler.add_job(
            digest_tick,
            IntervalTrigger(minutes=int(app.config["DIGEST_CATCH_UP_MINUTES"])),
            args=[app, "catch-up"],
            id="digest-catch-up",
        )
        scheduler.add_job(
            housekeeping_tick, CronTrigger(hour=3, minute=20, timezone=zone), args=[app], id="housekeeping-nightly"
        )
        if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
            scheduler.add_job(
                statistics_tick,
                DateTrigger(datetime.now(zone) + timedelta(seconds=5)),
                args=[app],
                id="statistics-start-up",
            )
            scheduler.add_job(
                statistics_tick, CronTrigger(hour=3, minute=10, timezone=zone), args=[app], id="statistics-nightly"
            )
        scheduler.start()
        _scheduler = scheduler
        if not _atexit_registered:
            atexit.register(shutdown_scheduler)
            _atexit_registered = True
        app.extensions[EXTENSION] = "running"
        log.info(
            "scheduler started: digest at %s %s, catch-up every %s min",
            send_at,
            zone,
            app.config["DIGEST_CATCH_UP_MINUTES"],
        )
        return scheduler


def shutdown_scheduler() -> None:
    """Stop the scheduler, letting a running job finish (its claims would otherwise wait out the lease)."""
    global _scheduler
    with _lock:
        if _scheduler is not None and _scheduler.running:
            _scheduler.shutdown(wait=True)
        _scheduler = None


def scheduler_state(app: Flask) -> dict:
    """For /healthz and the admin page: no patient data."""
    running = _scheduler is not None and _scheduler.running
    state = "running" if running else app.extensions.get(EXTENSION, "off")
    if state.startswith("running") and not running:
        state = "stopped"
    last = _health["last_tick_at"]
    return {
        "state": state,
        "last_tick_at": last.isoformat(timespec="seconds") if last else None,
        "last_error": _health["last_error"],
    }
