"""The tracker without some of its speed-ups, for gunicorn (`bench.variant:app`), so bench/mix.py can measure
what each one is worth under the clinic-day mix. BENCH_WITHOUT names them, comma-separated:

none today. The read cache, fixed_url/row_url, per-thread statements and the lru_caches of fmt_date and the
stage badges were measured here and removed (issue 20, bench/RESULTS.md): none moved the mix by 5%. A new
speed-up adds its switch here, so it is measured with and without before it stays.

The switches are made before the app (and the modules that import these names) is built."""

from __future__ import annotations

import os

WITHOUT = {name.strip() for name in os.environ.get("BENCH_WITHOUT", "").split(",") if name.strip()}
KNOWN: set[str] = set()
if WITHOUT - KNOWN:
    raise SystemExit(f"BENCH_WITHOUT: unknown {sorted(WITHOUT - KNOWN)}; known: {sorted(KNOWN)}")

from tracker import create_app  # noqa: E402  (after any switches)

app = create_app()
