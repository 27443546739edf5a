"""The background jobs in a process of their own: `flask --app wsgi scheduler`."""

import logging
import os
import signal
import threading

import click
from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, EVENT_JOB_MISSED
from flask import current_app
from flask.cli import with_appcontext

from tracker.extensions import db

log = logging.getLogger(__name__)


@click.command("scheduler")
@with_appcontext
def scheduler_command():
    """Run the background jobs (daily e-mail, retries, nightly housekeeping) in this process until SIGTERM or
    Ctrl-C. Production runs one such process beside web workers started with TRACKER_SCHEDULER off; a second
    one by mistake sends nothing twice (the database keeps every e-mail once)."""
    from tracker.jobs import configuration_problems, shutdown_scheduler, start_scheduler

    problems = configuration_problems(current_app)
    if problems:
        raise click.ClickException("The scheduler cannot start: " + "; ".join(problems) + ".")
    if not current_app.config["SMTP_URL"]:
        log.warning("TRACKER_SMTP_URL is empty: each day's digest is built and waits in the outbox, unsent")
    stop, received = threading.Event(), []

    def on_signal(number, _frame):  # only a flag: the main thread logs and stops
        received.append(signal.Signals(number).name)
        stop.set()

    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, on_signal)
    scheduler = start_scheduler(current_app._get_current_object())
    scheduler.add_listener(_log_job_event, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR | EVENT_JOB_MISSED)
    log.info(
        "scheduler process %s running: %s",
        os.getpid(),
        ", ".join(f"{job.id} (next {job.next_run_time:%Y-%m-%d %H:%M:%S %Z})" for job in scheduler.get_jobs()),
    )
    while not stop.wait(1):
        if not scheduler.running:
            raise click.ClickException("The scheduler stopped by itself; see the log above.")
    log.info("scheduler process %s: %s received, stopping after the running job", os.getpid(), received[0])
    shutdown_scheduler()
    db.engine.dispose()
    log.info("scheduler process %s stopped", os.getpid())


def _log_job_event(event) -> None:
    """One line per job run: its id and outcome (the jobs log their own details, never patient data)."""
    if event.code == EVENT_JOB_MISSED:
        log.warning("job %s missed its run at %s", event.job_id, event.scheduled_run_time)
    elif event.exception is not None:
        log.error("job %s failed: %s", event.job_id, type(event.exception).__name__)
    else:
        log.info("job %s ran", event.job_id)
