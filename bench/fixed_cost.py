"""Where a request's fixed cost goes: CPU time per request in-process, the app called as gunicorn calls it (one
WSGI call, body read and closed), against the bare Flask app of bench/hello.py. No HTTP and no test client, so
the figures are the app's own, steadier than a load run on a shared machine.

    .venv/bin/python -m bench.fixed_cost                     # static file, /healthz, bare Flask
    .venv/bin/python -m bench.fixed_cost --profile /static/css/app.css   # and cProfile's top functions

The static file and /healthz are asked with a signed-in session cookie, as a browser sends it."""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time

from bench import db as bench_db
from bench.pages import login

PATHS = ("/static/css/app.css", "/healthz")


def environ_for(path: str, cookie: str = "") -> dict:
    base = {
        "REQUEST_METHOD": "GET",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.0",
        "REMOTE_ADDR": "127.0.0.1",
        "HTTP_HOST": "127.0.0.1:8000",
        "HTTP_USER_AGENT": "tracker-bench/1",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(b""),
        "wsgi.errors": io.StringIO(),
        "wsgi.multithread": False,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    if cookie:
        base["HTTP_COOKIE"] = cookie
    return base


def call(app, environ: dict) -> int:
    """One request as a WSGI server makes it: the status, the body read to the end, closed."""
    seen = []
    body = app(dict(environ, **{"wsgi.input": io.BytesIO(b"")}), lambda status, headers, exc=None: seen.append(status))
    try:
        for _chunk in body:
            pass
    finally:
        close = getattr(body, "close", None)
        if close:
            close()
    return int(seen[0].split()[0])


def cpu_us(app, environ: dict, n: int, rounds: int = 5) -> float:
    """The median over `rounds` of CPU microseconds per request (process time: other processes' load excluded)."""
    for _ in range(50):
        call(app, environ)
    per = []
    for _ in range(rounds):
        started = time.process_time()
        for _ in range(n):
            call(app, environ)
        per.append((time.process_time() - started) / n * 1e6)
    return statistics.median(per)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fixed_cost", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", default="sqlite", choices=("sqlite", "postgres"))
    p.add_argument("--size", type=int, default=10000)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--profile", default="", help="a path to profile with cProfile (--requests requests)")
    args = p.parse_args(argv)

    from bench.hello import app as hello
    from tracker import create_app

    app = create_app(SQLALCHEMY_DATABASE_URI=bench_db.database_url(args.db, args.size), SCHEDULER=False)
    client = app.test_client()
    with app.app_context():
        login(client)
    cookie = f"session={client.get_cookie('session').value}"
    for path in PATHS:
        assert call(app, environ_for(path, cookie)) == 200, path
    bare = cpu_us(hello, environ_for("/"), args.requests)
    print(f"bare Flask hello: {bare:.0f} us CPU a request")
    for path in PATHS:
        for label, c in (("signed in", cookie), ("no cookie", "")):
            us = cpu_us(app, environ_for(path, c), args.requests)
            print(f"{path} ({label}): {us:.0f} us CPU a request, {us / bare:.1f} x bare Flask")
    if args.profile:
        environ = environ_for(args.profile, cookie)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(args.requests):
            call(app, environ)
        profile.disable()
        stats = pstats.Stats(profile).sort_stats("cumulative")
        stats.print_stats(40)
        stats.sort_stats("tottime").print_stats(25)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
