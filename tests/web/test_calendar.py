"""The refill calendar, booking and the worklist: urgency colours, reasons, rules, exports, feed, time zones."""

import html
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from flask import url_for
from icalendar import Calendar
from sqlalchemy import func, select

from tests.support.clock import NOW_UTC
from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago
from tracker.clinical.refill_risk import Windows
from tracker.extensions import db
from tracker.models import RefillAppointment, RefillSchedule, User
from tracker.services import DomainError, StaleEdit
from tracker.services.bookings import book_refill, cancel, log_contact, open_appointment, rebook
from tracker.services.doses import change_dose
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import Programme, current_pump
from tracker.services.worklist import refill_rows, worklist
from tracker.statements import statements_run

NOW = NOW_UTC
W = Windows(soon_days=14, battery_warning_months=6)


def at(day, hour=10):
    return datetime.combine(day, time(hour), CLINIC_ZONE)


def due(session, patient):
    return session.get(RefillSchedule, current_pump(session, patient.id).id).due_date


def book(session, world, patient, day, role="coordinator", **kwargs):
    return book_refill(
        session,
        world.actor(role),
        patient.id,
        at(day),
        world.clinic.id,
        world.users["nurse"].id,
        kwargs.pop("late_reason", ""),
        kwargs.pop("override_reason", ""),
        NOW,
    )


@pytest.fixture
def clinic_fixture(session, world):
    """One patient per urgency, built with the refill engine (default pump: due day 23, alarm day 30)."""
    p = {
        "overdue": implanted_days_ago(session, world, 26),  # due 3 days ago, alarm in 4
        "due_soon": implanted_days_ago(session, world, 20),  # due in 3 days, not booked
        "booked": implanted_days_ago(session, world, 10),  # due in 13 days, booked before
        "booked_late": implanted_days_ago(session, world, 20),  # due in 3, booked 2 days after
        "later": implanted_days_ago(session, world, 1),  # due in 22 days
        "missed": implanted_days_ago(session, world, 12),  # booked, the time passed
    }
    book(session, world, p["booked"], due(session, p["booked"]) - timedelta(days=2))
    book(
        session,
        world,
        p["booked_late"],
        due(session, p["booked_late"]) + timedelta(days=2),
        late_reason="Patient away until then",
    )
    appointment = book(session, world, p["missed"], TODAY + timedelta(days=1))
    appointment.starts_at = NOW - timedelta(hours=3)  # time passes; nobody records a refill
    session.commit()
    return p


def test_every_urgency_and_worklist_reason(session, world, clinic_fixture):
    rows = {r.patient.id: r for r in refill_rows(session, TODAY, NOW, W)}
    expect = {
        "overdue": ("overdue", ["overdue"]),
        "due_soon": ("due_soon", ["due_soon"]),
        "booked": ("booked", []),
        "booked_late": ("booked_late", ["after_due"]),
        "later": ("ok", []),
        "missed": ("missed", ["due_soon", "missed"]),
    }
    for name, (colour, reasons) in expect.items():
        row = rows[clinic_fixture[name].id]
        assert (row.urgency, row.reasons) == (colour, reasons), name
    listed = [r.patient.id for r in worklist(session, TODAY, NOW, W)]
    assert listed == [clinic_fixture[n].id for n in ("overdue", "missed", "booked_late", "due_soon")], (
        "most urgent first"
    )
    # With a 30-day "due soon" window the patient due in 22 days joins the list.
    assert clinic_fixture["later"].id in {r.patient.id for r in worklist(session, TODAY, NOW, Windows(30, 6))}


def test_rows_leave_the_worklist_only_when_the_condition_is_gone(session, world, clinic_fixture):
    due_soon, overdue = clinic_fixture["due_soon"], clinic_fixture["overdue"]
    log_contact(session, world.actor("coordinator"), due_soon.id, "phone", "no_answer", "", NOW)
    ids = lambda: {r.patient.id for r in worklist(session, TODAY, NOW, W)}  # noqa: E731
    assert due_soon.id in ids(), "a contact attempt alone does not clear the row"
    book(session, world, due_soon, due(session, due_soon))
    assert due_soon.id not in ids()
    book(session, world, overdue, TODAY + timedelta(days=1), late_reason="Earliest slot")
    assert overdue.id in ids(), "a booking does not make a late pump safe: it stays until the refill is recorded"
    row = {r.patient.id: r for r in refill_rows(session, TODAY, NOW, W)}[overdue.id]
    assert (row.urgency, row.reasons) == ("overdue", ["overdue", "after_due"])
    record_refill(
        session,
        world.actor(),
        current_pump(session, overdue.id).id,
        RefillEntry(
            visit_at=NOW - timedelta(minutes=5),
            expected_residual_ml=Decimal(3),
            actual_residual_ml=Decimal(3),
            concentration_mcg_per_ml=500,
            volume_added_ml=Decimal(20),
            resulting_volume_ml=Decimal(20),
        ),
        True,
        NOW,
    )
    assert overdue.id not in ids()
    assert open_appointment(session, overdue.id) is None, "the refill completed the booking"
    completed = session.scalars(select(RefillAppointment).where(RefillAppointment.patient_id == overdue.id)).one()
    assert completed.status == "completed" and completed.refill_visit_id is not None


