"""Device events through the app (issue 17, item 9): an MRI on a Prometra empties the pump until its refill, on a
SynchroMed it opens a post-scan pump check; a catheter revision or suspected occlusion opens a physician's review.
Each is on the patient's timeline, and its work on the worklist, calendar, physicians' queue and e-mail until done."""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.factories import CLINIC_ZONE, TODAY, implant_details, implanted_days_ago
from tracker.clinic_zone import local_date
from tracker.clinical import pump_events as ev
from tracker.formats import fmt_date
from tracker.models import AuditEvent, PumpEvent, PumpModel, RefillSchedule, Setting
from tracker.services import PermissionDenied, StaleEdit
from tracker.services.calendar import calendar_events
from tracker.services.digest_contents import DigestOptions, contents
from tracker.services.pump_events import EventEntry, record_done, record_event
from tracker.services.pumps import implant_pump
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import current_pump
from tracker.services.settings import risk_windows
from tracker.services.worklist import refill_rows
from tracker.statements import statements_run

PROMETRA = "Prometra II 20 mL"


def now() -> datetime:
    return datetime.now(UTC)


def typed(when: datetime) -> str:
    """A datetime-local form value: the clinic's wall clock, to the minute."""
    return when.astimezone(CLINIC_ZONE).strftime("%Y-%m-%dT%H:%M")


def event_form(pump, kind: str, when: datetime | None = None, **extra) -> dict:
    return {
        "kind": kind,
        "occurred_at": typed(when or now() - timedelta(hours=1)),
        "volume_removed_ml": "",
        "notes": "",
        "pump_id": str(pump.id),
    } | extra


def fresh(session, patient):
    session.expire_all()
    return current_pump(session, patient.id)


def schedule_of(session, patient) -> RefillSchedule:
    session.expire_all()
    return session.get(RefillSchedule, current_pump(session, patient.id).id)


def events_of(session, patient) -> list[PumpEvent]:
    session.expire_all()
    return list(session.scalars(select(PumpEvent).where(PumpEvent.patient_id == patient.id).order_by(PumpEvent.id)))


def work_row(client, patient) -> str | None:
    """The patient's row on the worklist page, or None."""
    page = client.get("/worklist").get_data(as_text=True)
    found = re.search(rf'<article[^>]*id="p{patient.id}".*?</article>', page, re.S)
    return found.group(0) if found else None


def refill_now(session, world, patient) -> None:
    record_refill(
        session,
        world.actor("nurse"),
        current_pump(session, patient.id).id,
        RefillEntry(
            visit_at=now() - timedelta(minutes=1),
            expected_residual_ml=Decimal(0),
            actual_residual_ml=Decimal(0),
            concentration_mcg_per_ml=500,
            volume_added_ml=Decimal(20),
            resulting_volume_ml=Decimal(20),
        ),
        True,
        now(),
    )


def audit_rows(session, action: str) -> list[AuditEvent]:
    session.expire_all()
    return list(
        session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity == "pump_event", AuditEvent.action == action)
            .order_by(AuditEvent.id)
        )
    )


def digest_text(app, session, role: str) -> str:
    mailed = contents(session, TODAY, now(), DigestOptions.from_config(app.config))
    return " ".join(c.text for user, c in mailed if user.role == role and c is not None)


# -- Prometra: emptied before the scan, empty until the refill ----------------------------------------------------


def test_a_prometra_mri_shows_the_pump_empty_everywhere_until_its_refill(app, as_role, world, session):
    patient = implanted_days_ago(session, world, 2, model=PROMETRA)  # due in 19 days: on no list
    pump = fresh(session, patient)
    coordinator, nurse = as_role("coordinator"), as_role("nurse")
    assert work_row(coordinator, patient) is None
    emptied_at = now() - timedelta(hours=1)

    response = nurse.post(
        f"/patients/{patient.id}/pump-events/new",
        event_form(pump, ev.MRI, emptied_at, volume_removed_ml="14.5", notes="Before a brain MRI"),
    )

    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    assert "the pump is emptied, so it shows as empty everywhere" in nurse.get(response.location).get_data(as_text=True)
    day = local_date(emptied_at.replace(second=0, microsecond=0))
    s = schedule_of(session, patient)
    assert (s.binding_rule, s.volume_after_fill_ml, s.due_date, s.alarm_date, s.empty_date) == (
        ev.EMPTIED,
        0,
        day,
        day,
        day,
    )
    row = work_row(coordinator, patient)
    assert row is not None and 'data-urgency="empty"' in row
    assert "Pump projected empty" in row and f"Emptied before an MRI on {day.day} {day:%b %Y}" in row
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert 'class="risk-banner tone-red"' in page and "Pump projected empty" in page
    assert "Emptied before an MRI" in page and '0 mL <span class="muted">of 20' in page
    assert "MRI scan" in page and "pump emptied" in page and "14.5 mL removed" in page
    calendar = calendar_events(session, TODAY, TODAY, TODAY, now())
    assert any(e.kind == "action" and e.fact.patient_id == patient.id and e.urgency == "empty" for e in calendar)
    assert f"MRN {patient.mrn}" in digest_text(app, session, "nurse").split("PUMPS PROJECTED EMPTY (1)")[1][:300]

    refill_now(session, world, patient)

    assert schedule_of(session, patient).binding_rule != ev.EMPTIED
    assert work_row(coordinator, patient) is None
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "risk-banner" not in page and "Emptied before an MRI on" not in page


