"""The benchmark of issue #8, one command:

    .venv/bin/python -m bench.run --sizes 1000,10000 --db sqlite,postgres [--inproc-sizes 100000]

For each database and size: a fresh database (`flask db upgrade`), the bulk seeder, SQL statements per page and
in-process latency (Flask test client), the daily digest build time, and (for --sizes) gunicorn as production runs
it (PRODUCTION below) driven over 127.0.0.1 by wrk or a Python load generator, closed loop (throughput) and paced
(latency at a stated load). Prints Markdown tables and every target as met/not met."""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from datetime import UTC, datetime

from bench import db as bench_db
from bench import load
from bench.pages import PAGES, clinic_today, measure, time_digest, urls
from bench.seed import seed
from bench.server import gunicorn, session_cookie

QUERY_BASE = 100  # the query-count target compares every size with this one
MAIN_PAGES = ("list", "board", "patient", "cal_json", "cal_page", "worklist")
THROUGHPUT_TARGETS = {"list": 0.20, "board": 0.10, "cal_json": 0.10, "cal_page": 0.10}
P95_PAGES = ("list", "board", "cal_json", "cal_page", "worklist")  # "those pages", and the worklist
P95_TARGET_MS = 100
# The gunicorn settings the benchmark measures, the ones README's production start should use: (2 x CPUs) + 1
# workers (gunicorn's own advice), sync (one request at a time each), and one connection per request, as behind
# nginx's default proxy_pass (no upstream keep-alive). gthread with 4 threads each served the same or less and
# doubled every page's closed-loop p95: a worker's threads queue for one GIL (bench/RESULTS.md, 2026-11-26).
PRODUCTION = {"workers": 2 * (os.cpu_count() or 1) + 1, "threads": 1, "keepalive": 0}
# The paced run: 20 connections that between them ask for PACED_RATE pages a second (each client one page every
# second: 20 staff clicking without pause), on a fixed timetable, so the latency is measured at a stated load.
PACED_RATE = 20.0
DIGEST_TARGET_S = 2.0
DIGEST_TARGET_PUMPS = 100_000


def _sizes(text: str) -> list[int]:
    return [int(s.replace("k", "000")) for s in text.split(",") if s.strip()]


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default="1000,10000", help="patients; full runs with HTTP load (default 1000,10000)")
    p.add_argument("--inproc-sizes", default="", help="extra sizes measured in-process only, e.g. 100000")
    p.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    p.add_argument("--seconds", type=float, default=10, help="load per page (default 10)")
    p.add_argument("--warmup", type=float, default=2, help="warm-up load per page before measuring (default 2)")
    p.add_argument("--connections", type=int, default=20)
    p.add_argument(
        "--workers",
        type=int,
        default=PRODUCTION["workers"],
        help=f"gunicorn workers (default {PRODUCTION['workers']}: 2 x CPUs + 1)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=PRODUCTION["threads"],
        help=f"threads per worker, gthread when > 1 (default {PRODUCTION['threads']}; 1: sync workers)",
    )
    p.add_argument(
        "--keepalive",
        type=int,
        default=PRODUCTION["keepalive"],
        help="gunicorn --keep-alive seconds (gthread only; default 0: a connection per request)",
    )
    p.add_argument(
        "--paced-rate",
        type=float,
        default=PACED_RATE,
        help=f"requests/second the paced run offers over --connections (default {PACED_RATE:g}; 0: skip)",
    )
    p.add_argument("--driver", choices=("auto", "wrk", "python"), default="auto")
    p.add_argument("--pages", default=",".join(k for k, _ in PAGES), help="subset of page keys")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reuse", action="store_true", help="keep an already seeded database of the same size")
    p.add_argument("--keep", action="store_true", help="leave the databases behind (default: drop them)")
    p.add_argument("--json", default="/tmp/tracker-bench-results.json", help="where to write raw results")
    return p.parse_args(argv)


