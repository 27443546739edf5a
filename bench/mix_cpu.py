"""The clinic-day mix in-process: CPU time per request of bench/mix.py's cycle (the same pages and writes, in the
same order, through the Flask test client), one process per variant, the variants' rounds interleaved. CPU time
(time.process_time) leaves out other processes' load, which on a shared machine moves a load run's throughput by
more than the 5% a speed-up must earn.

    .venv/bin/python -m bench.mix_cpu --variants base --rounds 3"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import statistics
import subprocess
import sys
import time

from bench import db as bench_db

FORM = re.compile(r"<form[^>]*>(?:(?!</form>).)*?name=\"submission_key\".*?</form>", re.S)
INPUT = re.compile(r"<input[^>]*>")
SELECT = re.compile(r"<select([^>]*)>(.*?)</select>", re.S)
TEXTAREA = re.compile(r"<textarea([^>]*)>(.*?)</textarea>", re.S)
ATTR = {name: re.compile(rf' {name}="([^"]*)"') for name in ("name", "type", "value")}
SELECTED = re.compile(r'<option selected value="([^"]*)"')
FIRST = re.compile(r'<option[^>]* value="([^"]*)"')


def form_fields(body: str) -> dict[str, str] | None:
    """The page's form with a one-time key, as the Lua of bench/mix.py posts it."""
    found = FORM.search(body[body.rfind("<form", 0, body.find('name="submission_key"')) :])
    if not found:
        return None
    form, out = found.group(0), {}
    for tag in INPUT.findall(form):
        name = ATTR["name"].search(tag)
        kind = (ATTR["type"].search(tag) or [None, "text"])[1]
        if not name or kind in ("submit", "button"):
            continue
        value = html.unescape((ATTR["value"].search(tag) or [None, ""])[1])
        if kind in ("checkbox", "radio"):
            if " checked" in tag or name[1] == "acknowledge":
                out[name[1]] = value or "y"
            continue
        out[name[1]] = value or ("BENCH-LOT" if name[1] == "lot" else "")
    for attrs, inner in SELECT.findall(form):
        name = ATTR["name"].search(attrs)
        value = SELECTED.search(inner) or FIRST.search(inner)
        if name and value:
            out[name[1]] = html.unescape(value[1])
    if out.get("actual_residual_ml") == "":
        out["actual_residual_ml"] = out.get("expected_residual_ml", "0")
    for attrs, inner in TEXTAREA.findall(form):
        name = ATTR["name"].search(attrs)
        if name:
            out[name[1]] = html.unescape(inner.removeprefix("\n"))
    return out


def child(args) -> int:
    """One variant's process: sign in, warm up, then time `cycles` cycles; prints JSON."""
    os.environ.update(bench_db.app_env(bench_db.database_url(args.db, args.size)))
    os.environ["BENCH_WITHOUT"] = "" if args.variant == "base" else args.variant
    from bench.mix import READS, WRITES
    from bench.pages import CSRF, LOGIN_PASSWORD, urls
    from bench.variant import app

    app.config["TESTING"] = False
    url_map = urls(app)
    url_map["list2"] = url_map["list"].replace("?", "?page=2&")
    pools = json.loads(args.pools)
    clients = {}
    for role, email in (("nurse", "nurse1@demo.example"), ("coordinator", "coordinator1@demo.example")):
        client = app.test_client()
        token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
        client.post("/login", data={"email": email, "password": LOGIN_PASSWORD, "csrf_token": token})
        clients[role] = client
    views = pools["views"]
    counts = {"requests": 0, "saved": 0, "refused": 0}

    def cycle(n: int) -> None:
        for role, client in clients.items():
            for kind, what in READS:
                if kind == "get":
                    view = views[(n * 3 + counts["requests"]) % len(views)]
                    path = url_map.get(what, what).replace("{view}", str(view))
                    client.get(path)
                    counts["requests"] += 1
                    continue
                path_of, buttons = WRITES[role]
                path = path_of.replace("{id}", str(pools[role].pop()))
                response = client.get(path)
                counts["requests"] += 1
                for button in buttons:
                    fields = form_fields(response.get_data(as_text=True)) if response.status_code == 200 else None
                    if fields is None:
                        counts["refused"] += 1
                        break
                    if button:
                        fields["action"] = button
                    response = client.post(path, data=fields)
                    counts["requests"] += 1
                else:
                    counts["saved" if response.status_code in (302, 303) else "refused"] += 1

    cycle(0)  # warm-up: templates, statements, connections
    counts.update(requests=0, saved=0, refused=0)
    started, wall = time.process_time(), time.perf_counter()
    for n in range(1, args.cycles + 1):
        cycle(n)
    cpu = time.process_time() - started
    per = cpu / counts["requests"] * 1000
    timings = {"cpu_ms_per_request": per, "cpu_s": cpu, "wall_s": time.perf_counter() - wall}
    print(json.dumps(counts | timings))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.mix_cpu", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--variants", default="base")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--cycles", type=int, default=10, help="cycles per round (each: both roles' cycle)")
    p.add_argument("--variant", help=argparse.SUPPRESS)
    p.add_argument("--pools", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.variant:
        return child(args)

    from bench.mix import candidates
    from bench.run import prepare
    from tracker import create_app

    app, _ = prepare(args.db, args.size, 7, True, create_app)
    people = candidates(app, args.size)
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    need = args.cycles + 1
    results: dict[str, list] = {v: [] for v in variants}
    taken = 0
    for n in range(args.rounds):
        for variant in variants:
            pools = {
                "nurse": people["refill"][taken : taken + need],
                "coordinator": people["booking"][taken : taken + need],
                "views": people["views"],
            }
            taken += need
            out = subprocess.run(
                [sys.executable, "-m", "bench.mix_cpu", "--db", args.db, "--size", str(args.size)]
                + ["--variant", variant, "--cycles", str(args.cycles), "--pools", json.dumps(pools)],
                capture_output=True,
                text=True,
                check=True,
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            results[variant].append(r)
            print(
                f"  round {n + 1} {variant:10} {r['cpu_ms_per_request']:6.2f} ms CPU a request ({r['requests']} "
                f"requests, {r['saved']} writes saved, {r['refused']} refused)",
                flush=True,
            )
    base = statistics.median(r["cpu_ms_per_request"] for r in results.get("base", [])) if "base" in results else None
    print("\n| variant | CPU ms a request, median (min-max) | vs this code |\n|---|---:|---:|")
    for variant, rounds in results.items():
        ms = [r["cpu_ms_per_request"] for r in rounds]
        mid = statistics.median(ms)
        versus = f"{(mid / base - 1) * 100:+.1f}%" if base and variant != "base" else "-"
        label = "this code" if variant == "base" else f"without {variant}"
        print(f"| {label} | {mid:.2f} ({min(ms):.2f}-{max(ms):.2f}) | {versus} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
