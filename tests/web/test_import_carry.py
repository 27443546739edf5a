"""The import carries its check page's checked lines (issue 20) instead of checking every line again: what it
may trust (the lines, signed by this app), and what it checks again because the database or the clock may have
moved since the check (the patients here, the names and settings, the booked refills)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from tests.support.clock import NOW_UTC, TODAY
from tests.web.test_import import HEADER, check, csv_bytes, row, run
from tracker.clinical.import_rows import CheckedFile
from tracker.imports.csv_file import read_table
from tracker.imports.storage import UploadStore
from tracker.models import Location, Patient
from tracker.services.import_plan import dry_run
from tracker.services.import_write import ImportRefused, ImportRun

MAPPING = {name: index for index, name in enumerate(HEADER)}


@pytest.fixture(autouse=True)
def uploads_in_tmp(app, tmp_path, monkeypatch):
    monkeypatch.setattr(app, "instance_path", str(tmp_path))


@pytest.fixture
def nurse(as_role):
    return as_role("nurse")


def kept(app, world, token: str, key: bytes | None = None) -> tuple[UploadStore, CheckedFile | None]:
    store = UploadStore(app.instance_path, world.users["nurse"].id)
    return store, store.kept_check(token, key or app.secret_key.encode())


def test_the_import_writes_the_lines_its_check_page_checked_without_reading_them_again(app, session, world, nurse):
    token, page = check(nurse, csv_bytes([row(1)]))
    assert page.status_code == 200
    store, checked = kept(app, world, token)
    assert [r.mrn for r in checked.rows] == ["IMP000001"]
    checked.rows[0].first_name = "Checked"  # what the check page checked is what the import writes
    store.keep_check(token, checked, app.secret_key.encode())
    assert run(nurse, token).status_code == 302
    assert session.scalar(select(Patient.first_name)) == "Checked"
    assert kept(app, world, token)[1] is None  # gone with the file once imported


def test_a_kept_check_not_signed_by_this_app_is_ignored(app, session, world, nurse):
    token, _ = check(nurse, csv_bytes([row(1)]))
    store, checked = kept(app, world, token)
    checked.rows[0].first_name = "Forged"
    store.keep_check(token, checked, b"another key")
    assert kept(app, world, token)[1] is None
    run(nurse, token)
    assert session.scalar(select(Patient.first_name)) == "Rosa"  # the file's, checked again


def test_a_location_renamed_between_check_and_import_refuses_the_import(app, session, world, nurse):
    token, page = check(nurse, csv_bytes([row(1)]))
    assert page.status_code == 200
    session.get(Location, world.clinic.id).name = "Kennesaw North Clinic"
    session.commit()
    response = run(nurse, token)
    assert "/import/check" in response.headers["Location"]
    assert session.scalar(select(func.count(Patient.id))) == 0
    assert "Kennesaw Clinic" in nurse.get(f"/import/check?token={token}").get_data(as_text=True)


def test_a_patient_imported_between_check_and_import_is_compared_not_created_twice(app, session, world, nurse):
    data = csv_bytes([row(1), row(2)])
    first, _ = check(nurse, data)
    second, _ = check(nurse, data)
    run(nurse, first)
    assert run(nurse, second).status_code == 302
    assert session.scalar(select(func.count(Patient.id))) == 2
    summary = UploadStore(app.instance_path, world.users["nurse"].id).result(second)
    assert (summary["created"], summary["unchanged"]) == (0, 2)


def test_a_booked_refill_that_passed_since_the_check_refuses_the_import(session, world):
    # Booked for 10:30 today: bookable at the check (10:00), in the past an hour later.
    table = read_table(csv_bytes([row(1, next_refill_date=TODAY.isoformat(), next_refill_time="10:30")]))
    actor = world.actor("nurse")
    dry = dry_run(session, actor, table, MAPPING, TODAY, NOW_UTC)
    session.rollback()
    assert dry.ok, dry.issues
    later = NOW_UTC + timedelta(hours=1)
    with pytest.raises(ImportRefused) as refused:
        list(ImportRun(session, actor, table, MAPPING, "f.csv", TODAY, later, checked=dry.checked))
    assert [i.message for i in refused.value.issues] == ["The next booked refill must be in the future."]
    assert session.scalar(select(func.count(Patient.id))) == 0
