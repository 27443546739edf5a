"""Every main page on a tablet (820 px) and a phone (390 px): nothing scrolls sideways, and axe-core finds nothing
serious or critical (issue 19). PAGES is the one list of main pages both checks walk: a new page goes there, as
whoever works on it.

axe-core is test tooling, vendored from npm under tests/browser/vendor/ (never served to users)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from tests.support.factories import CLINIC_ZONE, PASSWORD, TODAY, implanted_days_ago
from tests.web.test_query_counts import implanted_patient
from tracker.demo import seed_demo
from tracker.models import OutboxMessage, Patient, PhysicianRequest
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.services import digest
from tracker.services.bookings import book_refill
from tracker.services.escalation import ask_physician

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
TABLET, PHONE, DESKTOP = 820, 390, 1280
SERIOUS = ("serious", "critical")
SHOTS = {"worklist": "worklist", "calendar month": "calendar", "patient page": "patient", "users": "users"}


@dataclass(frozen=True)
class Page:
    name: str
    role: str | None  # who works there; None: signed out
    path: str  # may name {patient} (adjustment, pump with refill history), {day} (today), {tomorrow}


PAGES = [
    Page("login", None, "/login"),
    Page("password", "nurse", "/account/password"),
    Page("sessions", "nurse", "/account/sessions"),
    Page("calendar feed", "coordinator", "/account/calendar"),
    Page("today, nurse", "nurse", "/"),
    Page("today, coordinator", "coordinator", "/"),
    Page("today, physician", "physician", "/"),
    Page("today, admin", "admin", "/"),
    Page("patient list", "nurse", "/patients"),
    Page("search, several found", "nurse", "/patients?q=a&status=all"),
    Page("patient page", "nurse", "/patients/{patient}"),
    Page("refill form", "nurse", "/patients/{patient}/refill"),
    Page("emergency summary", "nurse", "/patients/{patient}/emergency"),
    Page("new patient form", "nurse", "/patients/new"),
    Page("stage board", "nurse", "/board"),
    Page("calculator", "nurse", "/calculator/"),
    Page("import", "nurse", "/import/"),
    Page("calendar month", "coordinator", "/calendar?date={day}"),
    Page("calendar week", "coordinator", "/calendar?view=week&date={day}"),
    Page("calendar list", "coordinator", "/calendar?view=list&date={day}"),
    Page("worklist", "coordinator", "/worklist"),
    Page("printed worklist", "coordinator", "/worklist/print"),
    Page("printed day list", "coordinator", "/calendar/print?span=day&date={tomorrow}"),
    Page("printed week list", "coordinator", "/calendar/print?span=week&date={tomorrow}"),
    Page("booking form", "coordinator", "/patients/{patient}/book"),
    Page("physician queue", "physician", "/queue"),
    Page("quality dashboard", "physician", "/quality"),
    Page("users", "admin", "/admin/users"),
    Page("edit a user", "admin", "/admin/users/{nurse}/edit"),
    Page("settings", "admin", "/admin/settings"),
    Page("catalogue", "admin", "/admin/catalogue"),
    Page("e-mails", "admin", "/admin/digest"),
    Page("e-mails of a day", "admin", "/admin/digest/{day}"),
    Page("an e-mail's text", "admin", "/admin/digest/messages/{message}"),
    Page("audit", "admin", "/admin/audit"),
]


@pytest.fixture
def clinic(session, world, app):
    """A small clinic's day: demo patients in every stage at the world's clinic (the users' home), pumps at every
    urgency, a long name booked for tomorrow 14:30, a physician request open, today's e-mails built. The ids it
    returns fill the {names} in PAGES' paths."""
    seed_demo(session, 30, 19, TODAY, "demo-password-1234")
    session.execute(Patient.__table__.update().values(location_id=world.clinic.id))
    session.commit()
    for days_ago in (33, 31, 26, 20):  # empty soon, past the alarm, overdue, due soon (factories' default pump)
        implanted_days_ago(session, world, days_ago).phone = "(770) 555-0199"
    booked = implanted_days_ago(session, world, 21)
    booked.first_name, booked.last_name, booked.phone = "Maria-Fernanda", "Castellanos-Whitfield", "+1 770 555 0142"
    book_refill(
        session,
        world.actor("coordinator"),
        booked.id,
        datetime.combine(TODAY + timedelta(days=1), time(14, 30), CLINIC_ZONE),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        datetime.now(UTC),
    )
    session.commit()
    patient = implanted_patient(session)
    ask_physician(
        session,
        world.actor("coordinator"),
        patient,
        BOOKING_AFTER_ALARM,
        "No clinic slot before Friday; may we book then?",
        None,
        datetime.now(UTC),
    )
    session.commit()
    assert session.scalar(select(PhysicianRequest.id)) is not None
    now = datetime.combine(TODAY, datetime.min.time(), UTC) + timedelta(hours=12)
    digest.build_outbox(session, TODAY, now, digest.DigestOptions.from_config(app.config, "test"))
    message = session.scalar(select(OutboxMessage.id).where(OutboxMessage.to_address == world.users["nurse"].email))
    return {
        "patient": patient,
        "day": TODAY.isoformat(),
        "tomorrow": (TODAY + timedelta(days=1)).isoformat(),
        "nurse": world.users["nurse"].id,
        "message": message,
    }


def sign_in(browser, live_server, world, role: str | None):
    context = browser.new_context(base_url=live_server, viewport={"width": DESKTOP, "height": 900})
    page = context.new_page()
    page.set_default_timeout(10_000)
    if role:
        page.goto("/login")
        page.get_by_label("E-mail").fill(world.users[role].email)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator(".topbar .who summary")).to_have_text(world.users[role].full_name)
    return page


