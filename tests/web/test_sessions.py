"""Sessions kept on the server (issue 18, item 2): signing out ends the session for every copy of its cookie;
idle and absolute limits, a password change, a deactivation and "sign out my other sessions" end sessions the
same way; signing in starts a new session with a new CSRF token.

A copied cookie is a second test client given the first one's session cookie, as an attacker who read it (a
shared computer, a proxy log) would replay it."""

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select

from tests.conftest import PASSWORD
from tests.web.test_accounts import NEW_PASSWORD, change_password, deactivate, is_signed_in, path_of, sign_in
from tests.web.test_audit_per_write import mark, new_rows
from tracker.extensions import db
from tracker.models import User, UserSession
from tracker.services.sessions import Limits, expiry
from tracker.statements import statements_run

START = datetime(2027, 3, 1, 14, 0, tzinfo=UTC)


def copy_of(client, make_client):
    """Another browser holding a copy of `client`'s session cookie."""
    thief = make_client()
    thief.http.set_cookie("session", client.http.get_cookie("session").value)
    thief.token = client.token
    return thief


def cookie_session(client) -> dict:
    """What the signed session cookie holds (the test's app signs it; the test reads it)."""
    serializer = client.app.session_interface.get_signing_serializer(client.app)
    return serializer.loads(client.http.get_cookie("session").value)


def rows(session, email="nurse@example.org") -> list[UserSession]:
    session.expire_all()
    return list(
        session.scalars(select(UserSession).join(UserSession.user).where(User.email == email).order_by(UserSession.id))
    )


def refused_to_sign_in(response, client, message: str = "") -> bool:
    if response.status_code != 302 or path_of(response) != "/login":
        return False
    return message in client.get(response.location).get_data(as_text=True)


# Signing out


def test_a_cookie_copied_before_sign_out_is_refused_after_it(as_role, make_client, session):
    nurse = as_role("nurse")
    copy = copy_of(nurse, make_client)
    assert copy.get("/patients").status_code == 200  # the copy works while the session is open
    assert nurse.post("/logout").status_code == 302
    assert refused_to_sign_in(copy.get("/patients"), copy, "Your session has ended. Please sign in again.")
    [row] = rows(session)
    assert row.ended_reason == "signed_out" and row.ended_at is not None


def test_replaying_the_copied_cookie_every_75_seconds_does_not_revive_it(as_role, make_client):
    with time_machine.travel(START, tick=False) as clock:
        nurse = as_role("nurse")
        captured = nurse.http.get_cookie("session").value
        nurse.post("/logout")
        thief = make_client()
        for _ in range(20):
            clock.shift(timedelta(seconds=75))
            thief.http.set_cookie("session", captured)
            assert thief.get("/patients").status_code == 302


def test_a_form_posted_with_a_copied_cookie_after_sign_out_writes_nothing(as_role, make_client, session):
    nurse = as_role("nurse")
    copy = copy_of(nurse, make_client)
    nurse.post("/logout")
    response = copy.post(
        "/account/password", {"current_password": PASSWORD, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    )
    assert refused_to_sign_in(response, copy)
    assert sign_in(make_client(), "nurse@example.org", PASSWORD).status_code == 302


# Signing in starts a new session


def test_signing_in_issues_a_new_session_and_a_new_csrf_token(client, world, make_client):
    before_token = client.refresh_token("/login")
    before_cookie = client.http.get_cookie("session").value
    client.post("/login", {"email": "nurse@example.org", "password": PASSWORD})
    first = cookie_session(client)["sid"]
    # The token and cookie from before sign-in (which someone could have planted or read) are worth nothing.
    assert client.refresh_token("/account/password") != before_token
    planted = make_client()
    planted.http.set_cookie("session", before_cookie)
    assert planted.get("/patients").status_code == 302
    client.token = before_token
    assert client.post("/account/sessions/end-others").status_code == 400  # the old CSRF token is refused
    client.post("/logout", {"csrf_token": client.refresh_token("/account/password")})
    sign_in(client, "nurse@example.org")
    assert cookie_session(client)["sid"] != first


def test_nothing_binds_a_session_to_the_address_or_browser(as_role):
    """The server-side record ends sessions; an address or User-Agent (both chosen by the client, and a nurse's
    address changes between wards) signs no one out."""
    nurse = as_role("nurse")
    assert (
        nurse.get(
            "/patients", environ_base={"REMOTE_ADDR": "10.9.8.7"}, headers={"User-Agent": "another browser"}
        ).status_code
        == 200
    )


# Idle and absolute limits, on the server


def test_a_session_idle_for_fifteen_minutes_ends_for_every_copy(as_role, make_client, session):
    with time_machine.travel(START, tick=False) as clock:
        nurse = as_role("nurse")
        copy = copy_of(nurse, make_client)
        clock.shift(timedelta(minutes=14))
        assert is_signed_in(nurse)
        clock.shift(timedelta(minutes=14))  # 14 minutes since the last request, 28 since sign-in
        assert is_signed_in(copy)  # either copy's request keeps the one session alive
        clock.shift(timedelta(minutes=15, seconds=1))
        assert refused_to_sign_in(nurse.get("/patients?q=Lovelace"), nurse, "signed out after a period of inactivity")
        assert copy.get("/patients").status_code == 302  # the copy's cookie still says nothing of idleness
        [row] = rows(session)
        assert row.ended_reason == "idle" and row.ended_at == START + timedelta(minutes=43, seconds=1)


def test_a_session_ends_after_twelve_hours_however_active(as_role, session):
    with time_machine.travel(START, tick=False) as clock:
        nurse = as_role("nurse")
        for _ in range(12 * 6 - 1):
            clock.shift(timedelta(minutes=10))
            assert is_signed_in(nurse)
        clock.shift(timedelta(minutes=10, seconds=1))
        assert refused_to_sign_in(nurse.get("/patients"), nurse, "the longest session allowed")
        assert rows(session)[0].ended_reason == "too_long"


def test_the_limits_are_the_settings(as_role, app, monkeypatch):
    monkeypatch.setitem(app.config, "IDLE_TIMEOUT_MINUTES", 5)
    with time_machine.travel(START, tick=False) as clock:
        nurse = as_role("nurse")
        clock.shift(timedelta(minutes=5, seconds=1))
        assert nurse.get("/patients").status_code == 302


def test_expiry_worked_by_hand():
    limits = Limits(idle=timedelta(minutes=15), longest=timedelta(hours=12))
    eight = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)
    nine = eight + timedelta(hours=1)
    assert expiry(eight, nine, nine + timedelta(minutes=15), limits) is None
    assert expiry(eight, nine, nine + timedelta(minutes=15, seconds=1), limits) == "idle"
    at_20 = eight + timedelta(hours=12)
    assert expiry(eight, at_20 - timedelta(minutes=10), at_20, limits) is None
    assert expiry(eight, at_20, at_20 + timedelta(seconds=1), limits) == "too_long"


