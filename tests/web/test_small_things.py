"""Issue 19 item 7, the small things users hit: tel: links, the favicon, contact history on the patient page, the
offer to book after a refill, the next-due column, the feed page, required marks, the worklist CSV in words, a
year's calendar export."""

import csv
import io
import re
from datetime import UTC, datetime, time, timedelta

import pytest
from sqlalchemy import func, select, update

from tests.support.factories import CLINIC_ZONE, TODAY, implanted_days_ago, make_patient
from tests.web.test_query_counts import statements
from tracker.clinical import refill_risk
from tracker.formats import fmt_date, fmt_datetime
from tracker.models import ContactAttempt, Location, Patient, RefillAppointment, RefillSchedule
from tracker.services.bookings import book_refill, log_contact, suggested_start
from tracker.services.refills import current_pump

PHONE = "+1 (404) 555-0134"
PHONE_LINK = '<a class="phone" href="tel:+14045550134">+1 (404) 555-0134</a>'


def with_phone(session, patient, phone=PHONE):
    session.execute(update(Patient).where(Patient.id == patient.id).values(phone=phone))
    session.commit()
    return patient


def rename(session, patient, last_name):
    session.execute(update(Patient).where(Patient.id == patient.id).values(last_name=last_name))
    session.commit()


# 1. tel: links wherever a phone number is shown


def test_phone_numbers_are_tel_links_on_the_patient_page_worklist_contact_form_and_emergency_summary(
    as_role, world, session
):
    overdue = with_phone(session, implanted_days_ago(session, world, 40))  # due day 23: on the worklist
    coordinator, nurse = as_role("coordinator"), as_role("nurse")
    assert PHONE_LINK in coordinator.get(f"/patients/{overdue.id}").get_data(as_text=True)
    assert PHONE_LINK in coordinator.get("/worklist").get_data(as_text=True)
    refused = coordinator.post(f"/patients/{overdue.id}/contacts", {"method": "phone", "outcome": ""})
    assert refused.status_code == 422 and PHONE_LINK in refused.get_data(as_text=True)
    clinic = session.get(Location, world.clinic.id)
    summary = nurse.get(f"/patients/{overdue.id}/emergency").get_data(as_text=True)
    assert (
        clinic.emergency_phone
        and f'class="phone" href="tel:{re.sub(r"[^0-9+]", "", clinic.emergency_phone)}"' in summary
    )
    catalogue = as_role("admin").get("/admin/catalogue").get_data(as_text=True)
    assert f'class="phone" href="tel:{re.sub(r"[^0-9+]", "", clinic.phone)}"' in catalogue
    assert "<title>Catalogues · ITB tracker</title>" in catalogue  # the title held a copy of the locations table


# 2. A favicon, without signing in


def test_the_favicon_is_served_to_anyone_and_every_page_names_it(client):
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file, not a sign-in redirect
    assert client.get("/static/favicon.svg").mimetype == "image/svg+xml"
    page = client.get("/login").get_data(as_text=True)
    assert 'rel="icon" href="/favicon.ico"' in page and 'href="/static/favicon.svg" type="image/svg+xml"' in page


# 3. Contact history on the patient page


def test_the_patient_page_lists_every_contact_attempt_newest_first_in_constant_queries(as_role, world, session):
    patient = implanted_days_ago(session, world, 40)
    coordinator = as_role("coordinator")
    url = f"/patients/{patient.id}"
    coordinator.get(url)
    first = datetime.now(UTC) - timedelta(days=2)
    log_contact(session, world.actor("coordinator"), patient.id, "phone", "voicemail", "left the clinic number", first)
    one = statements(coordinator, url)
    for n in range(4):
        log_contact(session, world.actor("nurse"), patient.id, "sms", "no_answer", "", first + timedelta(hours=n + 1))
    assert statements(coordinator, url) == one
    page = coordinator.get(url).get_data(as_text=True)
    history = page[page.index('id="contacts"') :]
    history = history[: history.index("</section>")]
    assert "5 attempts" in history and history.count("<tr data-outcome=") == 5
    assert history.index("No answer") < history.index("Left voicemail"), "newest first"
    assert "Text message" in history and "Test Coordinator" in history and "left the clinic number" in history
    assert fmt_datetime(first) in history
    # Logged from the patient page, the user comes back to it.
    response = coordinator.post(
        f"/patients/{patient.id}/contacts?back=patient",
        {"method": "phone", "outcome": "reached", "notes": "booking by phone"},
    )
    assert response.status_code == 302 and response.location.endswith(f"/patients/{patient.id}#contacts")
    assert session.scalar(select(func.count(ContactAttempt.id))) == 6