def prepare(kind: str, size: int, seed_value: int, reuse: bool, create_app):
    """A seeded database of `size` patients and an app bound to it."""
    from sqlalchemy import func, select

    from tracker.extensions import db
    from tracker.models import Patient
    from tracker.services.maintenance import refresh_planner_statistics

    url = bench_db.database_url(kind, size)
    app = None
    if reuse:
        try:
            app = create_app(SQLALCHEMY_DATABASE_URI=url, SCHEDULER=False)
            with app.app_context():
                if db.session.scalar(select(func.count()).select_from(Patient)) == size:
                    refresh_planner_statistics(db.session)  # as the app's scheduler does at start-up
                    return app, None
                db.engine.dispose()
        except Exception:  # noqa: BLE001 - absent or half-built: rebuild it
            pass
    started = time.perf_counter()
    url = bench_db.create(kind, size)
    schema_s = time.perf_counter() - started
    app = create_app(SQLALCHEMY_DATABASE_URI=url, SCHEDULER=False)
    with app.app_context():
        stats = seed(db.session, size, seed_value, clinic_today(app))
        # Planner statistics as a running app has them: autovacuum's on PostgreSQL (done now rather than
        # whenever it wakes), the scheduler's ANALYZE on SQLite (tracker.services.maintenance).
        if kind == "postgres":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql("VACUUM ANALYZE")
        refresh_planner_statistics(db.session)
    stats["schema_seconds"] = schema_s
    return app, stats


def drive(url: str, url_map: dict, args, driver: str) -> dict:
    results = {}
    with gunicorn(url, args.workers, args.threads, args.keepalive) as port:
        cookie = session_cookie(port)
        for key, path in url_map.items():
            load.check(port, path, cookie)
            if args.warmup:
                load.run(port, path, cookie, args.connections, args.warmup, driver)
                load.check(port, path, cookie)
            ref_rps = None
            if key != "static" and "static" in url_map:
                # The reference again, just before this page: on a shared machine the speed drifts by +-25%
                # within a run, and a ratio of two measurements minutes apart would carry that drift.
                ref_rps = load.run(port, url_map["static"], cookie, args.connections, args.seconds, driver).rps
            load_before = os.getloadavg()[0]
            r = load.run(port, path, cookie, args.connections, args.seconds, driver)
            results[key] = {
                "rps": r.rps,
                "p50_ms": r.p50_ms,
                "p95_ms": r.p95_ms,
                "requests": r.requests,
                "errors": r.errors,
                "loadavg": load_before,
                "ref_rps": ref_rps,
            }
            adjacent = f"  (static just before: {ref_rps:.1f} req/s, {r.rps / ref_rps:.0%})" if ref_rps else ""
            print(
                f"    {key:9} {r.rps:8.1f} req/s  p50 {r.p50_ms:7.1f} ms  p95 {r.p95_ms:7.1f} ms"
                f"  errors {r.errors}  (loadavg {load_before:.1f}){adjacent}",
                flush=True,
            )
            if args.paced_rate:
                load.check(port, path, cookie)
                p = load.paced(port, path, cookie, args.connections, args.paced_rate, args.seconds)
                results[key]["paced"] = {
                    "rate": args.paced_rate,
                    "rps": p.rps,
                    "p50_ms": p.p50_ms,
                    "p95_ms": p.p95_ms,
                    "requests": p.requests,
                    "errors": p.errors,
                }
                print(
                    f"    {'':9} paced {args.paced_rate:g}/s: {p.rps:6.1f} req/s  p50 {p.p50_ms:7.1f} ms"
                    f"  p95 {p.p95_ms:7.1f} ms  errors {p.errors}",
                    flush=True,
                )
    return results


def main(argv=None) -> int:
    args = parse_args(argv)
    from tracker import create_app
    from tracker.extensions import db

    kinds = [k.strip() for k in args.db.split(",") if k.strip()]
    load_sizes = _sizes(args.sizes)
    all_sizes = sorted(set([QUERY_BASE] + load_sizes + _sizes(args.inproc_sizes)))
    keys = [k for k in args.pages.split(",") if k]
    driver = ("wrk" if load.have_wrk() else "python") if args.driver == "auto" else args.driver
    out = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine(),
        "driver": driver,
        "args": vars(args),
        "runs": {},
    }
    print(
        f"# tracker benchmark {out['started']}\n\n{out['machine']['summary']}; load driver: {driver}; "
        f"{server_label(args)}\n",
        flush=True,
    )
    for kind in kinds:
        for size in all_sizes:
            print(f"## {kind}, {size} patients", flush=True)
            app, stats = prepare(kind, size, args.seed, args.reuse, create_app)
            if stats:
                print(
                    f"    seeded in {stats['seconds']:.1f} s (schema {stats['schema_seconds']:.1f} s, engine "
                    f"{stats['engine_seconds']:.1f} s): {stats['rows']}",
                    flush=True,
                )
            url_map = {k: v for k, v in urls(app).items() if k in keys}
            run = {"seed": stats, "urls": url_map, "inproc": {k: vars(v) for k, v in measure(app, url_map).items()}}
            for k, v in run["inproc"].items():
                print(
                    f"    {k:9} {v['queries']:3d} queries  {v['median_ms']:8.1f} ms in-process  {v['body_kb']:8.1f} kB",
                    flush=True,
                )
            if size >= 1000:
                run["digest"] = time_digest(app)
                d = run["digest"]
                print(f"    digest: {d['seconds']:.2f} s for {d['pumps']} pumps in use ({d['what']})", flush=True)
            if size in load_sizes:
                run["load"] = drive(bench_db.database_url(kind, size), url_map, args, driver)
            with app.app_context():
                db.session.remove()
                db.engine.dispose()
            if not args.keep and size not in (QUERY_BASE,) and not args.reuse:
                bench_db.drop(kind, size)
            out["runs"].setdefault(kind, {})[str(size)] = run
            with open(args.json, "w") as f:
                json.dump(out, f, indent=1, default=str)
    if not args.keep and not args.reuse:
        for kind in kinds:
            bench_db.drop(kind, QUERY_BASE)
    print(report(out))
    return 0


