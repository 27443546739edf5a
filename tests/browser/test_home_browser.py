"""Today in a real browser, role by role: signing in lands on the role's home page, and every count there opens the
list it counts, showing the same number. Screenshots go to artifacts/screenshots/."""

import re
from datetime import datetime, time, timedelta

import pytest
import time_machine
from playwright.sync_api import expect

from tests.browser.test_journey_browser import sign_in
from tests.support.factories import TODAY, implanted_days_ago
from tracker.clinic_zone import clinic_zone
from tracker.formats import fmt_date
from tracker.models import DigestRun, OutboxMessage
from tracker.models.digest import DEAD, SENT
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.services.bookings import book_refill, log_contact
from tracker.services.escalation import ask_physician

NOW = datetime.combine(TODAY, time(11), clinic_zone())
TOMORROW = TODAY + timedelta(days=1)


@pytest.fixture(autouse=True)
def clock():
    """The served app's clock starts at 11:00 on the factories' TODAY (and runs on): "today" and "tomorrow" are the
    days the data was made for, whenever the suite runs."""
    with time_machine.travel(NOW, tick=True):
        yield


@pytest.fixture
def morning(session, world):
    """A pump past its alarm date (asked about), one due soon that a call did not reach, one booked for tomorrow,
    and yesterday's e-mail with two dead letters."""
    late = implanted_days_ago(session, world, 31)
    unreached = implanted_days_ago(session, world, 20)
    booked = implanted_days_ago(session, world, 19)
    book_refill(
        session,
        world.actor("coordinator"),
        booked.id,
        datetime.combine(TOMORROW, time(10), clinic_zone()),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        NOW,
    )
    log_contact(session, world.actor("coordinator"), unreached.id, "phone", "no_answer", "", NOW)
    ask_physician(session, world.actor("nurse"), late.id, BOOKING_AFTER_ALARM, "Earliest slot is Friday", None, NOW)
    yesterday = TODAY - timedelta(days=1)
    session.add_all(
        [
            DigestRun(digest_day=yesterday - timedelta(days=1), built_at=NOW, completed_at=NOW),
            DigestRun(digest_day=yesterday, built_at=NOW, recipients=3, sent=1, dead=2),
        ]
    )
    session.add_all(
        [
            OutboxMessage(
                digest_day=yesterday,
                user_id=world.users[role].id,
                to_address=f"{role}@x.org",
                subject="ITB refills",
                text_body="",
                html_body="",
                message_id=f"<{role}@x>",
                status=SENT if role == "admin" else DEAD,
            )
            for role in ("nurse", "coordinator", "admin")
        ]
    )
    session.commit()
    return {"late": late, "unreached": unreached, "booked": booked}


def lands_on_today(page, world, role):
    sign_in(page, world.users[role].email)
    expect(page).to_have_url(re.compile(r"/$"))
    expect(page.locator("h1")).to_contain_text("Today")


def follow(page, link, url):
    """Click a count on Today and check where it led; back to Today afterwards."""
    count = link.get_attribute("data-count")
    link.click()
    expect(page).to_have_url(url)
    return count


