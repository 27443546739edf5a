"""The clinic-day mix (issue 20 item 7): what a clinic's staff do all day, reads and writes together, measured
against a bare Flask app under the same gunicorn settings.

    .venv/bin/python -m bench.mix --db sqlite --size 10000 --seconds 15 --repeats 3
    .venv/bin/python -m bench.mix --variants base            # and each speed-up bench/variant.py can switch off

Twenty connections (wrk, one thread each), half signed in as nurses, half as coordinators. Each goes round its
own cycle (started at a different step): the patient list (filtered, then a second page), the stage board, the
calendar month (the page, then its month data as the page's script asks for it), the worklist and three patient
pages (each view writes its audit row and commits, so the reads after it cannot reuse a cached read), then one
write through the real form: a nurse records a refill (open the form, preview, save), a coordinator books one
(open the form, book). Forms are posted as a browser would, with their CSRF token and one-time key; every write
goes to a patient no other write in the run touches.

Per round, back to back: the bare Flask app (bench/hello.py), the app's static file, the mix. The ratios are to
that round's bare Flask figure; the spread is over the rounds. `--variants` serves bench/variant.py with the
named speed-up switched off ("base": none) and runs the rounds for each."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import tempfile
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from bench import db as bench_db
from bench import load
from bench.pages import clinic_today, urls
from bench.server import gunicorn, session_cookie

NURSE_EMAIL = "nurse1@demo.example"
PRODUCTION = {"workers": 2 * (os.cpu_count() or 1) + 1, "threads": 1, "keepalive": 0}  # as bench/run.py

# Each connection's cycle: (kind, what). "get": a page ("{view}": the next patient page of a shared set); "write":
# the role's form. The calendar's month data follows its page, as the page's script asks for it.
READS = [
    ("get", "list"),
    ("get", "/patients/{view}"),
    ("get", "board"),
    ("get", "cal_page"),
    ("get", "cal_json"),
    ("get", "/patients/{view}"),
    ("get", "worklist"),
    ("get", "list2"),
    ("get", "/patients/{view}"),
    ("write", None),
]
WRITES = {
    # role: (form path, the submit buttons pressed in turn; "" is a form with one unnamed button)
    "nurse": ("/patients/{id}/refill", ["preview", "save"]),
    "coordinator": ("/patients/{id}/book", [""]),
}

LUA = r"""
local steps = __STEPS__
local views = __VIEWS__
local pools = __POOLS__
local cookies = __COOKIES__
local per_thread = __PER_THREAD__
local UA = "__UA__"
local write_paths = __WRITE_PATHS__
local buttons_of = __BUTTONS__

local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  role = (tid % 2 == 0) and "nurse" or "coordinator"
  cookie = cookies[role]
  pos = (tid * 3) % #steps + 1
  nview = tid * 7
  nwrite = 0
  pending = nil      -- the POST to send next, in a form's flow
  flow = nil         -- {path, buttons, k}
  ok, refused, failed, posts = 0, 0, 0, 0
  statuses = ""
end

local function enc(s)
  return (s:gsub("[^%w%-_%.~]", function(c) return string.format("%%%02X", string.byte(c)) end))
end

local function unesc(s)
  s = s:gsub("&#39;", "'"):gsub("&#34;", '"'):gsub("&quot;", '"')
  return (s:gsub("&lt;", "<"):gsub("&gt;", ">"):gsub("&amp;", "&"))
end

-- The fields of the page's first form carrying a one-time key, as a browser would post them.
local function form_fields(body)
  local key = body:find('name="submission_key"', 1, true)
  if not key then return nil end
  local start = 1
  for p in body:gmatch("()<form") do if p < key then start = p else break end end
  local stop = body:find("</form>", key, true) or #body
  local f = body:sub(start, stop)
  local out = {}
  for tag in f:gmatch("<input[^>]*>") do
    local name = tag:match(' name="([^"]*)"')
    local kind = tag:match(' type="([^"]*)"') or "text"
    if name then
      if kind == "checkbox" or kind == "radio" then
        -- the nurse ticks the acknowledgement after reading the preview's warnings
        if tag:find(" checked", 1, true) or name == "acknowledge" then
          table.insert(out, {name, tag:match(' value="([^"]*)"') or "y"})
        end
      elseif kind ~= "submit" and kind ~= "button" then
        local value = unesc(tag:match(' value="([^"]*)"') or "")
        if name == "lot" and value == "" then value = "BENCH-LOT" end
        table.insert(out, {name, value})
      end
    end
  end
  for attrs, inner in f:gmatch("<select([^>]*)>(.-)</select>") do
    local name = attrs:match(' name="([^"]*)"')
    local value = inner:match('<option selected value="([^"]*)"') or inner:match('<option value="([^"]*)" selected')
      or inner:match('<option[^>]* value="([^"]*)"')
    if name and value then table.insert(out, {name, unesc(value)}) end
  end
  -- what the nurse types: the residual aspirated, here the one the programmer expected
  local expected
  for _, kv in ipairs(out) do if kv[1] == "expected_residual_ml" then expected = kv[2] end end
  for _, kv in ipairs(out) do if kv[1] == "actual_residual_ml" and kv[2] == "" then kv[2] = expected or "0" end end
  for attrs, inner in f:gmatch("<textarea([^>]*)>(.-)</textarea>") do
    local name = attrs:match(' name="([^"]*)"')
    if name then table.insert(out, {name, unesc((inner:gsub("^\r?\n", "")))}) end
  end
  return out