def test_an_mri_dated_before_the_last_refill_leaves_the_pump_full(world, session):
    patient = implanted_days_ago(session, world, 2, model=PROMETRA)
    refill_now(session, world, patient)  # a refill a minute ago
    record_event(session, world.actor(), patient.id, None, EventEntry(ev.MRI, now() - timedelta(hours=3)), now())
    s = schedule_of(session, patient)
    assert s.binding_rule != ev.EMPTIED and s.volume_after_fill_ml == 20  # that refill came after the emptying


# -- SynchroMed: a post-scan pump check until recorded done -------------------------------------------------------


def test_a_synchromed_mri_puts_a_pump_check_on_the_worklist_until_it_is_recorded_done(app, as_role, world, session):
    patient = implanted_days_ago(session, world, 2)  # SynchroMed II 20 mL, due in 21 days
    pump = fresh(session, patient)
    before = schedule_of(session, patient).due_date
    coordinator, nurse = as_role("coordinator"), as_role("nurse")

    response = nurse.post(f"/patients/{patient.id}/pump-events/new", event_form(pump, ev.MRI))

    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    (event,) = events_of(session, patient)
    assert (event.work, event.work_due_on, event.empties_pump) == (ev.PUMP_CHECK, local_date(event.occurred_at), False)
    assert schedule_of(session, patient).due_date == before, "the refill dates do not move"
    row = work_row(coordinator, patient)
    assert row is not None and "Post-MRI pump check" in row and f"due {fmt_date(event.work_due_on)}" in row
    # The refill is fine: the row is there for the check, in the check's colour, and says so first.
    colour = "overdue" if event.work_due_on < TODAY else "due_soon"
    assert f'data-urgency="{colour}"' in row and re.search(r'<div class="days">\s*<b[^>]*>Post-MRI pump check</b>', row)
    assert re.search(r"<b>1</b> Post-MRI pump check", coordinator.get("/worklist").get_data(as_text=True))
    exported = coordinator.get("/worklist/export.csv").get_data(as_text=True)
    assert patient.mrn in exported and "Post-MRI pump check" in exported
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert 'data-work="post_mri_check"' in page and "Interrogate the pump" in page and "Record the check" in page
    action = [
        e
        for e in calendar_events(session, TODAY, TODAY, TODAY, now())
        if e.kind == "action" and e.fact.patient_id == patient.id
    ]
    assert len(action) == 1 and action[0].label == "Post-MRI pump check" and action[0].urgency == colour
    assert "Post-MRI pump check" in digest_text(app, session, "nurse").split("DEVICE EVENTS")[1][:400]

    url = f"/patients/{patient.id}/pump-events/{event.id}/check"
    refused = nurse.post(url, {"note": "  ", "version": str(event.version)})
    assert refused.status_code == 422 and "Say what was found" in refused.get_data(as_text=True)
    assert work_row(coordinator, patient) is not None
    response = nurse.post(url, {"note": "Interrogated: motor running, programme intact", "version": str(event.version)})

    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    assert work_row(coordinator, patient) is None
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Post-MRI pump check done" in page and "motor running, programme intact" in page
    assert 'data-work="post_mri_check"' not in page
    (audit,) = audit_rows(session, "update")
    assert audit.before == {"done_at": None, "done_by_id": None, "done_note": ""}
    assert audit.after["done_by_id"] == world.users["nurse"].id and audit.patient_id == patient.id


