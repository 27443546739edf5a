"""The E-mails page shows what each message said; the audit page reads as labelled values, not raw JSON (issue 19,
item 6)."""

import re

from markupsafe import escape
from sqlalchemy import select

from tests.support.factories import TODAY, make_patient, to_adjustment
from tests.web.test_digest import at, digest_config, options  # noqa: F401  (digest_config: a fixture)
from tests.web.test_stale_edit import edit_form
from tracker.models import AuditEvent, OutboxMessage
from tracker.services import digest as service


def test_an_admin_reads_each_e_mails_body_from_the_days_list_and_the_reading_is_audited(
    app,
    world,
    session,
    digest_config,  # noqa: F811
    as_role,
):
    patient = to_adjustment(session, world, make_patient(session, world))
    service.build_outbox(session, TODAY, at(TODAY, 7), options(app))
    message = session.scalar(select(OutboxMessage).where(OutboxMessage.to_address == "nurse@example.org"))
    assert patient.mrn in message.text_body and "\n" in message.text_body
    admin = as_role("admin")
    day = admin.get(f"/admin/digest/{TODAY.isoformat()}").get_data(as_text=True)
    assert f'href="/admin/digest/messages/{message.id}"' in day
    response = admin.get(f"/admin/digest/messages/{message.id}")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f'<pre class="email-body">{escape(message.text_body)}</pre>' in page
    assert "nurse@example.org" in page and escape(message.subject) in page
    row = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert (row.action, row.entity, row.entity_id, row.user_id) == (
        "view",
        "digest_message",
        message.id,
        world.users["admin"].id,
    )
    for role in ("nurse", "coordinator", "physician"):
        assert as_role(role).get(f"/admin/digest/messages/{message.id}").status_code == 403
    assert admin.get("/admin/digest/messages/999999").status_code == 404


def changes_cells(page: str) -> list[str]:
    """The "What changed" cells as text, one line per change joined by " | ", tags removed."""
    cells = re.findall(r'<ul class="changes">(.*?)</ul>', page, re.S)
    return [
        " | ".join(re.sub(r"<[^>]+>", "", item).strip() for item in re.findall(r"<li>(.*?)</li>", cell, re.S))
        for cell in cells
    ]


def test_the_audit_page_shows_changes_as_labels_and_values_with_names_not_ids(as_role, world, session):
    patient = make_patient(session, world, phone="555-0100", withdrawal_risk_reason="")
    buckhead = world.sites["Buckhead Clinic"]
    nurse = as_role("nurse")
    response = nurse.post(
        f"/patients/{patient.id}/edit",
        edit_form(
            patient,
            location_id=buckhead.id,
            phone="555-0199",
            withdrawal_risk=True,
            withdrawal_risk_reason="C6 injury\nlives alone",
        ),
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:400]
    admin = as_role("admin")
    admin.refresh_token(f"/admin/users/{world.users['coordinator'].id}/edit")
    user = world.users["coordinator"]
    admin.post(
        f"/admin/users/{user.id}/edit",
        {
            "email": user.email,
            "full_name": user.full_name,
            "role": "nurse",
            "location_id": str(buckhead.id),
            "version": str(user.version),
        },
    )
    page = admin.get("/admin/audit").get_data(as_text=True)
    cells = changes_cells(page)
    patient_edit = next(cell for cell in cells if "Phone:" in cell)
    assert "Clinic: Kennesaw Clinic → Buckhead Clinic" in patient_edit
    assert "Phone: 555-0100 → 555-0199" in patient_edit
    assert "High withdrawal risk: No → Yes" in patient_edit
    assert "Withdrawal risk reason: — → C6 injury\nlives alone" in patient_edit  # shown on two lines (CSS)
    account_edit = next(cell for cell in cells if "Role:" in cell)
    assert account_edit == "Role: Coordinator → Nurse | Home location: Kennesaw Clinic → Buckhead Clinic"
    assert "Account: Test Coordinator" in page and "Changed" in page
    created = next(cell for cell in cells if "MRN:" in cell)
    assert "Primary nurse: Test Nurse" in created and "Date of birth: 17 May 1970" in created
    for raw in ("{", "}", "\\n", "location_id", "nurse_id", '"phone"', "withdrawal_risk"):
        assert all(raw not in cell for cell in cells), raw