def test_last_seen_is_written_at_most_once_a_minute(as_role, app):
    """A page costs one statement for the session (the session row and user in one SELECT); "last seen" adds an
    UPDATE at most once a minute per session."""
    with app.app_context():
        engine = db.engine
    with time_machine.travel(START, tick=False) as clock:
        nurse = as_role("nurse")
        with statements_run(engine) as seen:
            for _ in range(18):  # three minutes, a page every 10 seconds
                clock.shift(timedelta(seconds=10))
                assert nurse.get("/account/password").status_code == 200
        touches = [s for s in seen if s.lstrip().upper().startswith("UPDATE USER_SESSION")]
        assert len(touches) == 3
        assert len(seen) == 18 + 3  # the password page reads nothing else


# Password change and deactivation end sessions


def test_a_password_change_ends_every_other_session_and_every_copy_of_this_one(as_role, make_client, session):
    at_desk = as_role("nurse")
    on_ward = as_role("nurse")
    copy = copy_of(at_desk, make_client)
    old_sid = cookie_session(at_desk)["sid"]
    assert change_password(at_desk, PASSWORD, NEW_PASSWORD).status_code == 302
    assert is_signed_in(at_desk) and cookie_session(at_desk)["sid"] != old_sid  # this browser, a new session
    assert refused_to_sign_in(on_ward.get("/patients"), on_ward, "Your password was changed")
    assert copy.get("/patients").status_code == 302
    assert [r.ended_reason for r in rows(session)] == ["password_changed", "password_changed", None]


def test_deactivating_a_user_ends_their_sessions_and_reactivating_revives_none(as_role, world, make_client, session):
    on_ward, at_desk = as_role("nurse"), as_role("nurse")
    admin = as_role("admin")
    deactivate(admin, world.users["nurse"].id)
    assert [r.ended_reason for r in rows(session)] == ["deactivated", "deactivated"]
    admin.post(f"/admin/users/{world.users['nurse'].id}/active", {"active": "1"})
    assert on_ward.get("/patients").status_code == 302 and at_desk.get("/patients").status_code == 302


# Seeing and ending one's own sessions


def test_a_nurse_sees_her_open_sessions_and_which_one_is_this(as_role, session):
    with time_machine.travel(START, tick=False) as clock:
        first = as_role("nurse")
        clock.shift(timedelta(minutes=5))
        second = as_role("nurse")
        as_role("coordinator")  # someone else's: not listed
        first.post("/logout")
        page = second.get("/account/sessions").get_data(as_text=True)
        assert "Your sessions" in second.get("/account/password").get_data(as_text=True)
    assert page.count("<tr>") == 2  # the header and one open session (the first is signed out)
    assert "This session" in page and "Sign out all my other sessions" not in page


def test_ending_my_other_sessions_keeps_this_one(as_role, world, session):
    here, phone, ward = as_role("nurse"), as_role("nurse"), as_role("nurse")
    coordinator = as_role("coordinator")
    since = mark(session)
    page = here.get("/account/sessions").get_data(as_text=True)
    assert page.count("This session") == 1 and page.count('/end" class="inline"') == 2
    response = here.post("/account/sessions/end-others")
    assert response.status_code == 302
    assert "Signed out 2 other sessions." in here.get(response.location).get_data(as_text=True)
    assert is_signed_in(here) and is_signed_in(coordinator)
    assert refused_to_sign_in(phone.get("/patients"), phone, "signed out from another of your sessions")
    assert ward.get("/patients").status_code == 302
    [audit] = new_rows(session, since)
    assert (audit.action, audit.entity, audit.entity_id) == ("update", "user", world.users["nurse"].id)
    assert audit.after == {"sessions": "ended 2 other"}


def test_ending_one_other_session_and_never_someone_elses(as_role, session):
    here, phone = as_role("nurse"), as_role("nurse")
    coordinator = as_role("coordinator")
    nurse_rows = rows(session)
    phone_id = nurse_rows[1].id
    theirs = rows(session, "coordinator@example.org")[0].id
    assert here.post(f"/account/sessions/{theirs}/end").status_code == 404
    assert is_signed_in(coordinator)
    assert here.post(f"/account/sessions/{phone_id}/end").status_code == 302
    assert phone.get("/patients").status_code == 302 and is_signed_in(here)
