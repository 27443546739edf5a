"""The tracker without some of its speed-ups, for gunicorn (`bench.variant:app`), so bench/mix.py can measure
what each one is worth under the clinic-day mix. BENCH_WITHOUT names them, comma-separated:

* `per_thread`: statements built on every call instead of once per thread (tracker.statements.per_thread).

(`read_cache`, the reuse of reads while the database was unchanged, fixed_url/row_url and the lru_caches of
fmt_date and the stage badges were measured here and removed: issue 20, bench/RESULTS.md.)

The switches are made before the app (and the modules that import these names) is built."""

from __future__ import annotations

import os

WITHOUT = {name.strip() for name in os.environ.get("BENCH_WITHOUT", "").split(",") if name.strip()}
KNOWN = {"per_thread"}
if WITHOUT - KNOWN:
    raise SystemExit(f"BENCH_WITHOUT: unknown {sorted(WITHOUT - KNOWN)}; known: {sorted(KNOWN)}")

if "per_thread" in WITHOUT:
    import tracker.statements

    tracker.statements.per_thread = lambda builder: builder

from tracker import create_app  # noqa: E402  (after the switches)

app = create_app()