@pytest.fixture
def pages_by_role(browser, live_server, world):
    """One signed-in browser tab per role, opened when first asked for."""
    opened = {}

    def tab(role):
        if role not in opened:
            opened[role] = sign_in(browser, live_server, world, role)
        return opened[role]

    yield tab
    for page in opened.values():
        page.context.close()


def visit(tab, page: Page, ids: dict, width: int):
    browser_page = tab(page.role)
    browser_page.set_viewport_size({"width": width, "height": 900})
    response = browser_page.goto(page.path.format(**ids))
    assert response.status == 200, (page.name, response.status)
    browser_page.wait_for_load_state("load")
    return browser_page


def overflow(browser_page) -> int:
    """How many pixels the page is wider than the window (0: no sideways scrolling)."""
    return browser_page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


def axe_findings(browser_page, impacts=SERIOUS) -> list[dict]:
    """axe-core's violations of those impacts: rule, impact, how many elements, the first one and why."""
    if not browser_page.evaluate("typeof window.axe !== 'undefined'"):
        browser_page.evaluate(AXE.read_text())  # evaluated by the driver: the page's CSP does not apply
    result = browser_page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "rule": v["id"],
            "impact": v["impact"],
            "nodes": len(v["nodes"]),
            "first": v["nodes"][0]["target"],
            "why": " ".join(v["nodes"][0]["failureSummary"].split())[:300],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]


def test_no_main_page_scrolls_sideways_on_a_tablet_or_a_phone(clinic, pages_by_role, shot):
    wider = {}
    for width in (TABLET, PHONE):
        for page in PAGES:
            browser_page = visit(pages_by_role, page, clinic, width)
            if (extra := overflow(browser_page)) > 0:
                wider[f"{page.name} at {width} px"] = f"{extra} px too wide"
                shot(browser_page, f"too-wide-{re.sub(r'[^a-z]+', '-', page.name)}-{width}")
            if page.name in SHOTS:
                shot(browser_page, f"{SHOTS[page.name]}-{'tablet' if width == TABLET else 'phone'}")
    assert wider == {}