def test_the_nurse_lands_on_today_and_each_count_opens_its_list(page, world, morning, shot):
    lands_on_today(page, world, "nurse")
    needing = page.locator("#needing-h a.home-count")
    expect(needing).to_have_attribute("data-count", "2")
    rows = page.locator("section:has(#needing-h) .home-row")
    expect(rows.first).to_contain_text(morning["late"].mrn)  # most urgent first
    expect(rows.first).to_contain_text("Past the low-reservoir alarm date")
    shot(page, "home-nurse")

    nurse_id = world.users["nurse"].id
    count = follow(page, needing, re.compile(rf"/worklist\?nurse={nurse_id}$"))
    expect(page.locator("h1 .count-badge")).to_have_text(count)
    expect(page.get_by_label("Nurse")).to_have_value(str(nurse_id))
    page.go_back()

    tomorrow = page.locator("h3.home-day a").nth(1)
    expect(tomorrow).to_have_text(re.compile("^1 refill booked"))
    follow(page, tomorrow, re.compile(rf"/calendar\?view=list&date={TOMORROW}&location={world.clinic.id}$"))
    first = page.locator("tbody tr").first  # the list starts on that day: its booked refill first
    expect(first).to_contain_text(morning["booked"].mrn)
    expect(first.locator("td").nth(0)).to_have_text(f"{fmt_date(TOMORROW)} 10:00")
    expect(first.locator("td").nth(1)).to_have_text("Refill")
    page.go_back()

    page.get_by_role("link", name="All my requests").click()
    expect(page).to_have_url(re.compile(r"/queue#mine-h$"))
    mine = page.locator("section[aria-labelledby=mine-h] table tr")
    expect(mine.filter(has_text=morning["late"].mrn)).to_contain_text("Waiting for a physician")


def test_the_coordinator_lands_on_today_and_each_count_opens_its_list(page, world, morning, shot):
    lands_on_today(page, world, "coordinator")
    shot(page, "home-coordinator")
    worklist = re.compile(rf"/worklist\?location={world.clinic.id}$")
    count = follow(page, page.locator("#needing-h a.home-count"), worklist)
    expect(page.locator("h1 .count-badge")).to_have_text(count)
    expect(page.get_by_label("Location")).to_have_value(str(world.clinic.id))
    page.go_back()

    retry = page.locator("#retry-h a.home-count")
    expect(retry).to_have_attribute("data-count", "1")
    follow(page, retry, worklist)
    row = page.locator(f"article#p{morning['unreached'].id}")
    expect(row.locator("summary")).to_contain_text("Contact attempts (1)")
    expect(row.locator("summary")).to_contain_text("no answer")
    page.go_back()

    today = page.locator("h3.home-day a").first
    expect(today).to_have_text(re.compile("^0 refills booked"))
    follow(page, today, re.compile(rf"/calendar\?view=list&date={TODAY}&location={world.clinic.id}$"))
    expect(page.get_by_role("heading", name="Refill calendar")).to_be_visible()


def test_the_physician_lands_on_today_and_each_count_opens_the_queue(page, world, morning, shot):
    lands_on_today(page, world, "physician")
    shot(page, "home-physician")
    count = follow(page, page.locator("#queue-h a.home-count"), re.compile(r"/queue$"))
    expect(page.locator("h1 .count-badge")).to_have_text(count)
    page.go_back()

    asked = page.locator("#tally-h ~ h3 a").first
    count = follow(page, asked, re.compile(r"/queue#asked-h$"))
    expect(page.locator("#asked-h")).to_have_text(f"Requests ({count})")
    page.go_back()

    pumps = page.locator("#tally-h ~ h3 a").nth(1)
    count = follow(page, pumps, re.compile(r"/queue#pumps-h$"))
    expect(page.locator("#pumps-h")).to_contain_text(f"({count})")


def test_the_admin_lands_on_today_and_sees_the_dead_letters(page, world, morning, shot):
    lands_on_today(page, world, "admin")
    shot(page, "home-admin")
    dead = page.locator(".home-health a[data-count='2']")
    expect(dead).to_contain_text("2 e-mails given up on")
    follow(page, dead, re.compile(r"/admin/digest$"))
    expect(page.get_by_role("heading", name="Daily reminder e-mail")).to_be_visible()
    yesterday = page.locator("tbody tr").filter(has_text=fmt_date(TODAY - timedelta(days=1)))
    expect(yesterday.locator("td").nth(3)).to_have_text("2")
    page.go_back()

    last = page.locator(".home-health a").filter(has_text=fmt_date(TODAY - timedelta(days=2)))
    follow(page, last, re.compile(rf"/admin/digest/{TODAY - timedelta(days=2)}$"))
