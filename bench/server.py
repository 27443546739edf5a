"""Start the app under gunicorn on 127.0.0.1 (the production settings of bench/run.py) and sign in over HTTP for a
session cookie."""

from __future__ import annotations

import http.cookiejar
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from bench.db import ROOT, app_env
from bench.load import USER_AGENT
from bench.pages import CSRF, LOGIN_EMAIL, LOGIN_PASSWORD

GUNICORN = str(Path(sys.executable).parent / "gunicorn")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def gunicorn(
    url: str,
    workers: int = 2,
    threads: int = 1,
    keepalive: int = 0,
    app: str = "wsgi:app",
    env: dict[str, str] | None = None,
    ready: str = "/healthz",
    root: Path = ROOT,
):
    """threads > 1: the gthread worker class (a worker's threads overlap database waits); keepalive 0: one
    connection per request, as from a proxy without upstream keep-alive (nginx's default). `app`: the WSGI
    application gunicorn serves (bench/hello.py's bare Flask app, bench/variant.py's app without a speed-up);
    `env`: extra environment; `ready`: the path answered 200 once it is up; `root`: the checkout to serve (another
    commit's, to compare)."""
    port = free_port()
    log = open(f"/tmp/tracker-bench-gunicorn-{port}.log", "w")
    worker_class = ["--worker-class", "gthread", "--threads", str(threads)] if threads > 1 else []
    proc = subprocess.Popen(
        [
            GUNICORN,
            "-w",
            str(workers),
            *worker_class,
            "--keep-alive",
            str(keepalive),
            "--timeout",
            "600",  # as README's production start: a 50,000-row import fits
            "-b",
            f"127.0.0.1:{port}",
            "--access-logfile",
            "-",
            "--access-logformat",
            "",
            app,
        ],
        cwd=root,
        env=app_env(url) | (env or {}),
        stdout=subprocess.DEVNULL,
        stderr=log,
    )
    try:
        deadline = time.time() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}{ready}", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"gunicorn did not start; see {log.name}") from None
                time.sleep(0.3)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def session_cookie(port: int, email: str = LOGIN_EMAIL) -> str:
    """Sign in as a demo user (the coordinator unless told) like a browser (CSRF token from /login); returns a
    Cookie header value."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.addheaders = [("User-Agent", USER_AGENT)]
    page = opener.open(f"http://127.0.0.1:{port}/login").read().decode()
    token = CSRF.search(page).group(1)
    body = urllib.parse.urlencode({"email": email, "password": LOGIN_PASSWORD, "csrf_token": token}).encode()
    opener.open(f"http://127.0.0.1:{port}/login", data=body).read()
    cookies = [f"{c.name}={c.value}" for c in jar]
    if not opener.open(f"http://127.0.0.1:{port}/board").geturl().endswith("/board"):
        raise RuntimeError("could not sign in (redirected to the login page)")
    return "; ".join(cookies)