def test_booking_rules(session, world):
    patient = implanted_days_ago(session, world, 20)  # due in 3 days, alarm in 10
    d = due(session, patient)
    with pytest.raises(DomainError, match="say why"):
        book(session, world, patient, d + timedelta(days=2))
    session.rollback()
    with pytest.raises(DomainError, match="refused unless a physician overrides"):
        book(session, world, patient, d + timedelta(days=9), late_reason="holiday")
    session.rollback()
    with pytest.raises(DomainError, match="must be in the future"):
        book_refill(
            session,
            world.actor("coordinator"),
            patient.id,
            NOW - timedelta(hours=1),
            world.clinic.id,
            world.users["nurse"].id,
            "",
            "",
            NOW,
        )
    session.rollback()
    overridden = book(
        session,
        world,
        patient,
        d + timedelta(days=9),
        role="physician",
        override_reason="Inpatient elsewhere; pump checked there",
    )
    assert overridden.override_by_id == world.users["physician"].id
    with pytest.raises(StaleEdit, match="Someone else booked this patient"):
        book(session, world, patient, d)
    session.rollback()
    new = rebook(
        session,
        world.actor("coordinator"),
        overridden.id,
        overridden.version,
        at(d),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        "Earlier slot opened",
        NOW,
    )
    old = session.get(RefillAppointment, overridden.id)
    assert (old.status, old.replaced_by_id, old.close_reason) == ("rebooked", new.id, "Earlier slot opened")
    cancel(session, world.actor("coordinator"), new.id, new.version, "Patient unwell", NOW)
    assert session.scalar(select(func.count(RefillAppointment.id))) == 2, "history is kept"
    assert open_appointment(session, patient.id) is None


