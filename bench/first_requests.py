"""Fresh servers under a burst of first requests: the check for races in what each worker builds lazily.

    .venv/bin/python -m bench.first_requests --db sqlite --rounds 20 --pages /calendar

Each round starts gunicorn with 5 gthread workers x 4 threads (production runs sync workers since 2026-11-26, but
threads sharing one worker's lazily built state are where such races live) on the benchmark's 10k database (seed it
with `python -m bench.run --sizes 10000 --keep` first) and at once sends --connections (default 40) concurrent
requests per page for --seconds, so every worker's threads build and compile their statements together. It prints
the rounds that got any 5xx. Before the refill queries used plain table aliases, 1-4 rounds in 20 broke a worker
for good ("no such column: refill_appointment.status", see tracker/services/worklist.py)."""

from __future__ import annotations

import argparse

from bench import load
from bench.db import database_url
from bench.server import gunicorn, session_cookie

PAGES = "/calendar,/worklist,/board,/patients?stage=adjustment"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.first_requests", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--rounds", type=int, default=20)
    p.add_argument("--connections", type=int, default=40)
    p.add_argument("--seconds", type=float, default=0.7)
    p.add_argument("--pages", default=PAGES, help="comma-separated paths, each hit in turn")
    args = p.parse_args(argv)
    driver = "wrk" if load.have_wrk() else "python"
    broken = 0
    for n in range(1, args.rounds + 1):
        with gunicorn(database_url(args.db, args.size), 5, 4, 0) as port:
            cookie = session_cookie(port)
            for path in args.pages.split(","):
                r = load.run(port, path, cookie, args.connections, args.seconds, driver)
                if r.errors:
                    broken += 1
                    print(f"round {n}: {path}: {r.errors} of {r.requests} requests failed", flush=True)
    print(f"{broken} of {args.rounds} rounds had failures ({args.db}, {args.connections} connections)")
    return 1 if broken else 0


if __name__ == "__main__":
    raise SystemExit(main())
