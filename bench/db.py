"""Fresh benchmark databases: a SQLite file under /tmp or a PostgreSQL database, schema by `flask db upgrade`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FLASK = str(Path(sys.executable).parent / "flask")
PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
SQLITE_DIR = Path(os.environ.get("BENCH_SQLITE_DIR", "/tmp/tracker-bench"))


def database_url(kind: str, size: int) -> str:
    if kind == "sqlite":
        return f"sqlite:///{SQLITE_DIR / f'bench_{size}.sqlite3'}"
    if kind == "postgres":
        return f"{PG_SERVER}/tracker_bench_{size}"
    raise ValueError(f"unknown database kind {kind!r}")


def _pg_admin():
    import psycopg

    plain = PG_SERVER.replace("postgresql+psycopg://", "postgresql://")
    return psycopg.connect(f"{plain}/postgres", autocommit=True)


def drop(kind: str, size: int) -> None:
    if kind == "sqlite":
        path = SQLITE_DIR / f"bench_{size}.sqlite3"
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        return
    with _pg_admin() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "tracker_bench_{size}" WITH (FORCE)')


def create(kind: str, size: int) -> str:
    """Drop and recreate the database, then build the schema with the app's own migrations."""
    drop(kind, size)
    if kind == "sqlite":
        SQLITE_DIR.mkdir(parents=True, exist_ok=True)
    else:
        with _pg_admin() as conn:
            conn.execute(f'CREATE DATABASE "tracker_bench_{size}"')
    url = database_url(kind, size)
    subprocess.run(
        [FLASK, "--app", "wsgi", "db", "upgrade"],
        cwd=ROOT,
        check=True,
        env=app_env(url),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    return url


def app_env(url: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "TRACKER_DATABASE_URL": url,
            "TRACKER_SECRET_KEY": "bench-" + "x" * 40,
            "TRACKER_SCHEDULER": "off",
            "TRACKER_ENV": "development",
            # The load drivers replay one fixed cookie whose last-seen time never moves: no idle logoff.
            "TRACKER_IDLE_TIMEOUT_MINUTES": "1440",
        }
    )
    return env
