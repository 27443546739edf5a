"""Run a Python module in this process with its clock pinned, as `python -m` would run it.

    python -m tests.support.pinned 2026-07-15T14:00:00+00:00 flask --app wsgi scheduler
    python -m tests.support.pinned 2026-07-15T14:00:00+00:00 tests.support.digest_worker '{...}'

The clock starts at the given instant (ISO 8601 with an offset) and ticks, as the suite's own clock does
(tests/support/clock.py): a test hands a subprocess the instant it should live at instead of racing the machine's
clock, and moves a later process's instant to let a lease run out rather than sleeping through it."""

from __future__ import annotations

import runpy
import sys
from datetime import datetime

import time_machine


def main(argv: list[str]) -> None:
    instant, module, *rest = argv[1:]
    now = datetime.fromisoformat(instant)
    if now.tzinfo is None:
        raise SystemExit(f"the instant needs an offset, not {instant!r}")
    with time_machine.travel(now, tick=True):
        sys.argv = [module, *rest]
        runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main(sys.argv)
