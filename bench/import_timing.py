"""How long the CSV patient import takes (issue #9): `python -m bench.import_timing [--sizes 2000 20000]
[--databases sqlite postgres] [--profile]`. Not part of the test suite.

For each database and size: a fresh, empty database (SQLite file under /tmp, or PostgreSQL database
tracker_import_bench on BENCH_PG_SERVER), the clinic's sites, catalogues and a nurse; a generated file (three in
four patients implanted, with a pump, last refill and booked refill; the rest in evaluation); then the times of
reading the file, the dry run (the check page), the import itself (carrying the check page's checked lines, as
the import page does, and planning again inside its transaction), and a re-import of the same file (all
unchanged; without a check page before it, so every line is checked again)."""

from __future__ import annotations

import argparse
import cProfile
import csv
import io
import os
import pstats
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from config import Config
from tracker import create_app
from tracker.clinical.import_columns import COLUMNS
from tracker.demo import ensure_sites
from tracker.extensions import db
from tracker.imports.csv_file import read_table
from tracker.imports.storage import UploadStore
from tracker.models import AuditEvent, Patient, RefillSchedule, User
from tracker.services import Actor
from tracker.services.import_plan import dry_run
from tracker.services.import_write import ImportRun
from tracker.services.pumps import ensure_catalogues

