"""Device advisories through the app (issue 21, part 1): a notice entered from a serial range finds every affected
pump in use (explanted ones for the record), each patient's follow-up is on the worklist and in the e-mail until it
is recorded or the advisory closed, a pump entered later is caught at once, and the roles, audit, CSV and query
rules of the rest of the app hold."""

import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from tests.support.bulk import copy_patients
from tests.support.factories import TODAY, implant_details, implanted_days_ago
from tests.web.test_implant_dose import implant_form, in_trial
from tracker.formats import fmt_date
from tracker.models import Advisory, AdvisoryFollowUp, AuditEvent, Patient, PumpModel, RefillSchedule
from tracker.services.digest_contents import DigestOptions, contents
from tracker.services.pumps import implant_pump
from tracker.services.refills import current_pump
from tracker.statements import statements_run

SYNCHROMED = "SynchroMed II 20 mL"
PROMETRA = "Prometra II 20 mL"


def now() -> datetime:
    return datetime.now(UTC)


def model_id(session, name: str) -> int:
    return session.scalar(select(PumpModel.id).where(PumpModel.name == name))


def advisory_form(session, **changes) -> dict:
    form = {
        "title": "Motor stall: foreign particle",
        "source": "FDA Class I recall",
        "issued_on": "2026-11-02",
        "model_ids": [str(model_id(session, SYNCHROMED))],
        "serials": "NGP100000-NGP100500",
        "implanted_from": "",
        "implanted_to": "",
        "distributed_from": "",
        "distributed_to": "",
        "lots": "",
        "recommended_action": "Confirm the pump runs at the next visit; tell the patient the signs of underinfusion.",
        "follow_up": "call_within",
        "call_days": "7",
    }
    return form | changes


def with_serial(session, world, serial: str, model: str = SYNCHROMED, days: int = 2) -> Patient:
    return implanted_days_ago(session, world, days, serial=serial, model=model)


def create(client, session, **changes):
    return client.post("/advisories/new", advisory_form(session, **changes))


def the_advisory(session) -> Advisory:
    session.expire_all()
    return session.scalars(select(Advisory).order_by(Advisory.id.desc())).first()


def follow_ups(session, advisory_id: int) -> dict[str, AdvisoryFollowUp]:
    """The advisory's follow-ups by the patient's MRN."""
    session.expire_all()
    rows = session.scalars(select(AdvisoryFollowUp).where(AdvisoryFollowUp.advisory_id == advisory_id))
    return {f.patient.mrn: f for f in rows}


def work_row(client, patient) -> str | None:
    page = client.get("/worklist").get_data(as_text=True)
    found = re.search(rf'<article[^>]*id="p{patient.id}".*?</article>', page, re.S)
    return found.group(0) if found else None


def digest_text(app, session, role: str) -> str:
    mailed = contents(session, TODAY, now(), DigestOptions.from_config(app.config))
    return " ".join(c.text for user, c in mailed if user.role == role and c is not None)


def status_form(follow_up: AdvisoryFollowUp, status: str, notes: str = "", version: int | None = None) -> dict:
    return {"status": status, "notes": notes, "version": str(follow_up.version if version is None else version)}


def post_status(client, follow_up, status, notes="", version=None, **extra):
    url = f"/patients/{follow_up.patient_id}/advisory-follow-ups/{follow_up.id}"
    return client.post(url, status_form(follow_up, status, notes, version) | extra)


def audit(session, entity: str, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.entity == entity, AuditEvent.action == action).order_by(AuditEvent.id)
        )
    )


@pytest.fixture
def range_world(session, world):
    """Pumps around the range NGP100000-NGP100500: both ends, one past it, one of another model inside it, one
    explanted inside it (replaced by a pump outside it), one far away."""
    first = with_serial(session, world, "NGP100000")
    last = with_serial(session, world, "ngp 100500")  # entered in odd formatting
    past = with_serial(session, world, "NGP100501")
    other_model = with_serial(session, world, "NGP100200", model=PROMETRA)
    replaced = with_serial(session, world, "NGP100300", days=40)
    implant_pump(
        session,
        world.actor(),
        replaced,
        TODAY - timedelta(days=1),
        world.centre.id,
        implant_details(session, serial="NGP900000"),
    )
    session.commit()
    far = with_serial(session, world, "NGP555555")
    return {"first": first, "last": last, "past": past, "other_model": other_model, "replaced": replaced, "far": far}


