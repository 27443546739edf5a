"""Issue 19, item 3: printed lists. A day's or a week's refills at a clinic on A4 (time, patient, pump, drug and
concentration, volume to prepare, last residual) and the printable worklist, each audited as a bulk read."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago
from tracker.clinical import refill_checks
from tracker.models import AuditEvent
from tracker.services.bookings import book_refill
from tracker.services.refill_sheet import span_of
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import current_pump
from tracker.services.settings import risk_windows
from tracker.services.worklist import worklist
from tracker.web.filters import fmt_ml

DAY = TODAY + timedelta(days=2)  # the day printed: in the future, so bookings on it are ordinary


def book(session, world, patient, day, hour, location=None):
    return book_refill(
        session,
        world.actor("coordinator"),
        patient.id,
        datetime.combine(day, time(hour), CLINIC_ZONE),
        (location or world.clinic).id,
        world.users["nurse"].id,
        "",
        "",
        datetime.now(UTC),
    )


def refill(session, world, patient, added: str, resulting: str, residual: str = "8.6"):
    pump = current_pump(session, patient.id)
    at = datetime.now(UTC) - timedelta(days=1)
    record_refill(
        session,
        world.actor(),
        pump.id,
        RefillEntry(
            visit_at=at,
            expected_residual_ml=Decimal("9"),
            actual_residual_ml=Decimal(residual),
            concentration_mcg_per_ml=500,
            volume_added_ml=Decimal(added),
            resulting_volume_ml=Decimal(resulting),
        ),
        True,
        datetime.now(UTC),
    )


@pytest.fixture
def clinic_day(session, world):
    """On DAY at Kennesaw: Brook at 09:00, Ames at 14:00 (refilled yesterday, 18 mL), Eddy at 11:00 (last fill's
    volumes disagree), Cole due and not booked; Dunn at Buckhead at 10:00; Fenn at Kennesaw another day that week."""
    buckhead = world.sites["Buckhead Clinic"]
    p = {
        name: implanted_days_ago(session, world, days)
        for name, days in (("ames", 18), ("brook", 18), ("cole", 21), ("eddy", 18), ("fenn", 18))
    }
    p["dunn"] = implanted_days_ago(session, world, 18)
    p["dunn"].location_id = buckhead.id
    for name, patient in p.items():
        patient.last_name = name.capitalize()
    session.commit()
    refill(session, world, p["ames"], "18", "18")
    refill(session, world, p["eddy"], "20", "19")
    book(session, world, p["ames"], DAY, 14)
    book(session, world, p["brook"], DAY, 9)
    book(session, world, p["eddy"], DAY, 11)
    book(session, world, p["dunn"], DAY, 10, buckhead)
    monday, sunday = span_of("week", DAY)
    other = DAY + timedelta(days=1) if DAY < sunday else DAY - timedelta(days=1)
    book(session, world, p["fenn"], other, 9)
    p["other_day"] = other
    return p


def rows_of(page: str) -> list[str]:
    """The patients' last names in the printed table's order."""
    return re.findall(r"<b>(\w+), Ada</b>", page)


def printed(client, **args):
    response = client.get("/calendar/print", query_string=args)
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_the_day_list_shows_the_clinics_refills_in_time_order_then_those_due_and_not_booked(as_role, world, clinic_day):
    page = printed(as_role("nurse"), span="day", date=DAY.isoformat())
    assert rows_of(page) == ["Brook", "Eddy", "Ames", "Cole"], "Dunn is Buckhead's; Fenn is another day"
    assert "Kennesaw Clinic" in page, "by default the nurse's own clinic, as on the calendar"
    for column in ("Time", "Patient", "Pump", "Drug and concentration", "Volume to prepare", "Last residual"):
        assert f'<th scope="col">{column}</th>' in page
    assert "<b>09:00</b>" in page and "<b>14:00</b>" in page and "<b>Not booked</b>" in page
    assert "Baclofen 500 mcg/mL" in page and "SynchroMed II 20 mL" in page
    assert "<nav" not in page and 'class="filters"' not in page, "no menus, no filters"


def test_the_week_list_holds_every_day_of_the_week_with_its_rows(as_role, clinic_day):
    page = printed(as_role("nurse"), span="week", date=DAY.isoformat())
    day = ["Brook", "Eddy", "Ames", "Cole"]
    assert rows_of(page) == (day + ["Fenn"] if clinic_day["other_day"] > DAY else ["Fenn"] + day), (
        "Fenn's day and DAY, each in its order"
    )
    assert page.count('class="day-head"') == 7
    monday, sunday = span_of("week", DAY)
    assert monday.weekday() == 0 and sunday - monday == timedelta(days=6)


def test_the_clinic_is_the_calendars_location_filter(as_role, world, clinic_day):
    physician = as_role("physician")
    buckhead = world.sites["Buckhead Clinic"].id
    assert rows_of(printed(physician, span="day", date=DAY.isoformat(), location=buckhead)) == ["Dunn"]
    every = printed(physician, span="day", date=DAY.isoformat(), location="")
    assert rows_of(every) == ["Brook", "Dunn", "Eddy", "Ames", "Cole"] and "All clinics" in every


def test_the_volume_to_prepare_is_the_refill_engines_and_says_why_when_there_is_none(as_role, clinic_day):
    page = printed(as_role("nurse"), span="day", date=DAY.isoformat())
    volumes = dict(re.findall(r'<b>(\w+), Ada</b>.*?data-volume="([^"]*)"', page, re.S))
    ames, _ = refill_checks.fill_volume(Decimal(18), Decimal(18))
    implant, _ = refill_checks.fill_volume(Decimal(20), Decimal(20))
    assert Decimal(volumes["Ames"]) == ames and f"<b>{fmt_ml(ames)} mL</b>" in page
    assert Decimal(volumes["Brook"]) == implant
    assert volumes["Eddy"] == "", "20 mL added, 19 reported: no reliable figure"
    _, why = refill_checks.fill_volume(Decimal(20), Decimal(19))
    assert why in page.replace("&#39;", "'")
    # The last residual: aspirated at yesterday's refill; none yet for a pump whose last fill was the implant's.
    assert "8.6 mL" in page and "first fill, at implant" in page


def test_a_printed_list_is_audited_as_a_bulk_read_and_admins_print_mrns_only(as_role, session, world, clinic_day):
    printed(as_role("nurse"), span="week", date=DAY.isoformat())
    row = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (row.action, row.entity, row.user_id) == ("print", "refill_list", world.users["nurse"].id)
    assert row.after["rows"] == 5 and row.after["filters"] == {"span": "week", "date": DAY.isoformat()}
    assert row.after["names"] is True
    page = printed(as_role("admin"), span="day", date=DAY.isoformat(), location=world.clinic.id)
    assert rows_of(page) == [] and clinic_day["ames"].mrn in page, "MRNs only, as in an admin's export"


def test_bad_arguments_fall_back_to_today_and_the_day(as_role, clinic_day):
    page = printed(as_role("nurse"), span="year", date="not-a-date")
    assert TODAY.strftime("%A") in page and 'class="day-head"' not in page


def test_the_printed_worklist_has_the_worklists_rows_in_its_order(as_role, session, world, clinic_day):
    late = implanted_days_ago(session, world, 26)  # overdue: first
    coordinator = as_role("coordinator")
    response = coordinator.get("/worklist/print")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    expected = [r.patient.mrn for r in worklist(session, TODAY, datetime.now(UTC), risk_windows(session))]
    assert expected and expected[0] == late.mrn
    assert re.findall(r'<tr data-mrn="([^"]+)"', page) == expected
    listed = coordinator.get("/worklist").get_data(as_text=True)
    assert re.findall(r'data-mrn="([^"]+)" data-urgency', listed) == expected, "the page's rows and order"
    assert 'class="filters"' not in page and "<nav" not in page and "Log attempt" not in page
    row = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc()).limit(1)).one()
    assert (row.action, row.entity, row.after["rows"]) == ("print", "worklist", len(expected))


def test_the_calendar_and_the_worklist_link_to_their_print_views(as_role, world):
    coordinator = as_role("coordinator")
    calendar = coordinator.get(f"/calendar?view=week&date={DAY}").get_data(as_text=True)
    assert f"/calendar/print?span=day&amp;date={DAY}" in calendar
    assert f"/calendar/print?span=week&amp;date={DAY}" in calendar
    assert "/worklist/print" in coordinator.get("/worklist").get_data(as_text=True)
