"""Issue 18, item 6: bulk reads are audited. Before, a full export of every patient's name, the calendar's JSON,
the emergency summary and the edit page left no trace; now each leaves one row saying who, what, with which
filters and how many rows, without copying any patient data into the trail."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from tests.support.factories import TODAY, implanted_days_ago, make_patient
from tracker.models import AuditEvent


def last_audit(session) -> AuditEvent:
    session.expire_all()
    return session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()


def test_every_bulk_read_leaves_one_audit_row_with_filters_and_row_count(world, session, as_role):
    patient = implanted_days_ago(session, world, 20)
    make_patient(session, world, last_name="Quillfeather")
    physician, admin = as_role("physician"), as_role("admin")
    start, end = TODAY.isoformat(), (TODAY + timedelta(days=27)).isoformat()
    reads = [
        (physician, "/patients/export.csv?q=Quillfeather&stage=", "export", "patient_list", None),
        (physician, "/worklist/export.csv", "export", "worklist", None),
        (physician, f"/calendar/export.csv?start={start}&end={end}", "export", "calendar", None),
        (physician, f"/calendar/events.json?start={start}&end={end}", "view", "calendar_events", None),
        (physician, f"/patients/{patient.id}/emergency", "view", "emergency_summary", patient.id),
        (physician, f"/patients/{patient.id}/edit", "view", "patient_edit_form", patient.id),
        (admin, "/admin/audit/export.csv", "export", "audit_trail", None),
    ]
    for client, url, action, entity, patient_id in reads:
        before = session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1))
        response = client.get(url)
        assert response.status_code == 200, url
        row = last_audit(session)
        assert row.id != before, f"{url} left no audit row"
        assert (row.action, row.entity, row.patient_id) == (action, entity, patient_id), url
        assert row.user_id == (world.users["admin"] if client is admin else world.users["physician"]).id
        assert isinstance(row.after["rows"], int) or patient_id is not None or entity == "calendar_events"
    exported = session.scalars(select(AuditEvent).where(AuditEvent.entity == "patient_list")).one()
    # The filters are kept, the search text is not: it may be a name.
    assert exported.after["filters"] == {"q": "(search text)", "stage": ""}
    assert exported.after["rows"] == 1 and exported.after["names"] is True
    assert "Quillfeather" not in str(exported.after)
