"""One digest sender in its own process, for tests/web/test_digest_processes.py.

    python -m tests.support.pinned 2026-07-15T14:00:00+00:00 \
        tests.support.digest_worker '{"SQLALCHEMY_DATABASE_URI": "...", "SMTP_URL": "smtp://127.0.0.1:PORT", ...}'

It builds an app from the JSON settings (scheduler off), optionally waits for a start signal (the file named by
the "go_file" key appears) so that several processes start sending at the same instant, runs the scheduler's job
body once (tracker.services.digest.run_due with the process's clock, which the test pins through
tests/support/pinned.py) and prints its report as one JSON line.
Nothing here is a test-only path through the application: a process killed mid-send is killed by the test."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path


def main(argv: list[str]) -> int:
    settings = json.loads(argv[1])
    go_file = settings.pop("go_file", None)
    ready_file = settings.pop("ready_file", None)

    from sqlalchemy import text

    from config import TestConfig
    from tracker import create_app
    from tracker.extensions import db
    from tracker.models.types import utcnow
    from tracker.services.digest import run_due

    app = create_app(TestConfig, **settings)
    with app.app_context():
        db.session.execute(text("SELECT 1"))  # connected before the start signal
        db.session.commit()
        if ready_file:
            Path(ready_file).touch()
        if go_file:
            deadline = time.monotonic() + 30
            while not os.path.exists(go_file):
                if time.monotonic() > deadline:
                    print(json.dumps({"pid": os.getpid(), "error": "no start signal"}), flush=True)
                    return 2
                time.sleep(0.002)
        result = run_due(db.session, app.config, utcnow(), scheduler_state="worker")
        report = result.report
        print(
            json.dumps(
                {
                    "pid": os.getpid(),
                    "day": result.day.isoformat() if result.day else None,
                    "sent": report.sent,
                    "retried": report.retried,
                    "dead": report.dead,
                    "released": report.released,
                }
            ),
            flush=True,
        )
        db.session.remove()
        db.engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