def machine() -> dict:
    model = next(
        (line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
        platform.processor(),
    )
    mem_kb = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
    info = {
        "cpus": os.cpu_count(),
        "cpu": model,
        "ram_gb": round(mem_kb / 1024 / 1024, 1),
        "python": platform.python_version(),
        "loadavg_at_start": os.getloadavg()[0],
    }
    info["summary"] = (
        f"{info['cpus']} CPUs ({model}), {info['ram_gb']} GB RAM, Python {info['python']}, "
        f"load average at start {info['loadavg_at_start']:.1f}"
    )
    return info


def server_label(args) -> str:
    kind = f"gthread, {args.threads} threads each" if args.threads > 1 else "sync"
    keep = f"keep-alive {args.keepalive} s" if args.threads > 1 and args.keepalive else "a connection per request"
    return f"gunicorn {args.workers} workers ({kind}, {keep})"


def _fmt(value, spec=".1f", none="-"):
    return none if value is None else format(value, spec)


def report(out: dict) -> str:
    """Markdown: per-run load tables, the scaling table, query counts, digest, targets."""
    labels = dict(PAGES)
    lines = []
    for kind, runs in out["runs"].items():
        for size, run in runs.items():
            if "load" not in run:
                continue
            ref = run["load"].get("static", {}).get("rps")
            health = run["load"].get("healthz", {}).get("rps")
            a = argparse.Namespace(**out["args"])
            rate = a.paced_rate
            lines += [
                f"\n### {kind}, {int(size):,} patients: {server_label(a)}, {a.connections} connections, "
                f"{a.seconds:g} s per page; closed loop, then paced at {rate:g} req/s\n",
                "| page | req/s | p50 ms | p95 ms | static just before, req/s | vs static | vs /healthz "
                "| paced p50 ms | paced p95 ms | SQL/request | in-process ms | kB |",
                "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for key, r in run["load"].items():
                ip = run["inproc"][key]
                paced = r.get("paced") or {}
                page_ref = r.get("ref_rps") or ref
                share = r["rps"] / page_ref * 100 if page_ref else None
                lines.append(
                    f"| {labels[key]} | {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p95_ms']:.1f} | "
                    f"{_fmt(page_ref, '.0f')} | {_fmt(share, '.0f')}% | "
                    f"{_fmt(r['rps'] / health * 100 if health else None, '.0f')}% | "
                    f"{_fmt(paced.get('p50_ms'))} | {_fmt(paced.get('p95_ms'))} | "
                    f"{ip['queries']} | {ip['median_ms']:.1f} | {ip['body_kb']:.0f} |"
                )
    for kind, runs in out["runs"].items():
        sizes = list(runs)
        lines += [
            f"\n### Scaling, {kind}: in-process median ms (req/s under load where measured)\n",
            "| page | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
            "|---|" + "---:|" * len(sizes),
        ]
        for key in runs[sizes[0]]["inproc"]:
            cells = []
            for s in sizes:
                ms = runs[s]["inproc"][key]["median_ms"]
                rps = runs[s].get("load", {}).get(key, {}).get("rps")
                cells.append(f"{ms:.1f}" + (f" ({rps:.0f}/s)" if rps else ""))
            lines.append(f"| {labels[key]} | " + " | ".join(cells) + " |")
        lines += [
            f"\n### SQL statements per request, {kind}\n",
            "| page | " + " | ".join(f"{int(s):,}" for s in sizes) + " |",
            "|---|" + "---:|" * len(sizes),
        ]
        for key in runs[sizes[0]]["inproc"]:
            counts = [runs[s]["inproc"][key] for s in sizes]
            lines.append(f"| {labels[key]} | " + " | ".join(str(c["queries"]) for c in counts) + " |")
        digests = [(s, runs[s]["digest"]) for s in sizes if "digest" in runs[s]]
        if digests:
            lines += [
                f"\n### Daily digest, {kind}: {digests[0][1]['what']}\n",
                "| patients | pumps in use | refill rows read (may need action) | seconds |",
                "|---:|---:|---:|---:|",
            ]
            lines += [
                f"| {int(s):,} | {d['pumps']:,} | {d['rows_loaded']:,} | {d['seconds']:.2f} |" for s, d in digests
            ]
    lines += ["\n### Targets\n", "| target | database | measured | met |", "|---|---|---|---|"]
    for target, kind, measured, met in targets(out):
        lines.append(f"| {target} | {kind} | {measured} | {'met' if met else '**not met**' if met is False else '?'} |")
    return "\n".join(lines) + "\n"


def targets(out: dict):
    """(target, database, measured, met: True/False/None when not measured)."""
    for kind, runs in out["runs"].items():
        at10k = runs.get("10000", {})
        loadrun = at10k.get("load", {})
        ref = loadrun.get("static", {}).get("rps")
        for key, share in THROUGHPUT_TARGETS.items():
            r = loadrun.get(key)
            page_ref = (r or {}).get("ref_rps") or ref
            if r and page_ref:
                yield (
                    f"{key} >= {share:.0%} of the static file's req/s at 10k",
                    kind,
                    f"{r['rps'] / page_ref:.0%} ({r['rps']:.0f} vs {page_ref:.0f} req/s)",
                    r["rps"] >= share * page_ref,
                )
            else:
                yield f"{key} >= {share:.0%} of the static file's req/s at 10k", kind, "not measured", None
        for key in P95_PAGES:
            r = loadrun.get(key)
            paced = (r or {}).get("paced")
            yield (
                f"{key} p95 < {P95_TARGET_MS} ms, 20 connections paced at {paced['rate']:g} req/s, 10k"
                if paced
                else f"{key} p95 < {P95_TARGET_MS} ms, 20 connections paced, 10k",
                kind,
                f"{paced['p95_ms']:.0f} ms ({paced['rps']:.1f} req/s served)" if paced else "not measured",
                (paced["p95_ms"] < P95_TARGET_MS and paced["errors"] == 0) if paced else None,
            )
        for key in P95_PAGES:
            r = loadrun.get(key)
            # Closed loop, 20 connections: p95 >= 20 / throughput (Little's law), so this is a throughput bar of
            # ~200 req/s per page; shown, but the paced line above is the latency users would see.
            yield (
                f"{key} p95 < {P95_TARGET_MS} ms, 20 connections closed loop (saturated), 10k",
                kind,
                f"{r['p95_ms']:.0f} ms at {r['rps']:.0f} req/s" if r else "not measured",
                (r["p95_ms"] < P95_TARGET_MS) if r else None,
            )
        digests = [(int(s), run["digest"]) for s, run in runs.items() if "digest" in run]
        if digests:
            size, d = max(digests, key=lambda sd: sd[1]["pumps"])
            if d["pumps"] >= DIGEST_TARGET_PUMPS:
                yield (
                    f"digest for {DIGEST_TARGET_PUMPS:,} pumps < {DIGEST_TARGET_S:g} s",
                    kind,
                    f"{d['seconds']:.2f} s ({d['pumps']:,} pumps)",
                    d["seconds"] < DIGEST_TARGET_S,
                )
            else:
                estimate = d["seconds"] * DIGEST_TARGET_PUMPS / max(d["pumps"], 1)
                yield (
                    f"digest for {DIGEST_TARGET_PUMPS:,} pumps < {DIGEST_TARGET_S:g} s",
                    kind,
                    f"{d['seconds']:.2f} s at {d['pumps']:,} pumps; linear estimate {estimate:.1f} s",
                    estimate < DIGEST_TARGET_S,
                )
        base = runs.get(str(QUERY_BASE), {}).get("inproc", {})
        big = runs.get("10000", {}).get("inproc", {}) or (runs[max(runs, key=int)]["inproc"] if runs else {})
        for key in MAIN_PAGES:
            if key in base and key in big:
                small, large = base[key]["queries"], big[key]["queries"]
                yield (
                    f"{key}: SQL per request same at {QUERY_BASE} and 10k",
                    kind,
                    f"{small} vs {large}",
                    small == large,
                )


if __name__ == "__main__":
    raise SystemExit(main())