def test_an_overdue_check_comes_before_a_refill_due_soon_and_the_setting_moves_its_date(world, session):
    due_soon = implanted_days_ago(session, world, 20)  # due in 3 days, not booked
    scanned = implanted_days_ago(session, world, 5)  # due in 18 days
    record_event(session, world.actor(), scanned.id, None, EventEntry(ev.MRI, now() - timedelta(days=2)), now())
    windows = risk_windows(session)
    rows = [r for r in refill_rows(session, TODAY, now(), windows, needing_action=True) if r.reasons]
    ranked = sorted(rows, key=lambda r: r.judgement.rank)
    assert [r.patient.id for r in ranked] == [scanned.id, due_soon.id], "due two days ago: overdue"
    assert ranked[0].judgement.work[0].overdue(TODAY)

    session.add(Setting(name="mri_pump_check_days", value="3"))
    session.commit()
    later = implanted_days_ago(session, world, 5)
    record_event(session, world.actor(), later.id, None, EventEntry(ev.MRI, now() - timedelta(hours=1)), now())
    (event,) = events_of(session, later)
    assert event.work_due_on == local_date(event.occurred_at) + timedelta(days=3)


# -- catheter events ----------------------------------------------------------------------------------------------


def test_a_suspected_occlusion_waits_for_a_physicians_review_and_only_a_physician_records_it(as_role, world, session):
    patient = implanted_days_ago(session, world, 2)
    pump = fresh(session, patient)
    nurse, physician, coordinator = as_role("nurse"), as_role("physician"), as_role("coordinator")
    response = nurse.post(
        f"/patients/{patient.id}/pump-events/new",
        event_form(pump, ev.SUSPECTED_OCCLUSION, notes="Spasticity back over 2 days; residual as expected"),
    )
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    (event,) = events_of(session, patient)
    assert (event.work, event.work_due_on) == (ev.PHYSICIAN_REVIEW, local_date(event.occurred_at))
    row = work_row(coordinator, patient)
    assert row is not None and "Catheter event: physician review" in row
    queue = physician.get("/queue").get_data(as_text=True)
    assert patient.mrn in queue and "Record the review" in queue
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "a physician records it" in page and "Record the review" not in page

    url = f"/patients/{patient.id}/pump-events/{event.id}/review"
    assert nurse.post(url, {"note": "looks fine", "version": str(event.version)}).status_code == 403
    assert nurse.get(f"/patients/{patient.id}/pump-events/{event.id}/check").status_code == 404  # not a check
    with pytest.raises(PermissionDenied):
        record_done(
            session, world.actor("nurse"), patient.id, event.id, ev.PHYSICIAN_REVIEW, "fine", event.version, now()
        )
    assert events_of(session, patient)[0].done_at is None and work_row(coordinator, patient) is not None

    response = physician.post(url, {"note": "Dye study booked; oral baclofen meanwhile", "version": str(event.version)})
    assert response.status_code == 302, response.get_data(as_text=True)[-2000:]
    assert work_row(coordinator, patient) is None
    assert patient.mrn not in physician.get("/queue").get_data(as_text=True)


def test_every_kind_is_on_the_timeline_and_only_revision_and_occlusion_make_catheter_work(as_role, world, session):
    patient = implanted_days_ago(session, world, 2)
    nurse = as_role("nurse")
    kinds = [ev.PORT_ASPIRATION, ev.DYE_STUDY, ev.CATHETER_REVISION, ev.SUSPECTED_OCCLUSION, ev.MRI]
    for n, kind in enumerate(kinds):
        response = nurse.post(
            f"/patients/{patient.id}/pump-events/new",
            event_form(fresh(session, patient), kind, now() - timedelta(hours=5 - n)),
        )
        assert response.status_code == 302, (kind, response.get_data(as_text=True)[-2000:])
    page = nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    timeline = page.split('id="device-events"')[1]
    assert [kind for kind in re.findall(r'data-kind="(\w+)"', timeline)] == list(reversed(kinds)), "newest first"
    for label in ev.KINDS.values():
        assert label in timeline
    assert {e.kind: e.work for e in events_of(session, patient)} == {
        ev.PORT_ASPIRATION: None,
        ev.DYE_STUDY: None,
        ev.CATHETER_REVISION: ev.PHYSICIAN_REVIEW,
        ev.SUSPECTED_OCCLUSION: ev.PHYSICIAN_REVIEW,
        ev.MRI: ev.PUMP_CHECK,
    }
    created = audit_rows(session, "create")
    assert [a.after["kind"] for a in created] == kinds
    assert all(a.user_id == world.users["nurse"].id and a.patient_id == patient.id for a in created)


# -- the form: nothing pre-selected, bad input, stale forms, roles -------------------------------------------------