def test_an_advisory_from_a_serial_range_catches_the_right_pumps_and_none_else_with_its_follow_up_on_the_worklist(
    app, as_role, session, range_world
):
    nurse, coordinator = as_role("nurse"), as_role("coordinator")
    response = create(nurse, session)
    assert response.status_code == 302, response.get_data(as_text=True)[-3000:]
    advisory = the_advisory(session)
    found = follow_ups(session, advisory.id)
    w = range_world
    assert set(found) == {w["first"].mrn, w["last"].mrn, w["replaced"].mrn}, "both ends in, the rest out"
    assert found[w["replaced"].mrn].status == "explanted" and found[w["first"].mrn].status == "not_reached"

    page = html.unescape(nurse.get(f"/advisories/{advisory.id}").get_data(as_text=True))
    in_use, explanted = page.split("Explanted pumps, for the record")
    assert w["first"].mrn in in_use and w["last"].mrn in in_use and w["replaced"].mrn not in in_use
    assert w["replaced"].mrn in explanted
    for other in ("past", "other_model", "far"):
        assert w[other].mrn not in page
    assert "reached 0 of 2" in page and "Test Nurse" in page and "Kennesaw Clinic" in page

    due = fmt_date(TODAY + timedelta(days=7))  # "call within 7 days" of today
    for key in ("first", "last"):
        row = work_row(coordinator, w[key])
        assert row is not None and f"Device advisory follow-up due {due}" in row
        assert "Advisory: Motor stall: foreign particle" in row
    for key in ("past", "other_model", "replaced", "far"):
        assert work_row(coordinator, w[key]) is None
    assert re.search(r"<b>2</b> Device advisory follow-up", coordinator.get("/worklist").get_data(as_text=True))


def test_recording_a_patient_reached_takes_them_off_the_worklist_and_email_audited(
    app, as_role, session, world, range_world
):
    nurse, coordinator = as_role("nurse"), as_role("coordinator")
    create(nurse, session, follow_up="inform_at_refill", call_days="")
    advisory = the_advisory(session)
    first = follow_ups(session, advisory.id)[range_world["first"].mrn]
    mail = digest_text(app, session, "nurse").split("DEVICE EVENTS AND ADVISORIES")[1][:1200]
    schedule = session.get(RefillSchedule, first.pump_id)
    assert f"MRN {first.patient.mrn} · Device advisory follow-up · due {fmt_date(schedule.due_date)}" in mail
    assert "Advisory: Motor stall: foreign particle" in mail

    response = post_status(coordinator, first, "informed", "Phoned; knows the signs")
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    assert work_row(coordinator, range_world["first"]) is None
    assert work_row(coordinator, range_world["last"]) is not None
    assert range_world["first"].mrn not in digest_text(app, session, "nurse").split("DEVICE EVENTS AND")[1][:1200]
    page = html.unescape(nurse.get(f"/advisories/{advisory.id}").get_data(as_text=True))
    assert "reached 1 of 2" in page and "Phoned; knows the signs" in page
    patient_page = html.unescape(nurse.get(f"/patients/{first.patient_id}").get_data(as_text=True))
    panel = patient_page.split('id="advisories"')[1].split("</section>")[0]
    assert "Motor stall: foreign particle" in panel and "Informed" in panel and "Test Coordinator" in panel

    (created,) = audit(session, "advisory", "create")
    assert created.after["serials_text"] == "NGP100000-NGP100500" and created.user_id == world.users["nurse"].id
    assert len(audit(session, "advisory_follow_up", "create")) == 3
    (updated,) = audit(session, "advisory_follow_up", "update")
    assert updated.patient_id == first.patient_id and updated.before["status"] == "not_reached"
    assert updated.after["status"] == "informed" and updated.after["status_by_id"] == world.users["coordinator"].id


