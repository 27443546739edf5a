"""The tracker without some of its speed-ups, for gunicorn (`bench.variant:app`), so bench/mix.py can measure
what each one is worth under the clinic-day mix. BENCH_WITHOUT names them, comma-separated:

* `per_thread`: statements built on every call instead of once per thread (tracker.statements.per_thread);
* `urls`: fixed_url and row_url call url_for every time (tracker.web).

(`read_cache`, the reuse of reads while the database was unchanged, and the lru_caches of fmt_date and the stage
badges were measured here and removed: issue 20, bench/RESULTS.md.)

The switches are made before the app (and the modules that import these names) is built."""

from __future__ import annotations

import os

WITHOUT = {name.strip() for name in os.environ.get("BENCH_WITHOUT", "").split(",") if name.strip()}
KNOWN = {"per_thread", "urls"}
if WITHOUT - KNOWN:
    raise SystemExit(f"BENCH_WITHOUT: unknown {sorted(WITHOUT - KNOWN)}; known: {sorted(KNOWN)}")

if "per_thread" in WITHOUT:
    import tracker.statements

    tracker.statements.per_thread = lambda builder: builder

if "urls" in WITHOUT:
    from flask import url_for

    import tracker.web

    if hasattr(tracker.web, "_fixed_url"):
        tracker.web._fixed_url = lambda script_root, endpoint, values: url_for(endpoint, **dict(values))
    tracker.web.row_url = lambda endpoint, key, **values: lambda row_id: url_for(endpoint, **{key: row_id}, **values)

from tracker import create_app  # noqa: E402  (after the switches)

app = create_app()