# 4. After a refill, an offer to book the next one (never a booking)


def test_after_a_refill_the_patient_page_offers_to_book_the_next_one_and_books_nothing(as_role, world, session):
    patient = implanted_days_ago(session, world, 15)
    nurse = as_role("nurse")
    visit_at = (datetime.now(CLINIC_ZONE) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    response = nurse.post(
        f"/patients/{patient.id}/refill",
        {
            "visit_at": visit_at,
            "expected_residual_ml": "11",
            "actual_residual_ml": "11",
            "concentration_mcg_per_ml": "500",
            "volume_added_ml": "9",
            "resulting_volume_ml": "20",
            "action": "save",
            "acknowledge": "y",
        },
    )
    assert response.status_code == 302 and "after=refill" in response.location
    page = nurse.get(response.location).get_data(as_text=True)
    due = session.get(RefillSchedule, current_pump(session, patient.id).id).due_date
    offer = page[page.index('id="book-next"') :]
    offer = offer[: offer.index("</aside>")]
    suggested = suggested_start(due, TODAY)
    assert fmt_date(due) in offer and fmt_datetime(suggested) in offer
    assert f'href="/patients/{patient.id}/book?next=' in offer and "Book the next refill" in offer
    assert session.scalar(select(func.count(RefillAppointment.id))) == 0, "offered, not booked"
    # The booking form opens with the slot the offer named; the user still chooses it.
    form = nurse.get(f"/patients/{patient.id}/book").get_data(as_text=True)
    assert f'value="{suggested:%Y-%m-%dT%H:%M}"' in form
    # Not offered on an ordinary visit, nor once a refill is booked.
    assert 'id="book-next"' not in nurse.get(f"/patients/{patient.id}").get_data(as_text=True)
    book_refill(
        session,
        world.actor("nurse"),
        patient.id,
        datetime.combine(due, time(10), CLINIC_ZONE),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        datetime.now(UTC),
    )
    assert 'id="book-next"' not in nurse.get(response.location).get_data(as_text=True)


# 5. The next refill due on the patient list, and sorted by it


def test_the_patient_list_shows_the_next_refill_due_and_sorts_by_it(as_role, world, session):
    soon, later, no_pump = (
        implanted_days_ago(session, world, 20),
        implanted_days_ago(session, world, 5),
        make_patient(session, world),
    )
    for patient, name in ((soon, "Zed"), (later, "Young"), (no_pump, "Able")):
        rename(session, patient, name)
    coordinator = as_role("coordinator")
    by_name = coordinator.get("/patients").get_data(as_text=True)
    assert by_name.index("Able,") < by_name.index("Young,") < by_name.index("Zed,")
    page = coordinator.get("/patients?sort=due").get_data(as_text=True)
    assert page.index("Zed,") < page.index("Young,") < page.index("Able,"), "soonest due first, no pump last"
    due = session.get(RefillSchedule, current_pump(session, soon.id).id).due_date
    assert f'{fmt_date(due)} <small class="muted">{refill_risk.due_words(due, TODAY)}</small>' in page
    assert 'href="/patients?sort=due&amp;page=1" aria-current="true">Next refill due</a>' in page
    export = coordinator.get("/patients/export.csv?sort=due").get_data(as_text=True)
    rows = list(csv.reader(io.StringIO(export)))
    assert rows[0][rows[0].index("next_refill_due")] and rows[1][rows[0].index("next_refill_due")] == due.isoformat()


# 6. The calendar feed page


def test_the_feed_page_has_a_copy_button_and_warns_about_the_old_address_only_when_replacing_it(as_role):
    nurse = as_role("nurse")
    made = nurse.post("/account/calendar")
    page = nurse.get(made.location).get_data(as_text=True)
    assert "Calendar address made" in page and "no longer works" not in page
    assert 'data-copy="#feed-url"' in page and 'src="/static/js/copy.js"' in page and "<script>" not in page
    again = nurse.post("/account/calendar")
    assert "the old one no longer works" in nurse.get(again.location).get_data(as_text=True)


# 9. Required fields marked


def test_required_fields_carry_a_mark_and_the_required_attribute_and_the_form_a_legend(as_role):
    page = as_role("nurse").get("/patients/new").get_data(as_text=True)
    assert '<p class="required-note"><span class="req">*</span> required</p>' in page
    assert '<label for="mrn">MRN <span class="req" aria-hidden="true">*</span></label>' in page
    assert re.search(r'<input id="mrn"[^>]* required', page)
    assert '<label for="phone">Phone</label>' in page and not re.search(r'<input id="phone"[^>]* required', page)
    assert '<label for="location_id">Home location <span class="req"' in page


def test_the_booking_form_marks_the_clinic_and_clinician_required(as_role, world, session):
    patient = implanted_days_ago(session, world, 15)
    page = as_role("coordinator").get(f"/patients/{patient.id}/book").get_data(as_text=True)
    assert '<label for="location_id">Clinic <span class="req"' in page
    assert '<label for="clinician_id">Clinician <span class="req"' in page


# 10. The worklist CSV in words and local times


def test_the_worklist_csv_says_how_late_in_words_and_numbers_with_labels_and_clinic_times(as_role, world, session):
    empty = implanted_days_ago(session, world, 89)  # due day 23: 66 days past due
    booked_late = implanted_days_ago(session, world, 20)  # due in 3 days, booked 2 days after it
    due = session.get(RefillSchedule, current_pump(session, booked_late.id).id).due_date
    starts_at = datetime.combine(due + timedelta(days=2), time(10), CLINIC_ZONE)
    book_refill(
        session,
        world.actor("coordinator"),
        booked_late.id,
        starts_at,
        world.clinic.id,
        world.users["nurse"].id,
        "patient away",
        "",
        datetime.now(UTC),
    )
    log_contact(session, world.actor("coordinator"), empty.id, "phone", "no_answer", "", datetime.now(UTC))
    body = as_role("coordinator").get("/worklist/export.csv").get_data(as_text=True)
    header, *rows = list(csv.reader(io.StringIO(body)))
    by_mrn = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    late = by_mrn[empty.mrn]
    assert late["Due"] == "66 days past due"
    assert late["Days to due date (negative: past due)"] == "-66", "a number, not the text '-66"
    assert late["Needs"] == refill_risk.LABELS[refill_risk.EMPTY] and "_" not in late["Reasons"]
    assert late["Last contact outcome"] == "No answer"
    booked = by_mrn[booked_late.mrn]
    assert booked["Booked for (clinic time)"] == f"{(due + timedelta(days=2)).isoformat()} 10:00"
    assert booked["Booking"] == refill_risk.LABELS[refill_risk.AFTER_DUE] and booked["Due"] == "3 days left"


# 11. The calendar export: a whole year, and a clear word beyond it


def test_the_calendar_exports_a_whole_year_and_explains_a_longer_range(as_role, world, session):
    implanted_days_ago(session, world, 15)
    coordinator = as_role("coordinator")
    year = coordinator.get(f"/calendar/export.csv?start={TODAY}&end={TODAY + timedelta(days=366)}")
    assert year.status_code == 200 and year.mimetype == "text/csv"
    end = TODAY + timedelta(days=400)
    refused = coordinator.get(f"/calendar/export.csv?start={TODAY}&end={end}&location={world.clinic.id}")
    page = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "at most 366 days (a year)" in page and "400 days" in page
    assert f'name="start" value="{TODAY}"' in page and f'name="end" value="{end}"' in page
    assert f'name="location" value="{world.clinic.id}"' in page, "the clinic is kept for the corrected export"
    backwards = coordinator.get(f"/calendar/export.csv?start={TODAY}&end={TODAY - timedelta(days=1)}")
    assert backwards.status_code == 422 and "before it starts" in backwards.get_data(as_text=True)
    calendar = coordinator.get("/calendar").get_data(as_text=True)
    assert 'class="export-range"' in calendar and 'action="/calendar/export.csv"' in calendar


@pytest.mark.parametrize(
    "role, url",
    [
        ("admin", "/admin/users/new"),
        ("admin", "/admin/users/{nurse}/edit"),
        ("nurse", "/account/password"),
        ("nurse", "/patients/new"),
    ],
)
def test_every_form_that_marks_a_field_required_says_what_the_mark_means(as_role, world, role, url):
    page = as_role(role).get(url.format(nurse=world.users["nurse"].id)).get_data(as_text=True)
    assert '<span class="req" aria-hidden="true">*</span>' in page
    assert '<p class="required-note"><span class="req">*</span> required</p>' in page