def test_a_pump_explanted_after_the_advisory_moves_to_the_record_and_out_of_the_count(
    as_role, session, world, range_world
):
    nurse, coordinator = as_role("nurse"), as_role("coordinator")
    create(nurse, session)
    advisory = the_advisory(session)
    first = follow_ups(session, advisory.id)[range_world["first"].mrn]
    # The affected pump is replaced by one the advisory does not name: its patient is no longer one to reach.
    details = implant_details(session, serial="NGP777777")
    implant_pump(session, world.actor(), range_world["first"], TODAY, world.centre.id, details)
    session.commit()

    page = html.unescape(nurse.get(f"/advisories/{advisory.id}").get_data(as_text=True))
    in_use, explanted = page.split("Explanted pumps, for the record")
    assert range_world["first"].mrn in explanted and range_world["first"].mrn not in in_use
    assert "reached 0 of 1" in page and "2 explanted, for the record" in page
    assert "reached 0 of 1" in html.unescape(nurse.get("/advisories").get_data(as_text=True))
    assert work_row(coordinator, range_world["first"]) is None
    refused = post_status(coordinator, first, "informed", "Phoned")
    assert refused.status_code == 422 and "listed for the record only" in refused.get_data(as_text=True)


def refill_reminder(client, patient) -> str | None:
    page = html.unescape(client.get(f"/patients/{patient.id}/refill").get_data(as_text=True))
    found = re.search(r'<div class="flash warning" role="status" data-advisory="\d+">(.*?)</div>\s*</div>', page, re.S)
    return found.group(1) if found else None


def test_the_refill_form_asks_for_a_check_at_every_refill_until_action_is_taken(as_role, session, range_world):
    nurse, coordinator = as_role("nurse"), as_role("coordinator")
    create(nurse, session, follow_up="check_at_refill", call_days="")
    first = follow_ups(session, the_advisory(session).id)[range_world["first"].mrn]
    reminder = refill_reminder(nurse, range_world["first"])
    assert "Motor stall: foreign particle" in reminder and "Check the pump at every refill" in reminder
    assert "Not yet reached" in reminder and "asked again at the next refill" in reminder

    assert post_status(coordinator, first, "checked", "Motor runs; no alarm").status_code == 302
    assert work_row(coordinator, range_world["first"]) is None, "reached: off the worklist"
    reminder = refill_reminder(nurse, range_world["first"])
    assert "Checked (Test Coordinator" in reminder, "still asked at the next refill"

    session.refresh(first)
    assert post_status(coordinator, first, "action_taken", "Pump replacement booked").status_code == 302
    assert refill_reminder(nurse, range_world["first"]) is None
    assert refill_reminder(nurse, range_world["last"]) is not None, "another patient's check is still asked"


def test_the_refill_form_asks_to_inform_the_patient_until_they_are(as_role, session, range_world):
    nurse = as_role("nurse")
    create(nurse, session, follow_up="inform_at_refill", call_days="")
    first = follow_ups(session, the_advisory(session).id)[range_world["first"].mrn]
    reminder = refill_reminder(nurse, range_world["first"])
    assert "Inform the patient at the next refill" in reminder and "asked again" not in reminder
    assert post_status(nurse, first, "informed", "Told at the refill").status_code == 302
    assert refill_reminder(nurse, range_world["first"]) is None


def test_closing_the_advisory_takes_every_open_follow_up_off_the_worklist(as_role, session, range_world):
    nurse, coordinator = as_role("nurse"), as_role("coordinator")
    create(nurse, session)
    advisory = the_advisory(session)
    refused = nurse.post(f"/advisories/{advisory.id}/close", {"close_note": " ", "version": str(advisory.version)})
    assert refused.status_code == 422 and "Say why it is closed" in refused.get_data(as_text=True)
    response = nurse.post(
        f"/advisories/{advisory.id}/close", {"close_note": "Manufacturer withdrew it", "version": str(advisory.version)}
    )
    assert response.status_code == 302
    assert work_row(coordinator, range_world["first"]) is None and work_row(coordinator, range_world["last"]) is None
    (closed,) = audit(session, "advisory", "update")
    assert closed.after["close_note"] == "Manufacturer withdrew it"
    page = nurse.get(f"/advisories/{advisory.id}").get_data(as_text=True)
    assert "Closed" in page and 'class="inline-follow-up"' not in page