def test_booking_through_the_page_and_the_patient_page_says_booked(as_role, world, session):
    patient = implanted_days_ago(session, world, 20)
    coordinator = as_role("coordinator")
    page = coordinator.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "Next refill <b>not booked</b>" in page and 'class="booking flash error"' in page
    d = due(session, patient)
    form = {
        "starts_at": at(d).strftime("%Y-%m-%dT%H:%M"),
        "location_id": world.clinic.id,
        "clinician_id": world.users["nurse"].id,
    }
    late_form = {**form, "starts_at": at(d + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M")}
    late = coordinator.post(f"/patients/{patient.id}/book", late_form)
    assert late.status_code == 422 and "say why" in late.get_data(as_text=True)
    assert coordinator.post(f"/patients/{patient.id}/book", form).status_code == 302
    page = coordinator.get(f"/patients/{patient.id}").get_data(as_text=True)
    assert "<b>booked on time</b>" in page and 'data-booking="on_time"' in page
    assert 'class="booking flash success"' in page
    other = implanted_days_ago(session, world, 20)
    booked_late = coordinator.post(f"/patients/{other.id}/book", {**late_form, "late_reason": "Patient away"})
    assert booked_late.status_code == 302
    page = coordinator.get(f"/patients/{other.id}").get_data(as_text=True)
    assert 'data-booking="after_due"' in page and 'class="booking flash warning"' in page  # booked after due: amber
    assert as_role("admin").post(f"/patients/{patient.id}/book", form).status_code == 403


def test_calendar_pages_show_urgency_colours(as_role, world, session, clinic_fixture):
    coordinator = as_role("coordinator")
    for view in ("month", "week", "list"):
        assert coordinator.get(f"/calendar?view={view}").status_code == 200
    page = coordinator.get(f"/calendar?view=list&date={(TODAY - timedelta(days=20)).isoformat()}").get_data(
        as_text=True
    )
    assert "urgency-overdue" in page and "urgency-booked" in page
    other = world.sites["Buckhead Clinic"].id
    page = coordinator.get(f"/calendar?view=list&location={other}").get_data(as_text=True)
    assert clinic_fixture["due_soon"].mrn not in page


def count_queries(client, url):
    with statements_run(db.engine) as statements:
        response = client.get(url)
    assert response.status_code == 200
    return len(statements), response


@pytest.mark.slow
def test_calendar_json_is_limited_to_the_range_and_its_query_count_does_not_grow(as_role, world, session, app):
    from tracker.demo import seed_demo

    coordinator = as_role("coordinator")
    start, end = TODAY - timedelta(days=7), TODAY + timedelta(days=34)
    url = f"/calendar/events.json?start={start}&end={end}"
    # Audited once per 15 minutes (tests/web/test_bulk_reads_audited.py): count the views after the first.
    coordinator.get(url)
    seed_demo(session, 10, 5, TODAY, "demo-password-1234")
    with app.app_context():
        small, response = count_queries(coordinator, url)
    assert all(start.isoformat() <= e["start"][:10] <= end.isoformat() for e in response.get_json())
    seed_demo(session, 490, 6, TODAY, "demo-password-1234")
    with app.app_context():
        large, response = count_queries(coordinator, url)
    assert len(response.get_json()) > 10
    assert small == large, (small, large)
    assert coordinator.get("/calendar/events.json?start=2026-01-01&end=2027-01-01").status_code == 400


def test_personal_feed_parses_and_carries_no_names_or_birth_dates(as_role, world, session, clinic_fixture):
    nurse = as_role("nurse")
    assert nurse.post("/account/calendar").status_code == 302
    token = session.scalar(select(User.calendar_token).where(User.id == world.users["nurse"].id))
    anonymous = nurse.app.test_client()
    raw = anonymous.get(f"/calendar/feed/{token}.ics")
    assert raw.status_code == 200 and raw.mimetype == "text/calendar"
    text = raw.get_data(as_text=True)
    parsed = Calendar.from_ical(raw.data)
    events = [c for c in parsed.walk("VEVENT")]
    assert events and all("ITB refill" in str(e["SUMMARY"]) for e in events)
    for p in clinic_fixture.values():
        assert p.last_name not in text and p.first_name not in text
        assert p.date_of_birth.isoformat() not in text and p.date_of_birth.strftime("%Y%m%d") not in text
    assert clinic_fixture["booked"].mrn in text
    nurse.post("/account/calendar")  # regenerate: the old address stops working
    assert anonymous.get(f"/calendar/feed/{token}.ics").status_code == 404
    assert anonymous.get("/calendar/feed/not-a-real-token-at-all-but-long-enough.ics").status_code == 404


def test_csv_exports_include_names_only_for_roles_that_may_see_them(as_role, world, session, clinic_fixture):
    name = clinic_fixture["overdue"].last_name
    start = (TODAY - timedelta(days=30)).isoformat()
    coordinator_csv = as_role("coordinator").get("/worklist/export.csv").get_data(as_text=True)
    admin_csv = as_role("admin").get("/worklist/export.csv").get_data(as_text=True)
    assert name in coordinator_csv and clinic_fixture["overdue"].mrn in admin_csv and name not in admin_csv
    cal = as_role("admin").get(f"/calendar/export.csv?start={start}").get_data(as_text=True)
    assert clinic_fixture["overdue"].mrn in cal and name not in cal


def next_clock_change(after):
    """The first day after `after` whose 10:00 is at another UTC offset than the day before's, in the clinic zone."""
    for n in range(1, 366):
        day = after + timedelta(days=n)
        if at(day).utcoffset() != at(day - timedelta(days=1)).utcoffset():
            return day
    pytest.skip(f"{CLINIC_ZONE.key} has no clock change")


def test_appointments_keep_their_local_time_across_the_daylight_saving_change(session, world):
    # 2000 mcg/mL at 100 mcg/day: the alarm is 360 days away, so the zone's next clock change can be booked (with
    # a reason once past the 180-day drug limit).
    patient = implanted_days_ago(session, world, 1, concentration=2000, dose_mcg="100")
    change = next_clock_change(TODAY + timedelta(days=3))
    first, second = change - timedelta(days=2), change + timedelta(days=1)
    assert at(first).utcoffset() != at(second).utcoffset()  # New York: EST (UTC-5), then EDT (UTC-4)
    before = book(session, world, patient, first, late_reason="Patient's choice")
    session.refresh(before)
    assert before.starts_at.astimezone(UTC) == at(first).astimezone(UTC)
    rebooked = rebook(
        session,
        world.actor("coordinator"),
        before.id,
        before.version,
        at(second),
        world.clinic.id,
        world.users["nurse"].id,
        "Patient's choice",
        "",
        "Moved after the clocks change",
        NOW,
    )
    session.refresh(rebooked)
    assert rebooked.starts_at.astimezone(UTC) == at(second).astimezone(UTC)
    assert rebooked.starts_at.astimezone(UTC).hour != before.starts_at.astimezone(UTC).hour
    from tracker.services.calendar import calendar_events

    events = [
        e for e in calendar_events(session, first, second + timedelta(days=5), TODAY, NOW) if e.kind == "appointment"
    ]
    assert [(e.day, e.starts_at_local.strftime("%H:%M")) for e in events] == [(second, "10:00")]


def test_the_worklist_is_paged_and_every_page_shows_the_counts_of_all_pages(
    as_role, world, session, clinic_fixture, app, monkeypatch
):
    monkeypatch.setitem(app.config, "PAGE_SIZE", 3)
    coordinator = as_role("coordinator")
    needing = {clinic_fixture[n] for n in ("overdue", "due_soon", "booked_late", "missed")}
    first = coordinator.get("/worklist").get_data(as_text=True)
    second = coordinator.get("/worklist?page=2").get_data(as_text=True)
    on_first = {p for p in needing if f'id="p{p.id}"' in first}
    on_second = {p for p in needing if f'id="p{p.id}"' in second}
    assert len(on_first) == 3 and on_first | on_second == needing and not on_first & on_second
    for page in (first, second):
        assert '<span class="count-badge danger">4</span>' in page, "the total counts every page"
        assert "Page" in page and "of 2" in page
        assert '<li class="reason-overdue"><b>1</b>' in page
        assert '<li class="reason-missed"><b>1</b>' in page
    # The rows come in the same order as the full list (and its CSV export): most urgent first.
    full = [r.patient.id for r in worklist(session, TODAY, NOW, W)]
    assert [p.id for p in sorted(on_first, key=lambda p: full.index(p.id))] == full[:3]
    assert coordinator.get("/worklist?page=99").status_code == 200, "a page past the end shows the last one"
    # Each row's links are the ones url_for gives.
    shown = sorted(on_second, key=lambda p: p.id)[0]
    with app.test_request_context("/worklist?page=2"):
        expected = [
            url_for("patients.show", patient_id=shown.id) + "#pump",
            url_for("calendar.book", patient_id=shown.id, next="/worklist?page=2"),
            url_for("calendar.log_contact", patient_id=shown.id, location="", nurse=""),
        ]
    assert all(f'"{html.escape(url)}"' in second for url in expected), expected


def test_the_calendar_opens_on_the_home_clinic_and_all_clinics_is_one_choice_away(
    as_role, world, session, clinic_fixture
):
    elsewhere = implanted_days_ago(session, world, 20)  # due in 3 days at Buckhead Clinic
    elsewhere.location_id = world.sites["Buckhead Clinic"].id
    session.commit()
    coordinator = as_role("coordinator")  # home location: the world's clinic
    home = coordinator.get("/calendar?view=list").get_data(as_text=True)
    assert clinic_fixture["due_soon"].mrn in home and elsewhere.mrn not in home
    everywhere = coordinator.get("/calendar?view=list&location=").get_data(as_text=True)
    assert clinic_fixture["due_soon"].mrn in everywhere and elsewhere.mrn in everywhere
    start, end = TODAY - timedelta(days=7), TODAY + timedelta(days=34)
    mrns = lambda url: {e["title"].split()[1] for e in coordinator.get(url).get_json()}  # noqa: E731
    assert elsewhere.mrn not in mrns(f"/calendar/events.json?start={start}&end={end}")
    assert elsewhere.mrn in mrns(f"/calendar/events.json?start={start}&end={end}&location=")
    # A physician has no home clinic: every clinic.
    assert elsewhere.mrn in as_role("physician").get("/calendar?view=list").get_data(as_text=True)


def test_a_month_cell_shows_its_most_urgent_refills_first(as_role, world, session, app):
    for _ in range(7):  # seven refills due 3 days ago, all booked: they come first by id, yet must not hide...
        book(
            session,
            world,
            implanted_days_ago(session, world, 26),
            TODAY + timedelta(days=1),
            late_reason="Earliest slot",
        )
    overdue = implanted_days_ago(session, world, 26)  # ...the one due the same day and not booked
    day = due(session, overdue)
    page = as_role("coordinator").get(f"/calendar?date={day.isoformat()}").get_data(as_text=True)
    chips = [line for line in page.splitlines() if 'class="chip ' in line and "kind-due" in line]
    assert len(chips) == 6 and "+2 more" in page, "six chips in the cell, the rest one click away"
    assert f'href="/patients/{overdue.id}#pump"' in chips[0] and "urgency-overdue" in chips[0]


def test_a_booking_on_time_turns_late_when_a_dose_increase_moves_the_due_date_earlier(session, world):
    patient = implanted_days_ago(session, world, 10)  # due in 13 days
    book(session, world, patient, due(session, patient))
    assert patient.id not in {r.patient.id for r in worklist(session, TODAY, NOW, W)}, "booked on time"
    change_dose(
        session,
        world.actor("physician"),
        current_pump(session, patient.id).id,
        NOW - timedelta(minutes=5),
        Programme(Decimal(330)),
        "spasticity back",
        NOW,
    )  # alarm day 30 -> 27, due 23 -> 20
    [row] = [r for r in worklist(session, TODAY, NOW, W) if r.patient.id == patient.id]
    assert row.reasons == ["after_due"], "judged again from the new dates, with nothing stored"