def test_no_main_page_has_a_serious_or_critical_accessibility_finding(clinic, pages_by_role):
    found = []
    for width in (DESKTOP, PHONE):
        for page in PAGES:
            for f in axe_findings(visit(pages_by_role, page, clinic, width)):
                found.append(
                    f"{page.name} at {width} px: {f['rule']} ({f['impact']}) on {f['nodes']} element(s), "
                    f"first {f['first']}: {f['why']}"
                )
    assert not found, "\n".join(found)


def test_on_a_phone_the_menu_opens_from_its_button_and_the_calendar_is_a_list_of_days(clinic, pages_by_role, shot):
    admin = visit(pages_by_role, Page("users", "admin", "/admin/users"), clinic, PHONE)
    menu = admin.get_by_role("navigation", name="Main")
    expect(menu.get_by_role("link", name="Worklist")).to_be_hidden()  # folded away behind its button
    menu.get_by_text("Menu", exact=True).click()
    expect(menu.get_by_role("link", name="Worklist")).to_be_visible()
    menu.get_by_text("Admin", exact=True).click()
    shot(admin, "menu-phone-open", full_page=False)
    menu.get_by_role("link", name="Audit").click()
    expect(admin.get_by_role("heading", name="Audit", exact=False).first).to_be_visible()
    expect(menu.get_by_role("link", name="Worklist")).to_be_hidden()  # closed again on the next page

    coordinator = visit(
        pages_by_role, Page("calendar", "coordinator", "/calendar?view=week&date={tomorrow}"), clinic, PHONE
    )
    booked = coordinator.locator("a.chip.kind-appointment").filter(has_text="Castellanos-Whitfield, M.")
    expect(booked).to_contain_text("14:30")
    expect(booked).not_to_contain_text("MRN")  # the name, not the record number
    expect(booked.locator(".sr-only")).to_have_text(re.compile(r": \S"))  # its urgency in words, not colour alone
    day = coordinator.locator(".cal-grid td").filter(has=booked)
    expect(day.locator(".daynum")).to_contain_text((TODAY + timedelta(days=1)).strftime("%A"))

    worklist = visit(pages_by_role, Page("worklist", "coordinator", "/worklist"), clinic, PHONE)
    phone = worklist.locator(".work-row .phone").first
    assert phone.evaluate("span => span.getClientRects().length") == 1  # one line: a number never wraps


def test_on_a_desktop_the_menu_is_one_row_and_the_admin_pages_fold_under_admin(clinic, pages_by_role, shot):
    admin = visit(pages_by_role, Page("users", "admin", "/admin/users"), clinic, DESKTOP)
    menu = admin.get_by_role("navigation", name="Main")
    expect(menu.get_by_text("Menu", exact=True)).to_be_hidden()
    links = [menu.get_by_role("link", name=name, exact=True) for name in ("Patients", "Worklist", "Calculator")]
    tops = {round(link.bounding_box()["y"]) for link in links}
    assert len(tops) == 1  # one row
    header = admin.locator("header.topbar").bounding_box()
    brand = admin.get_by_role("link", name="ITB tracker").bounding_box()
    search = admin.get_by_role("searchbox", name="Find a patient").bounding_box()
    assert header["height"] < 100, "brand, search and menu share one row (two rows were 121 px)"
    assert abs(brand["y"] - search["y"]) < 20 and abs(search["y"] - next(iter(tops))) < 20
    expect(menu.get_by_role("button", name="Sign out")).to_be_hidden()
    menu.locator(".who summary").click()  # the account's drop-down: role, password, browsers, feed, sign-out
    expect(menu.get_by_role("link", name="Change password")).to_be_visible()
    expect(menu.get_by_role("button", name="Sign out")).to_be_visible()
    expect(menu.get_by_role("link", name="Users")).to_be_hidden()
    menu.get_by_text("Admin", exact=True).click()
    shot(admin, "menu-desktop-admin", full_page=False)
    menu.get_by_role("link", name="E-mails").click()
    expect(admin.get_by_role("heading", name=re.compile("e-mail", re.I)).first).to_be_visible()
