"""The audit trail: append-only in the database itself, and the admin's page with filters and CSV export."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import DatabaseError

from tests.support.factories import make_patient
from tracker.models import AuditEvent


@pytest.mark.parametrize("change", ["update", "delete"])
def test_the_database_refuses_to_change_or_remove_an_audit_row(world, session, change):
    make_patient(session, world)
    count = len(session.scalars(select(AuditEvent)).all())
    assert count >= 1
    statement = update(AuditEvent).values(action="tampered") if change == "update" else delete(AuditEvent)
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(statement)
        session.flush()
    session.rollback()
    assert len(session.scalars(select(AuditEvent).where(AuditEvent.action != "tampered")).all()) == count


@pytest.mark.parametrize(
    "attempt", ["SET LOCAL tracker.audit_purge = 'on'", "TRUNCATE audit_event", "TRUNCATE audit_event CASCADE"]
)
def test_no_switch_or_truncate_erases_the_audit_trail(world, session, attempt):
    """Issue 18: migration 0005 let `SET LOCAL tracker.audit_purge = 'on'` delete every audit row with the app's
    own login, and TRUNCATE was not guarded at all. PostgreSQL only: SQLite has neither settings nor TRUNCATE."""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's purge switch and TRUNCATE; SQLite has neither (its DELETE guard is tested above)")
    make_patient(session, world)
    count = session.scalar(select(func.count(AuditEvent.id)))
    with pytest.raises(DatabaseError, match="append-only"):
        session.execute(text(attempt))
        if attempt.startswith("SET"):
            session.execute(delete(AuditEvent))
        session.flush()
    session.rollback()
    assert session.scalar(select(func.count(AuditEvent.id))) == count >= 1


def export(admin, **filters) -> list[dict]:
    response = admin.get("/admin/audit/export.csv", query_string=filters)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def old_event(session, world, days_ago: int, **values) -> None:
    session.add(
        AuditEvent(
            at=datetime.now(UTC) - timedelta(days=days_ago),
            user_id=world.users["nurse"].id,
            client_address="10.0.0.9",
            action="view",
            entity="patient",
            **values,
        )
    )
    session.commit()


def test_admin_filters_the_audit_trail_by_patient_mrn_or_id(as_role, world, session):
    first = make_patient(session, world, mrn="AUD001")
    second = make_patient(session, world, mrn="AUD002")
    admin = as_role("admin")
    by_mrn = export(admin, patient="AUD001")
    assert by_mrn and {row["MRN"] for row in by_mrn} == {"AUD001"}
    assert {row["patient id"] for row in export(admin, patient=str(second.id))} == {str(second.id)}
    assert export(admin, patient="NO-SUCH-MRN") == []
    page = admin.get("/admin/audit", query_string={"patient": "AUD001"}).get_data(as_text=True)
    assert f'patients/{first.id}">AUD001</a>' in page and "AUD002" not in page


def test_admin_filters_the_audit_trail_by_user_and_date(as_role, world, session):
    make_patient(session, world)  # recorded for the nurse, today
    old_event(session, world, days_ago=40, entity_id=7)
    admin = as_role("admin")
    nurse_id = str(world.users["nurse"].id)
    recent = export(admin, user=nurse_id)
    assert recent and {row["user id"] for row in recent} == {nurse_id}
    assert "7" not in {row["entity id"] for row in recent}  # older than the default 30 days
    earlier = (datetime.now(UTC) - timedelta(days=45)).date().isoformat()
    then = (datetime.now(UTC) - timedelta(days=35)).date().isoformat()
    rows = export(admin, user=nurse_id, **{"from": earlier, "to": then})
    assert [row["entity id"] for row in rows] == ["7"]
    assert export(admin, user=str(world.users["physician"].id)) == []


def test_the_audit_page_is_paginated(as_role, world, session, app, monkeypatch):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 2)
    for n in range(5):
        old_event(session, world, days_ago=1, entity_id=900 + n)
    admin = as_role("admin")
    first = admin.get("/admin/audit").get_data(as_text=True)
    assert "Page 1 of 3" in first and "Patient #904" in first and "Patient #900" not in first
    last = admin.get("/admin/audit", query_string={"page": 3}).get_data(as_text=True)
    assert "Patient #900" in last and "Patient #904" not in last


def test_the_csv_export_keeps_before_and_after_and_defuses_formulas(as_role, world, session):
    old_event(session, world, days_ago=0, entity_id=1, before={"note": "=HYPERLINK(1)"}, after={"note": "ok"})
    rows = export(as_role("admin"), user=str(world.users["nurse"].id))
    row = next(r for r in rows if r["entity id"] == "1")
    assert row["client address"] == "10.0.0.9" and row["action"] == "view"
    assert row["before"].startswith('{"note": "=HYPERLINK') and row["after"] == '{"note": "ok"}'
    hostile = export(as_role("admin"), patient="=1+2")
    assert hostile == []
