"""`flask backup`: a consistent SQLite copy (VACUUM INTO) that restores by copying the file back; on PostgreSQL
the documented pg_dump command."""

import shutil

from sqlalchemy import select

from config import TestConfig
from tracker import create_app
from tracker.extensions import db
from tracker.models import Location


def sqlite_app(path):
    return create_app(TestConfig, SQLALCHEMY_DATABASE_URI=f"sqlite:///{path}")


def test_a_sqlite_backup_restored_by_copying_the_file_brings_the_data_back(tmp_path):
    live, backup = tmp_path / "tracker.sqlite3", tmp_path / "backup.sqlite3"
    app = sqlite_app(live)
    with app.app_context():
        db.create_all()
        db.session.add(Location(name="Kennesaw Clinic", kind="clinic"))
        db.session.commit()
        result = app.test_cli_runner().invoke(args=["backup", str(backup)])
        assert result.exit_code == 0, result.output
        assert "Backed up to" in result.output
        db.session.scalar(select(Location)).name = "Changed after the backup"
        db.session.add(Location(name="Added after the backup", kind="clinic"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    for leftover in (tmp_path / "tracker.sqlite3-wal", tmp_path / "tracker.sqlite3-shm"):
        leftover.unlink(missing_ok=True)
    shutil.copyfile(backup, live)
    with app.app_context():
        assert db.session.scalars(select(Location.name)).all() == ["Kennesaw Clinic"]
        again = app.test_cli_runner().invoke(args=["backup", str(backup)])  # never overwrites a backup
        assert again.exit_code != 0 and "Backup failed" in again.output
        db.session.remove()
        db.engine.dispose()


def test_on_postgresql_backup_prints_the_pg_dump_command_and_fails(tmp_path):
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://tracker:s3cret@db.internal/tracker")
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "tracker.dump")])
    assert result.exit_code == 2
    assert (
        f"pg_dump --format=custom --file {tmp_path / 'tracker.dump'} postgresql://tracker@db.internal/tracker"
        in result.output
    )
    assert "s3cret" not in result.output
