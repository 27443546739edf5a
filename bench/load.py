"""Drive a running server over 127.0.0.1 with N concurrent connections for a fixed time: closed loop (each
connection sends its next request as soon as the last one is answered: the throughput) or paced (`paced`).

Two drivers: `wrk` (Debian's, preferred: a C load generator leaves the CPU to the server) and a Python one
(threads, one http.client connection each, reconnecting when gunicorn's sync worker closes it)."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass

WRK_SCRIPT = """
done = function(summary, latency, requests)
  io.write(string.format('{"requests": %d, "seconds": %f, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
    .. '"errors": %d, "non2xx": %d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(95),
    latency:percentile(99), summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.timeout, summary.errors.status))
end
"""


# Flask-Login's "strong" session protection binds the session to the address and User-Agent it signed in
# with: the sign-in and every driver send this one.
USER_AGENT = "tracker-bench/1"


def _get(conn: http.client.HTTPConnection, path: str, cookie: str) -> tuple[http.client.HTTPConnection | None, int]:
    """One GET on a kept-alive connection: (the connection, or None once closed; the status, 0 if none came)."""
    try:
        conn.request("GET", path, headers={"Cookie": cookie, "User-Agent": USER_AGENT})
        response = conn.getresponse()
        response.read()
    except (OSError, http.client.HTTPException):
        conn.close()
        return None, 0
    if response.getheader("Connection", "").lower() == "close":
        conn.close()
        return None, response.status
    return conn, response.status


def check(port: int, path: str, cookie: str) -> None:
    """One request as the drivers make it: must be a 200 (not a redirect to the login page). It also drains
    the server: gunicorn's sync workers still serve requests a finished load run left queued, and this one
    queues behind them, so the next measurement starts on an idle server."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
    conn.request("GET", path, headers={"Cookie": cookie, "User-Agent": USER_AGENT})
    response = conn.getresponse()
    response.read()
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} gave {response.status} {response.getheader('Location', '')}")


def _ms(latencies: list[float], q: float) -> float:
    """The q-quantile of sorted latencies in seconds, in milliseconds."""
    return latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1000 if latencies else 0.0


@dataclass
class Load:
    rps: float
    p50_ms: float
    p95_ms: float
    requests: int
    errors: int


def have_wrk() -> bool:
    return shutil.which("wrk") is not None


def run(port: int, path: str, cookie: str, connections: int, seconds: float, driver: str) -> Load:
    if driver == "wrk":
        return _wrk(port, path, cookie, connections, seconds)
    return _python(port, path, cookie, connections, seconds)


def _wrk(port, path, cookie, connections, seconds) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT)
    try:
        out = subprocess.run(
            [
                "wrk",
                "-t",
                "2",
                "-c",
                str(connections),
                "-d",
                f"{max(1, round(seconds))}s",
                "--timeout",
                "10s",
                "-s",
                script.name,
                "-H",
                f"Cookie: {cookie}",
                "-H",
                f"User-Agent: {USER_AGENT}",
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
        )
    finally:
        os.unlink(script.name)
    if out.returncode != 0:
        raise RuntimeError(f"wrk failed: {out.stderr.strip()}")
    out = out.stdout
    data = json.loads(out.strip().splitlines()[-1])
    return Load(
        data["requests"] / data["seconds"],
        data["p50_us"] / 1000,
        data["p95_us"] / 1000,
        data["requests"],
        data["errors"] + data["non2xx"],
    )


def _python(port, path, cookie, connections, seconds) -> Load:
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker():
        conn = None
        mine, bad = [], 0
        while time.perf_counter() < deadline:
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            started = time.perf_counter()
            conn, status = _get(conn, path, cookie)
            bad += status != 200
            if status:  # a transport error has no latency to count
                mine.append(time.perf_counter() - started)
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - started
    latencies.sort()
    return Load(len(latencies) / elapsed, _ms(latencies, 0.50), _ms(latencies, 0.95), len(latencies), errors[0])


def paced(port: int, path: str, cookie: str, connections: int, rate: float, seconds: float) -> Load:
    """Open loop: `connections` clients that between them send `rate` requests a second, each on a fixed
    timetable (one request every connections/rate seconds, the clients' phases spread evenly). Latency counts
    from the scheduled time, so a server that falls behind shows its queue (no coordinated omission)."""
    interval = connections / rate
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    start = time.perf_counter() + 0.2
    deadline = start + seconds

    def client(n: int):
        conn = None
        mine, bad = [], 0
        due = start + n * interval / connections
        while due < deadline:
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            conn, status = _get(conn, path, cookie)
            bad += status != 200
            mine.append(time.perf_counter() - due)
            due += interval
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client, args=(n,)) for n in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = max(time.perf_counter(), deadline) - start
    latencies.sort()
    return Load(len(latencies) / elapsed, _ms(latencies, 0.50), _ms(latencies, 0.95), len(latencies), errors[0])