PG_SERVER = os.environ.get("BENCH_PG_SERVER", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_NAME = "tracker_import_bench"
SQLITE_FILE = Path("/tmp/tracker-import-bench/import.sqlite3")
STORE = Path("/tmp/tracker-import-bench/instance")  # the upload store's folder (tracker.imports.storage)
TODAY = datetime.now(ZoneInfo(Config.CLINIC_TIMEZONE)).date()  # the clinic's today, as the app will see it


def database_url(kind: str) -> str:
    if kind == "sqlite":
        SQLITE_FILE.parent.mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{SQLITE_FILE}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{SQLITE_FILE}"
    import psycopg

    with psycopg.connect(
        PG_SERVER.replace("postgresql+psycopg://", "postgresql://") + "/postgres", autocommit=True
    ) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{PG_NAME}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{PG_NAME}"')
    return f"{PG_SERVER}/{PG_NAME}"


def generate(size: int) -> bytes:
    """A realistic file: UTF-8, commas, US dates for the bookings, a few names with accents."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in COLUMNS])
    models = ["SynchroMed II 40 mL", "SynchroMed II 20 mL", "Prometra II 40 mL"]
    for n in range(1, size + 1):
        implanted = n % 4 != 0
        model = models[n % 3]
        reservoir = 20 if "20 mL" in model else 40
        refill = TODAY - timedelta(days=n % 30 + 1)
        values = {
            "mrn": f"B{n:07d}",
            "first_name": ["Rosa", "José", "Ada", "Chloé"][n % 4],
            "last_name": f"Peña{n}",
            "date_of_birth": f"{1940 + n % 60}-0{1 + n % 9}-1{n % 9}",
            "sex": ["female", "male"][n % 2],
            "diagnosis": ["ms", "cp", "sci", "stroke", "tbi"][n % 5],
            "spasticity_origin": ["spinal", "cerebral"][n % 2],
            "location": ["Kennesaw Clinic", "Snellville Clinic", "Buckhead Clinic"][n % 3],
            "primary_nurse_email": "nurse@bench.example",
            "phone": f"(770) 555-{n % 10000:04d}",
            "withdrawal_risk": "no",
            "referral_date": "2018-03-01",
            "stage": "adjustment" if implanted else "evaluation",
        }
        if implanted:
            values |= {
                "stage_since": "2018-06-02",
                "pump_model": model,
                "pump_serial": f"NGP{n:07d}",
                "implanted_on": "2018-06-01",
                "surgery_centre": "Snellville Surgery Center",
                "surgeon": "Dr Shaw",
                "catheter_tip_level": "T10",
                "last_refill_date": refill.strftime("%m/%d/%Y"),
                "last_refill_volume_ml": str(reservoir),
                "concentration_mcg_per_ml": "2000" if reservoir == 40 else "1000",
                "daily_dose_mcg": str(100 + n % 150),
                "next_refill_date": (TODAY + timedelta(days=5 + n % 10)).isoformat(),
            }
        writer.writerow([values.get(c.name, "") for c in COLUMNS])
    return out.getvalue().encode("utf-8")


def one(kind: str, size: int, profile: bool) -> dict:
    url = database_url(kind)
    app = create_app(SQLALCHEMY_DATABASE_URI=url, SCHEDULER=False, SECRET_KEY="bench", TESTING=True)
    with app.app_context():
        db.create_all()
        ensure_sites(db.session)
        ensure_catalogues(db.session)
        nurse = User(email="nurse@bench.example", full_name="Bench Nurse", role="nurse", password_hash="x")
        db.session.add(nurse)
        db.session.commit()
        actor = Actor(nurse.id, "nurse", "127.0.0.1")
        data = generate(size)
        started, cpu_started = time.perf_counter(), time.process_time()
        table = read_table(data)
        mapping = {c.name: i for i, c in enumerate(COLUMNS)}
        read, cpu_read = time.perf_counter(), time.process_time()
        result = dry_run(db.session, actor, table, mapping, TODAY, datetime.now(UTC))
        assert result.ok, result.issues[:3]
        db.session.rollback()
        # The check page keeps its checked lines on disk and the import page reads them back: so does the bench.
        store, key = UploadStore(str(STORE), nurse.id), app.secret_key.encode()
        token = store.save(data, "bench.csv")
        store.keep_check(token, result.checked, key)
        checked, cpu_checked = time.perf_counter(), time.process_time()
        profiler = cProfile.Profile() if profile else None
        if profiler:
            profiler.enable()
        kept = store.kept_check(token, key)
        assert kept is not None
        job = ImportRun(db.session, actor, table, mapping, "bench.csv", TODAY, datetime.now(UTC), checked=kept)
        for _progress in job:
            pass
        store.finish(token, {})
        if profiler:
            profiler.disable()
            pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
        imported, cpu_imported = time.perf_counter(), time.process_time()
        again = ImportRun(db.session, actor, read_table(data), mapping, "bench.csv", TODAY, datetime.now(UTC))
        for _progress in again:
            pass
        reimported, cpu_reimported = time.perf_counter(), time.process_time()
        assert again.summary.unchanged == size, again.summary
        patients = db.session.scalar(select(func.count(Patient.id)))
        schedules = db.session.scalar(select(func.count()).select_from(RefillSchedule))
        audits = db.session.scalar(select(func.count(AuditEvent.id)))
        if kind == "postgres":
            db.session.execute(text("SELECT 1"))
        db.session.remove()
        db.engine.dispose()
    return {
        "database": kind,
        "rows": size,
        "megabytes": round(len(data) / 2**20, 1),
        "read_s": round(read - started, 2),
        "dry_run_s": round(checked - read, 2),
        "import_s": round(imported - checked, 2),
        "reimport_s": round(reimported - imported, 2),
        "patients": patients,
        "schedules": schedules,
        "audit_rows": audits,
        # This process's CPU seconds for the same steps: on a shared machine they move less than wall time (the
        # database server's own CPU is not in them).
        "cpu": [
            round(b - a, 2)
            for a, b in zip(
                (cpu_started, cpu_read, cpu_checked, cpu_imported),
                (cpu_read, cpu_checked, cpu_imported, cpu_reimported),
                strict=True,
            )
        ],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--databases", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--profile", action="store_true", help="print the import's cProfile (slow)")
    args = parser.parse_args()
    print(
        f"{'database':<9} {'rows':>6} {'MB':>5} {'read s':>7} {'dry run s':>10} {'import s':>9} "
        f"{'re-import s':>12} {'patients':>9} {'schedules':>10} {'audit rows':>11}  "
        "CPU s: read / dry run / import / re-import"
    )
    for kind in args.databases:
        for size in args.sizes:
            r = one(kind, size, args.profile)
            print(
                f"{r['database']:<9} {r['rows']:>6} {r['megabytes']:>5} {r['read_s']:>7} {r['dry_run_s']:>10} "
                f"{r['import_s']:>9} {r['reimport_s']:>12} {r['patients']:>9} {r['schedules']:>10} "
                f"{r['audit_rows']:>11}  {' / '.join(map(str, r['cpu']))}",
                flush=True,
            )


if __name__ == "__main__":
    main()
