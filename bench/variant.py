"""The tracker without some of its speed-ups, for gunicorn (`bench.variant:app`), so bench/mix.py can measure
what each one is worth under the clinic-day mix. BENCH_WITHOUT names them, comma-separated:

* `per_thread`: statements built on every call instead of once per thread (tracker.statements.per_thread);
* `fmt_date`: fmt_date without its lru_cache (tracker.formats);
* `urls`: fixed_url and row_url call url_for every time (tracker.web);
* `badge`: the stage badges built for every row instead of once each (tracker.web.register).

(`read_cache`, the reuse of reads while the database was unchanged, was measured here and removed: issue 20.)

The switches are made before the app (and the modules that import these names) is built."""

from __future__ import annotations

import os

WITHOUT = {name.strip() for name in os.environ.get("BENCH_WITHOUT", "").split(",") if name.strip()}
KNOWN = {"per_thread", "fmt_date", "urls", "badge"}
if WITHOUT - KNOWN:
    raise SystemExit(f"BENCH_WITHOUT: unknown {sorted(WITHOUT - KNOWN)}; known: {sorted(KNOWN)}")

if "per_thread" in WITHOUT:
    import tracker.statements

    tracker.statements.per_thread = lambda builder: builder

if "fmt_date" in WITHOUT:
    import tracker.formats

    tracker.formats.fmt_date = getattr(tracker.formats.fmt_date, "__wrapped__", tracker.formats.fmt_date)

if "urls" in WITHOUT:
    from flask import url_for

    import tracker.web

    if hasattr(tracker.web, "_fixed_url"):
        tracker.web._fixed_url = lambda script_root, endpoint, values: url_for(endpoint, **dict(values))
    tracker.web.row_url = lambda endpoint, key, **values: lambda row_id: url_for(endpoint, **{key: row_id}, **values)

from tracker import create_app  # noqa: E402  (after the switches)

app = create_app()

if "badge" in WITHOUT:
    stage_badge = app.jinja_env.globals["stage_badge"]
    cached = next(c.cell_contents for c in stage_badge.__closure__ or () if hasattr(c.cell_contents, "__wrapped__"))
    app.jinja_env.globals["stage_badge"] = lambda p: cached.__wrapped__(p.stage, p.status, p.exit_reason)