end

local function headers(extra)
  local h = {["Cookie"] = cookie, ["User-Agent"] = UA}
  if extra then h["Content-Type"] = "application/x-www-form-urlencoded" end
  return h
end

function request()
  if pending then
    return wrk.format("POST", flow.path, headers(true), pending)
  end
  local kind, what = steps[pos][1], steps[pos][2]
  if kind == "write" then
    local pool = pools[role]
    local id = pool[(tid * per_thread + nwrite) % #pool + 1]
    nwrite = nwrite + 1
    flow = {path = string.gsub(write_paths[role], "{id}", id), k = 0}
    return wrk.format("GET", flow.path, headers(false))
  end
  flow = nil
  local path = what
  if path:find("{view}", 1, true) then
    path = path:gsub("{view}", views[nview % #views + 1])
    nview = nview + 1
  end
  return wrk.format("GET", path, headers(false))
end

local function next_step()
  pending, flow = nil, nil
  pos = pos % #steps + 1
end

function response(status, hdrs, body)
  if not flow then return next_step() end
  local buttons = buttons_of[role]
  if flow.k > 0 then posts = posts + 1 end
  if flow.k == #buttons then
    if status == 302 or status == 303 then
      ok = ok + 1
    else
      refused = refused + 1; statuses = statuses .. status .. " "
    end
    return next_step()
  end
  local fields = (status == 200) and form_fields(body)
  if not fields then
    failed = failed + 1; statuses = statuses .. "form" .. status .. " "
    return next_step()
  end
  flow.k = flow.k + 1
  local parts = {}
  for _, kv in ipairs(fields) do
    if kv[1] ~= "action" then table.insert(parts, enc(kv[1]) .. "=" .. enc(kv[2])) end
  end
  if buttons[flow.k] ~= "" then table.insert(parts, "action=" .. buttons[flow.k]) end
  pending = table.concat(parts, "&")
end

function done(summary, latency, requests)
  local ok_, refused_, failed_, posts_, seen = 0, 0, 0, 0, ""
  for _, t in ipairs(threads) do
    ok_ = ok_ + t:get("ok"); refused_ = refused_ + t:get("refused"); failed_ = failed_ + t:get("failed")
    posts_ = posts_ + t:get("posts")
    seen = seen .. t:get("statuses")
  end
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
    .. '"errors": %d, "non2xx": %d, "writes_ok": %d, "writes_refused": %d, "forms_failed": %d, "posts": %d, '
    .. '"odd": "%s"}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.errors.status, ok_, refused_, failed_, posts_, seen:sub(1, 200)))
end
"""


def _lua_list(values) -> str:
    return "{" + ", ".join(json.dumps(str(v)) for v in values) + "}"


def lua_script(url_map: dict, views: list[int], pools: dict, cookies: dict, per_thread: int) -> str:
    steps = []
    for kind, what in READS:
        path = url_map.get(what, what) if what else ""
        steps.append("{" + json.dumps(kind) + ", " + json.dumps(path) + "}")
    replacements = {
        "__STEPS__": "{" + ", ".join(steps) + "}",
        "__VIEWS__": _lua_list(views),
        "__POOLS__": "{" + ", ".join(f"{role} = {_lua_list(ids)}" for role, ids in pools.items()) + "}",
        "__COOKIES__": "{" + ", ".join(f"{role} = {json.dumps(c)}" for role, c in cookies.items()) + "}",
        "__PER_THREAD__": str(per_thread),
        "__UA__": load.USER_AGENT,
        "__WRITE_PATHS__": "{" + ", ".join(f"{r} = {json.dumps(p)}" for r, (p, _) in WRITES.items()) + "}",
        "__BUTTONS__": "{" + ", ".join(f"{r} = {_lua_list(b)}" for r, (_, b) in WRITES.items()) + "}",
    }
    script = LUA
    for key, value in replacements.items():
        script = script.replace(key, value)
    return script


def wrk(port: int, path: str, connections: int, seconds: float, script: str, threads: int | None = None) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                str(threads or connections),
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                f.name,
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr.strip()}")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    data["rps"] = data["requests"] / data["seconds"]
    data["p50_ms"], data["p95_ms"] = data["p50_us"] / 1000, data["p95_us"] / 1000
    return data


def plain(port: int, path: str, connections: int, seconds: float, cookie: str = "") -> dict:
    """A closed-loop GET of one path (the bare app's hello, the static file), as bench/load.py drives it."""
    r = load.run(port, path, cookie, connections, seconds, "wrk")
    return {"rps": r.rps, "p50_ms": r.p50_ms, "p95_ms": r.p95_ms, "requests": r.requests, "errors": r.errors}


def candidates(app, size: int) -> dict:
    """Patients each write may touch, none twice: pumps holding drug, not refilled today (refills), and patients
    due at least two days from now with no open booking (bookings); plus the patient pages the cycle views."""
    from sqlalchemy import text

    from tracker.extensions import db

    today = clinic_today(app)
    on_list = (
        "select p.id from patient p join pump u on u.patient_id = p.id and u.explanted_on is null "
        "join refill_schedule s on s.pump_id = u.id where p.status = 'active' "
    )
    with app.app_context():
        s = db.session
        refill = s.execute(
            text(
                on_list + "and not exists (select 1 from refill_visit v where v.pump_id = u.id and v.visit_at >= :d) "
                "order by (p.id * 7919) % 10007"
            ),
            {"d": today - timedelta(days=1)},
        ).scalars()
        refill = list(refill)
        booking = s.execute(
            text(
                on_list + "and s.due_date >= :d and not exists (select 1 from refill_appointment a "
                "where a.patient_id = p.id and a.status = 'booked') order by (p.id * 104729) % 10009"
            ),
            {"d": today + timedelta(days=2)},
        ).scalars()
        taken = set(refill[: len(refill) // 2])
        booking = [i for i in booking if i not in taken]
        views = s.execute(text("select id from patient where status = 'active' order by (id * 31) % 997 limit 300"))
        views = list(views.scalars())
    return {"refill": refill[: len(refill) // 2], "booking": booking, "views": views}


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m bench.mix", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    p.add_argument("--size", type=int, default=10000, help="patients (seeded by bench/seed.py if absent)")
    p.add_argument("--seconds", type=float, default=15, help="each measurement (default 15)")
    p.add_argument("--warmup", type=float, default=3, help="mix warm-up per server (default 3)")
    p.add_argument("--repeats", type=int, default=3, help="rounds of bare Flask, static file, mix (default 3)")
    p.add_argument("--connections", type=int, default=20)
    p.add_argument("--workers", type=int, default=PRODUCTION["workers"])
    p.add_argument("--variants", default="base", help="base and/or speed-ups to switch off (bench/variant.py)")
    p.add_argument("--no-static", action="store_true", help="skip the static file")
    p.add_argument("--no-mix", action="store_true", help="only bare Flask and the static file")
    p.add_argument("--before", default="", help="also serve this checkout (e.g. a worktree of the commit before)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--json", default="/tmp/tracker-bench-mix.json")
    return p.parse_args(argv)


def main(argv=None) -> int:
    from bench.run import prepare
    from tracker import create_app

    args = parse_args(argv)
    if not load.have_wrk():
        raise SystemExit("needs wrk (apt-get install -y wrk)")
    app, _ = prepare(args.db, args.size, args.seed, True, create_app)
    url_map = urls(app)
    url_map["list2"] = url_map["list"].replace("?", "?page=2&")
    people = candidates(app, args.size)
    variants = (["before"] if args.before else []) + [v.strip() for v in args.variants.split(",") if v.strip()]
    rounds = len(variants) * (args.repeats + 1)  # warm-ups write too
    per_thread = max(1, min(len(people["refill"]), len(people["booking"])) // rounds // (args.connections // 2))
    print(
        f"# clinic-day mix, {args.db}, {args.size:,} patients, gunicorn {args.workers} sync workers, "
        f"{args.connections} connections, {args.seconds:g} s each; write pools: {len(people['refill'])} refills, "
        f"{len(people['booking'])} bookings ({per_thread} per connection and round)",
        flush=True,
    )
    url = bench_db.database_url(args.db, args.size)
    results = {"args": vars(args), "variants": {}}
    offset = [0]

    def script(cookies):
        chunk = per_thread * (args.connections // 2)
        start = offset[0]
        offset[0] += chunk
        pools = {
            "nurse": people["refill"][start : start + chunk],
            "coordinator": people["booking"][start : start + chunk],
        }
        return lua_script(url_map, people["views"], pools, cookies, per_thread)

    with ExitStack() as servers:
        hello_port = servers.enter_context(gunicorn(url, args.workers, app="bench.hello:app", ready="/"))
        apps = {}
        for variant in variants:  # every variant's server up at once: the rounds interleave them
            if variant == "before":
                served = gunicorn(url, args.workers, root=Path(args.before))
            else:
                without = "" if variant == "base" else variant
                served = gunicorn(url, args.workers, app="bench.variant:app", env={"BENCH_WITHOUT": without})
            port = servers.enter_context(served)
            cookies = {"nurse": session_cookie(port, NURSE_EMAIL), "coordinator": session_cookie(port)}
            load.check(port, url_map["list"], cookies["coordinator"])
            if args.warmup and not args.no_mix:
                wrk(port, "/", args.connections, args.warmup, script(cookies))
            apps[variant] = (port, cookies)
            results["variants"][variant] = []
        plain(hello_port, "/", args.connections, 1)
        for n in range(args.repeats):
            for variant, (port, cookies) in apps.items():
                bare = plain(hello_port, "/", args.connections, args.seconds)
                static = None
                if not args.no_static:
                    static = plain(port, url_map["static"], args.connections, args.seconds, cookies["coordinator"])
                mix = None if args.no_mix else wrk(port, "/", args.connections, args.seconds, script(cookies))
                results["variants"][variant].append(
                    {"bare": bare, "static": static, "mix": mix, "loadavg": os.getloadavg()[0]}
                )
                print(f"  round {n + 1} {variant:10} {_line(bare, static, mix)} (load {os.getloadavg()[0]:.1f})")
                with open(args.json, "w") as f:
                    json.dump(results, f, indent=1)
    print(report(results))
    return 0


def _line(bare: dict, static: dict | None, mix: dict | None) -> str:
    line = f"bare {bare['rps']:7.1f} req/s"
    if static:
        line += f" | static {static['rps']:7.1f} ({static['rps'] / bare['rps']:.0%})"
    if mix:
        line += (
            f" | mix {mix['rps']:6.1f} req/s ({mix['rps'] / bare['rps']:.1%}) p50 {mix['p50_ms']:.0f} p95 "
            f"{mix['p95_ms']:.0f} ms, writes {mix['writes_ok']} saved {mix['writes_refused']} refused "
            f"{mix['forms_failed']} no form, errors {mix['errors']} non-2xx/3xx {mix['non2xx']}"
            + (f" [{mix['odd']}]" if mix["odd"] else "")
        )
    return line


def args_before(results: dict) -> str:
    return results["args"]["before"] or "-"


def _spread(values: list[float], spec: str) -> str:
    mid = statistics.median(values)
    return f"{format(mid, spec)} ({format(min(values), spec)}-{format(max(values), spec)})"


def report(results: dict) -> str:
    """Markdown: per variant, the median over the rounds with (min-max); ratios are per round (to that round's
    bare Flask figure, measured just before)."""
    lines = [
        "| variant | bare Flask req/s | static req/s | static / bare | mix req/s | mix / bare | mix p50 ms "
        "| mix p95 ms | writes saved (refused) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = {}
    for variant, rounds in results["variants"].items():
        bare = [r["bare"]["rps"] for r in rounds]
        static = [r["static"]["rps"] / r["bare"]["rps"] * 100 for r in rounds if r["static"]]
        mixes = [r for r in rounds if r["mix"]]
        mix = [r["mix"]["rps"] / r["bare"]["rps"] * 100 for r in mixes]
        ratios[variant] = statistics.median(mix) if mix else None
        label = {"base": "this code", "before": f"before ({args_before(results)})"}.get(variant, f"without {variant}")
        cells = [
            label,
            _spread(bare, ".0f"),
            _spread([r["static"]["rps"] for r in rounds if r["static"]], ".0f") if static else "-",
            _spread(static, ".0f") + "%" if static else "-",
            _spread([r["mix"]["rps"] for r in mixes], ".1f") if mix else "-",
            _spread(mix, ".2f") + "%" if mix else "-",
            _spread([r["mix"]["p50_ms"] for r in mixes], ".0f") if mix else "-",
            _spread([r["mix"]["p95_ms"] for r in mixes], ".0f") if mix else "-",
            f"{sum(r['mix']['writes_ok'] for r in mixes)} ({sum(r['mix']['writes_refused'] for r in mixes)})"
            if mix
            else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    if ratios.get("base") and len(ratios) > 1:
        lines.append("\nWhat each speed-up is worth: the mix's ratio to bare Flask with it and without it.\n")
        for variant, ratio in ratios.items():
            if variant != "base" and ratio:
                change = (ratios["base"] / ratio - 1) * 100
                lines.append(f"* {variant}: {ratios['base']:.2f}% with, {ratio:.2f}% without ({change:+.1f}% with)")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    raise SystemExit(main())