@pytest.mark.parametrize(
    ("serials", "words"),
    [
        ("NGP100500-NGP100000", "runs backwards"),
        ("NGP100001\nnot a serial", "Line 2"),
    ],
)
def test_bad_serial_input_is_refused_beside_the_field_keeping_what_was_typed(as_role, session, world, serials, words):
    response = create(as_role("nurse"), session, serials=serials)
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 422
    field = page.split('id="serials"')[1].split("</small>")[0]
    assert words in field
    assert serials in page and "Motor stall: foreign particle" in page, "what was typed is kept"
    assert session.scalar(select(func.count()).select_from(Advisory)) == 0


def test_an_advisory_that_names_nothing_or_lacks_its_call_days_is_refused(as_role, session, world):
    nurse = as_role("nurse")
    response = create(nurse, session, model_ids=[], serials="")
    assert response.status_code == 422 and "Say what the advisory affects" in response.get_data(as_text=True)
    response = create(nurse, session, call_days="")
    assert response.status_code == 422 and "within how many days" in response.get_data(as_text=True)


def test_an_uploaded_manufacturer_list_is_matched_like_a_pasted_one(as_role, session, world):
    listed = with_serial(session, world, "NGP200010")
    not_listed = with_serial(session, world, "NGP200011")
    upload = (io.BytesIO(b"Model,Serial Number\r\n8637-20,ngp 0200010\r\n"), "recall.csv")
    client = as_role("nurse")
    data = advisory_form(session, serials="", serial_file=upload, csrf_token=client.token)
    with client.app.app_context():
        response = client.http.post("/advisories/new", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    found = follow_ups(session, the_advisory(session).id)
    assert set(found) == {listed.mrn} and not_listed.mrn not in found


def test_a_follow_up_saved_in_another_tab_is_refused_with_409(as_role, session, range_world):
    nurse, coordinator = as_role("nurse"), as_role("coordinator")
    create(nurse, session)
    first = follow_ups(session, the_advisory(session).id)[range_world["first"].mrn]
    opened = first.version
    assert post_status(nurse, first, "informed", "Told at clinic").status_code == 302
    response = post_status(coordinator, first, "checked", "Pump interrogated", version=opened)
    assert response.status_code == 409
    assert "Informed" in html.unescape(response.get_data(as_text=True))
    session.expire_all()
    assert session.get(AdvisoryFollowUp, first.id).notes == "Told at clinic"
    page = html.unescape(response.get_data(as_text=True))
    assert "Pump interrogated" in page, "what was typed is kept"
    saved = session.get(AdvisoryFollowUp, first.id).version
    assert f'name="version" type="hidden" value="{saved}"' in page, "a second save, over theirs, is deliberate"


def test_a_closed_advisorys_follow_ups_are_kept_as_they_were(as_role, session, range_world):
    nurse = as_role("nurse")
    create(nurse, session)
    advisory = the_advisory(session)
    first = follow_ups(session, advisory.id)[range_world["first"].mrn]
    nurse.post(f"/advisories/{advisory.id}/close", {"close_note": "done", "version": str(advisory.version)})
    response = post_status(nurse, first, "informed", "late call")
    assert response.status_code == 422 and "This advisory is closed" in response.get_data(as_text=True)
    assert follow_ups(session, advisory.id)[range_world["first"].mrn].status == "not_reached"


def test_action_taken_needs_what_was_done(as_role, session, range_world):
    nurse = as_role("nurse")
    create(nurse, session)
    first = follow_ups(session, the_advisory(session).id)[range_world["first"].mrn]
    response = post_status(nurse, first, "action_taken", "")
    assert response.status_code == 422 and "Say what action was taken" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("role", "creates", "records"),
    [
        ("nurse", True, True),
        ("physician", True, True),
        ("admin", True, False),
        ("coordinator", False, True),
    ],
)
def test_who_enters_advisories_and_who_records_follow_ups(as_role, session, world, range_world, role, creates, records):
    client = as_role(role)
    response = create(client, session)
    assert (response.status_code == 302) is creates and (response.status_code == 403) is not creates
    if not creates:
        create(as_role("nurse"), session)
    first = follow_ups(session, the_advisory(session).id)[range_world["first"].mrn]
    response = post_status(client, first, "informed", "ok")
    assert (response.status_code == 302) is records and (response.status_code == 403) is not records