def test_the_form_chooses_nothing_and_explains_what_an_mri_means_for_this_pump(as_role, world, session):
    patient = implanted_days_ago(session, world, 2, model=PROMETRA)
    page = as_role("nurse").get(f"/patients/{patient.id}/pump-events/new").get_data(as_text=True)
    select_html = re.search(r'<select[^>]*name="kind".*?</select>', page, re.S).group(0)
    assert "selected" not in select_html.replace('<option selected value="">', "")
    assert "shows as <b>empty</b> on every screen until its refill is recorded" in page


BAD = [
    ("no kind", {"kind": ""}, "kind", "Choose what happened."),
    (
        "in the future",
        {"occurred_at": typed(datetime.now(UTC) + timedelta(hours=2))},
        "occurred_at",
        "cannot be in the future",
    ),
    (
        "before the implant",
        {"occurred_at": typed(datetime.now(UTC) - timedelta(days=30))},
        "occurred_at",
        "before this pump was implanted",
    ),
    ("more than the reservoir", {"volume_removed_ml": "25"}, "volume_removed_ml", "0 to the 20 mL reservoir"),
    ("not a number", {"volume_removed_ml": "lots"}, "volume_removed_ml", "Not a valid decimal value"),
]


@pytest.mark.parametrize("case, changes, field, message", BAD, ids=[c[0] for c in BAD])
def test_bad_input_is_refused_beside_its_field_keeping_what_was_typed(
    as_role, world, session, case, changes, field, message
):
    patient = implanted_days_ago(session, world, 2)
    form = event_form(fresh(session, patient), ev.DYE_STUDY, notes="Typed by the nurse") | changes
    response = as_role("nurse").post(f"/patients/{patient.id}/pump-events/new", form)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert f'id="{field}-error"' in page and message in page
    assert "Typed by the nurse" in page
    assert events_of(session, patient) == [] and audit_rows(session, "create") == []


def test_an_mri_on_a_model_whose_mri_rule_is_not_set_is_refused_until_the_catalogue_says(as_role, world, session):
    patient = implanted_days_ago(session, world, 2)
    model = session.scalar(select(PumpModel).where(PumpModel.name == "SynchroMed II 20 mL"))
    model.mri_rule = None
    session.commit()
    response = as_role("nurse").post(
        f"/patients/{patient.id}/pump-events/new", event_form(fresh(session, patient), ev.MRI)
    )
    assert response.status_code == 422
    assert "does not say what an MRI means for a SynchroMed II 20 mL" in response.get_data(as_text=True)
    assert events_of(session, patient) == []


def test_a_form_opened_before_a_pump_replacement_or_saved_twice_saves_nothing(as_role, world, session):
    patient = implanted_days_ago(session, world, 2)
    nurse = as_role("nurse")
    opened = event_form(fresh(session, patient), ev.CATHETER_REVISION)
    assert nurse.post(f"/patients/{patient.id}/pump-events/new", opened).status_code == 302
    again = nurse.post(f"/patients/{patient.id}/pump-events/new", opened)
    assert again.status_code == 409 and "already recorded" in again.get_data(as_text=True)

    old = fresh(session, patient)
    implant_pump(session, world.actor(), patient, TODAY, world.centre.id, implant_details(session))
    session.commit()
    stale = nurse.post(f"/patients/{patient.id}/pump-events/new", event_form(old, ev.DYE_STUDY))
    assert stale.status_code == 409 and "pump changed after you opened this form" in stale.get_data(as_text=True)
    assert [e.kind for e in events_of(session, patient)] == [ev.CATHETER_REVISION]


def test_a_check_recorded_done_in_another_tab_is_not_recorded_twice(as_role, world, session):
    patient = implanted_days_ago(session, world, 2)
    event = record_event(
        session, world.actor(), patient.id, None, EventEntry(ev.MRI, now() - timedelta(hours=1)), now()
    )
    url = f"/patients/{patient.id}/pump-events/{event.id}/check"
    opened = {"note": "checked", "version": str(event.version)}
    assert as_role("physician").post(url, opened).status_code == 302
    response = as_role("nurse").post(url, opened)
    assert response.status_code == 409 and "already recorded done by Test Physician" in response.get_data(as_text=True)
    assert len(audit_rows(session, "update")) == 1
    with pytest.raises(StaleEdit):
        record_done(session, world.actor("nurse"), patient.id, event.id, ev.PUMP_CHECK, "again", event.version, now())