def test_a_pump_implanted_later_that_an_open_advisory_affects_is_flagged_at_once(as_role, session, world):
    nurse = as_role("nurse")
    create(nurse, session, serials="NGP777")  # implant_form's serial
    advisory = the_advisory(session)
    assert follow_ups(session, advisory.id) == {}
    patient = in_trial(session, world)
    response = nurse.post(f"/patients/{patient.id}/move", implant_form(session, world, patient, "100"))
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    page = html.unescape(nurse.get(response.headers["Location"]).get_data(as_text=True))
    assert "affected by the open advisory “Motor stall: foreign particle”" in page
    found = follow_ups(session, advisory.id)
    assert (
        found[patient.mrn].status == "not_reached"
        and found[patient.mrn].pump_id == current_pump(session, patient.id).id
    )
    assert work_row(as_role("coordinator"), patient) is not None
    # A closed advisory catches nothing more.
    nurse.post(
        f"/advisories/{advisory.id}/close", {"close_note": "done", "version": str(the_advisory(session).version)}
    )
    later = in_trial(session, world)
    nurse.post(f"/patients/{later.id}/move", implant_form(session, world, later, "100"))
    assert later.mrn not in follow_ups(session, advisory.id)


def test_an_imported_pump_that_an_open_advisory_affects_is_flagged_at_once(app, as_role, session, world, tmp_path):
    from tests.web import test_import as imp

    app.instance_path = str(tmp_path)  # uploads are kept under the instance folder: this test's own
    nurse = as_role("nurse")
    create(nurse, session, model_ids=[], serials="NGP000001-NGP000009")  # the import's rows: NGP000001, NGP000002 ...
    token, _ = imp.check(nurse, imp.csv_bytes([imp.row(1), imp.row(2), imp.row(12)]))
    response = imp.run(nurse, token)
    assert response.status_code in (200, 302), response.get_data(as_text=True)[-2000:]
    found = follow_ups(session, the_advisory(session).id)
    assert set(found) == {"IMP000001", "IMP000002"}
    assert all(f.status == "not_reached" for f in found.values())
    done = html.unescape(nurse.get(f"/import/done?token={token}").get_data(as_text=True))
    assert "2 pumps just entered are affected by the open advisory" in done, "said with the import's summary"


def test_the_csv_names_patients_for_clinical_staff_and_gives_admins_mrns_only(as_role, session, world, range_world):
    create(as_role("nurse"), session)
    advisory = the_advisory(session)
    first = range_world["first"]
    nurse_csv = as_role("nurse").get(f"/advisories/{advisory.id}/export.csv").get_data(as_text=True)
    admin_csv = as_role("admin").get(f"/advisories/{advisory.id}/export.csv").get_data(as_text=True)
    assert first.mrn in nurse_csv and first.last_name in nurse_csv and "Last name" in nurse_csv
    assert first.mrn in admin_csv and first.last_name not in admin_csv and "Last name" not in admin_csv
    assert len(admin_csv.strip().splitlines()) == 4  # header, two in use, one explanted
    reads = audit(session, "advisory", "export")
    assert [r.after["names"] for r in reads] == [True, False] and reads[0].after["rows"] == 3


def test_the_advisory_page_and_worklist_read_in_the_same_number_of_queries_for_3_and_30_patients(
    app, as_role, session, world
):
    from tracker.extensions import db

    for n in range(3):
        with_serial(session, world, f"NGP10010{n}")
    nurse = as_role("nurse")
    create(nurse, session)
    advisory = the_advisory(session)

    def counts() -> dict[str, int]:
        seen = {}
        for url in (f"/advisories/{advisory.id}", "/worklist", "/advisories"):
            with app.app_context():
                engine = db.engine
            with statements_run(engine) as statements:
                assert nurse.get(url).status_code == 200
            seen[url] = len(statements)
        return seen

    small = counts()
    copy_patients(session, sorted(session.scalars(select(Patient.id))), 9)
    session.commit()
    assert session.scalar(select(func.count()).select_from(AdvisoryFollowUp)) == 30
    page = nurse.get(f"/advisories/{advisory.id}").get_data(as_text=True)
    assert page.count('class="inline-follow-up"') == 30 and "reached 0 of 30" in page
    assert counts() == small