@pytest.mark.parametrize("role", ["coordinator", "admin"])
def test_only_nurses_and_physicians_record_device_events(as_role, world, session, role):
    patient = implanted_days_ago(session, world, 2)
    client = as_role(role)
    assert client.get(f"/patients/{patient.id}/pump-events/new").status_code == 403
    assert (
        client.post(f"/patients/{patient.id}/pump-events/new", event_form(fresh(session, patient), ev.MRI)).status_code
        == 403
    )
    with pytest.raises(PermissionDenied):
        record_event(session, world.actor(role), patient.id, None, EventEntry(ev.MRI, now()), now())
    assert events_of(session, patient) == []
    assert "Record device event" not in client.get(f"/patients/{patient.id}").get_data(as_text=True)


# -- reads stay set-based ------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_open_work_costs_the_same_statements_for_one_pump_or_five(app, as_role, world, session):
    from tracker.extensions import db

    def counts() -> dict[str, int]:
        seen = {}
        client = as_role("coordinator")
        for url in ("/worklist", "/calendar", f"/patients/{first.id}", "/queue"):
            with app.app_context():
                engine = db.engine
            with statements_run(engine) as statements:
                assert client.get(url).status_code == 200
            seen[url] = len(statements)
        return seen

    patients = [implanted_days_ago(session, world, 2) for _ in range(5)]
    first = patients[0]
    record_event(session, world.actor(), first.id, None, EventEntry(ev.MRI, now() - timedelta(hours=1)), now())
    one = counts()
    for p in patients[1:]:
        record_event(
            session, world.actor(), p.id, None, EventEntry(ev.SUSPECTED_OCCLUSION, now() - timedelta(hours=1)), now()
        )
    assert counts() == one


def test_the_emergency_summary_says_the_pump_was_emptied_or_its_check_is_pending(as_role, world, session):
    prometra = implanted_days_ago(session, world, 2, model=PROMETRA)
    synchromed = implanted_days_ago(session, world, 2)
    for patient in (prometra, synchromed):
        record_event(session, world.actor(), patient.id, None, EventEntry(ev.MRI, now() - timedelta(hours=1)), now())
    nurse = as_role("nurse")
    emptied = nurse.get(f"/patients/{prometra.id}/emergency").get_data(as_text=True)
    assert "Emptied before an MRI" in emptied and "Pump projected empty" in emptied
    assert "must be emptied before the scan" in emptied
    checked = nurse.get(f"/patients/{synchromed.id}/emergency").get_data(as_text=True)
    assert "<th>Post-MRI pump check</th><td>Not yet done" in checked and "checked afterwards" in checked


def test_the_catalogue_says_what_an_mri_means_and_an_admin_changes_it_audited(as_role, world, session):
    models = {m.name: m.mri_rule for m in session.scalars(select(PumpModel))}
    assert models == {
        "SynchroMed II 20 mL": ev.CHECK_AFTER,
        "SynchroMed II 40 mL": ev.CHECK_AFTER,
        "Prometra 20 mL": ev.EMPTY_BEFORE,
        "Prometra II 20 mL": ev.EMPTY_BEFORE,
        "Prometra II 40 mL": ev.EMPTY_BEFORE,
    }
    model = session.scalar(select(PumpModel).where(PumpModel.name == "Prometra 20 mL"))
    model.mri_rule = None  # a model the catalogue did not seed: nothing chosen for it
    session.commit()
    admin = as_role("admin")
    assert "Not said: no MRI can be recorded" in admin.get("/admin/catalogue").get_data(as_text=True)
    form = {
        "default_alarm_ml": "3",
        "battery_life_months": "",
        "eri_to_stop_days": "",
        "accuracy_fraction": "0.145",
        "active": "y",
        "version": str(model.version),
    }
    refused = admin.post(f"/admin/catalogue/pumps/{model.id}", form | {"mri_rule": ""})
    assert refused.status_code == 422 and "Choose what an MRI means for this pump." in refused.get_data(as_text=True)
    assert admin.post(f"/admin/catalogue/pumps/{model.id}", form | {"mri_rule": "sometimes"}).status_code == 422
    saved = admin.post(f"/admin/catalogue/pumps/{model.id}", form | {"mri_rule": ev.EMPTY_BEFORE})
    assert saved.status_code == 302, saved.get_data(as_text=True)[-1500:]
    session.expire_all()
    assert session.get(PumpModel, model.id).mri_rule == ev.EMPTY_BEFORE
    (audit,) = session.scalars(select(AuditEvent).where(AuditEvent.entity == "pump_model")).all()
    assert (audit.before, audit.after) == ({"mri_rule": None}, {"mri_rule": ev.EMPTY_BEFORE})
