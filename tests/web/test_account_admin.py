"""The administrator edits accounts, resets a forgotten password and unlocks an account the sign-in limits slow
(issue 19, item 6). Every change is audited; a reset's password is shown once and written nowhere."""

import logging
import re
import secrets
import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select

from tests.conftest import PASSWORD, Client
from tests.support.factories import make_user
from tests.web.test_accounts import (
    NEW_PASSWORD,
    WRONG_LOGIN,
    change_password,
    error_beside,
    is_signed_in,
    path_of,
    row_counts,
    sign_in,
)
from tests.web.test_sign_in_protection import (  # noqa: F401  (cheap_passwords: a fixture)
    CAFE,
    CLINIC,
    HOME,
    START,
    attempt,
    cheap_passwords,
    limited,
    redis_reachable,
    waits,
)
from tracker.auth.throttle import Attempt
from tracker.models import AuditEvent, User
from tracker.services import Actor, DomainError
from tracker.services.accounts import locked_users, set_active

CLI = Actor(user_id=None, role="admin", address="cli")


def edit_form(user, **changes) -> dict:
    data = {
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
        "location_id": str(user.location_id or ""),
        "version": str(user.version),
    }
    return data | changes


def edit(admin, user, **changes):
    admin.refresh_token(f"/admin/users/{user.id}/edit")
    return admin.post(f"/admin/users/{user.id}/edit", edit_form(user, **changes))


def audit_rows(session, entity="user"):
    session.expire_all()
    return session.scalars(select(AuditEvent).where(AuditEvent.entity == entity).order_by(AuditEvent.id)).all()


def fresh(session, user) -> User:
    session.expire_all()
    return session.get(User, user.id)


# Editing an account


def test_admin_edits_a_nurses_name_e_mail_role_and_home_clinic(as_role, world, session, make_client):
    nurse, admin = world.users["nurse"], as_role("admin")
    users_page = admin.get("/admin/users").get_data(as_text=True)
    assert f'href="/admin/users/{nurse.id}/edit"' in users_page
    buckhead = world.sites["Buckhead Clinic"]
    response = edit(
        admin,
        nurse,
        full_name="  Kim   Okafor ",
        email="kim.okafor@example.org",
        role="coordinator",
        location_id=str(buckhead.id),
    )
    assert response.status_code == 302 and path_of(response) == "/admin/users"
    user = fresh(session, nurse)
    assert (user.full_name, user.email, user.role, user.location_id) == (
        "Kim Okafor",
        "kim.okafor@example.org",
        "coordinator",
        buckhead.id,
    )
    row = audit_rows(session)[-1]
    assert (row.action, row.entity_id, row.user_id) == ("update", nurse.id, world.users["admin"].id)
    assert row.before == {
        "email": "nurse@example.org",
        "full_name": "Test Nurse",
        "role": "nurse",
        "location_id": world.clinic.id,
    }
    assert row.after == {
        "email": "kim.okafor@example.org",
        "full_name": "Kim Okafor",
        "role": "coordinator",
        "location_id": buckhead.id,
    }
    assert sign_in(make_client(), "kim.okafor@example.org").status_code == 302
    assert sign_in(make_client(), "nurse@example.org").status_code == 200


def test_saving_an_unchanged_form_writes_no_audit_row(as_role, world, session):
    before, admin = len(audit_rows(session)), as_role("admin")
    response = edit(admin, world.users["nurse"])
    assert response.status_code == 302
    assert "Nothing changed." in admin.get(response.location).get_data(as_text=True)
    assert len(audit_rows(session)) == before


def test_an_e_mail_another_account_has_is_refused_beside_the_field_keeping_what_was_typed(as_role, world, session):
    nurse = world.users["nurse"]
    response = edit(as_role("admin"), nurse, email="Physician@Example.org", full_name="Kim Typed")
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert error_beside(page, "email") == "A user with this e-mail already exists."
    assert 'value="Kim Typed"' in page
    assert fresh(session, nurse).email == "nurse@example.org"


def test_the_last_active_administrator_cannot_demote_themselves(as_role, world, session):
    admin_user, admin = world.users["admin"], as_role("admin")
    before = row_counts(session)
    response = edit(admin, admin_user, role="nurse")
    assert response.status_code == 422
    assert error_beside(response.get_data(as_text=True), "role") == (
        "Test Admin is the last active administrator: make another user an administrator first, or nobody could "
        "manage accounts."
    )
    assert fresh(session, admin_user).role == "admin"
    assert row_counts(session) == before


def test_a_deactivated_administrator_does_not_count_as_another(as_role, world, session):
    other = make_user(session, "admin", "second.admin@example.org", world.clinic)
    admin = as_role("admin")
    admin.refresh_token("/admin/users")
    assert admin.post(f"/admin/users/{other.id}/active", {"active": "0"}).status_code == 302
    assert edit(admin, world.users["admin"], role="physician").status_code == 422
    assert fresh(session, world.users["admin"]).role == "admin"


def test_with_a_second_administrator_one_may_step_down_and_lands_outside_the_admin_pages(as_role, world, session):
    make_user(session, "admin", "second.admin@example.org", world.clinic)
    admin = as_role("admin")
    response = edit(admin, world.users["admin"], role="physician")
    assert response.status_code == 302 and path_of(response) == "/"
    assert fresh(session, world.users["admin"]).role == "physician"
    assert admin.get("/admin/users").status_code == 403


def test_deactivating_the_last_active_administrator_is_refused(world, session):
    """The web form cannot (an admin never deactivates themselves); the rule holds for any caller."""
    with pytest.raises(DomainError, match="last active administrator"):
        set_active(session, CLI, world.users["admin"], False, datetime.now(UTC))
    session.rollback()
    assert fresh(session, world.users["admin"]).active is True


def test_two_administrators_editing_one_account_the_second_save_is_refused_and_shows_the_saved_values(
    as_role, world, session, app
):
    nurse = world.users["nurse"]
    make_user(session, "admin", "second.admin@example.org", world.clinic)
    first, second = as_role("admin"), Client(app)
    second.login("second.admin@example.org")
    opened_first, opened_second = edit_form(nurse, full_name="Kim Okafor"), edit_form(nurse, role="physician")
    first.refresh_token(f"/admin/users/{nurse.id}/edit")
    second.refresh_token(f"/admin/users/{nurse.id}/edit")
    assert first.post(f"/admin/users/{nurse.id}/edit", opened_first).status_code == 302
    response = second.post(f"/admin/users/{nurse.id}/edit", opened_second)
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone else saved this account after you opened the form." in page
    assert 'value="Kim Okafor"' in page, "the form shows the saved values"
    assert "What you typed (not saved):" in page and "<li>Role: Physician</li>" in page
    user = fresh(session, nurse)
    assert (user.full_name, user.role) == ("Kim Okafor", "nurse")


@pytest.mark.parametrize("role", ["nurse", "coordinator", "physician"])
def test_only_the_admin_may_edit_reset_or_unlock_an_account(as_role, world, session, role):
    someone, target = as_role(role), world.users["admin"]
    before = row_counts(session)
    assert someone.get(f"/admin/users/{target.id}/edit").status_code == 403
    assert someone.post(f"/admin/users/{target.id}/edit", edit_form(target, role="nurse")).status_code == 403
    assert someone.post(f"/admin/users/{target.id}/reset-password").status_code == 403
    assert someone.post(f"/admin/users/{target.id}/unlock").status_code == 403
    assert row_counts(session) == before


# Resetting a password


def reset(admin, user):
    admin.refresh_token(f"/admin/users/{user.id}/edit")
    return admin.post(f"/admin/users/{user.id}/reset-password")


def one_time_password(response) -> str:
    match = re.search(r'id="one-time-password">([^<]+)</p>', response.get_data(as_text=True))
    assert match, response.get_data(as_text=True)[:800]
    return match.group(1)


def test_a_reset_password_is_shown_once_ends_the_users_sessions_and_is_audited_without_the_password(
    as_role, world, session, make_client, caplog
):
    nurse = world.users["nurse"]
    at_desk = as_role("nurse")
    with caplog.at_level(logging.INFO):
        response = reset(as_role("admin"), nurse)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    password = one_time_password(response)
    assert re.fullmatch(r"[a-z2-9]{4}(-[a-z2-9]{4}){3}", password)
    assert password not in caplog.text
    response = at_desk.get("/patients")
    assert response.status_code == 302 and path_of(response) == "/login"
    assert WRONG_LOGIN in sign_in(make_client(), nurse.email, PASSWORD).get_data(as_text=True)
    row = audit_rows(session)[-1]
    assert (row.action, row.entity_id, row.user_id) == ("update", nurse.id, world.users["admin"].id)
    assert row.after == {"password": "reset", "must_change_password": True, "sessions_ended": 1}
    assert password not in str(row.before) + str(row.after)
    assert fresh(session, nurse).must_change_password is True


@pytest.mark.slow
def test_after_a_reset_every_page_sends_the_user_to_choose_a_password_until_they_have(
    as_role, world, session, make_client
):
    nurse = world.users["nurse"]
    password = one_time_password(reset(as_role("admin"), nurse))
    client = make_client()
    assert sign_in(client, nurse.email, password).status_code == 302
    client.refresh_token("/account/password")
    for url in ("/", "/patients", "/board", "/calendar", "/worklist", "/account/sessions", "/calculator"):
        response = client.get(url)
        assert response.status_code == 302 and path_of(response) == "/account/password", url
    response = client.post("/patients/new", {"mrn": "X1"})
    assert response.status_code == 302 and path_of(response) == "/account/password"
    page = client.get("/account/password").get_data(as_text=True)
    assert "An administrator has reset your password." in page
    response = change_password(client, password, password)
    assert (
        error_beside(response.get_data(as_text=True), "password") == "Choose a password different from the current one."
    )
    response = change_password(client, password, NEW_PASSWORD)
    assert response.status_code == 302
    assert is_signed_in(client) and client.get("/calendar").status_code == 200
    assert fresh(session, nurse).must_change_password is False
    assert audit_rows(session)[-1].after == {"password": "changed"}
    assert audit_rows(session)[-1].user_id == nurse.id


def test_signing_out_still_works_while_a_password_change_is_due(as_role, world, make_client):
    password = one_time_password(reset(as_role("admin"), world.users["nurse"]))
    client = make_client()
    client.login(world.users["nurse"].email, password)
    response = client.post("/logout")
    assert response.status_code == 302 and path_of(response) == "/login"
    response = client.get("/patients")
    assert response.status_code == 302 and path_of(response) == "/login"


def test_an_admin_resets_their_own_password_on_the_change_password_page_instead(as_role, world, session):
    admin = as_role("admin")
    response = reset(admin, world.users["admin"])
    assert response.status_code == 302 and path_of(response) == f"/admin/users/{world.users['admin'].id}/edit"
    assert "This is your own account" in admin.get(response.location).get_data(as_text=True)
    assert fresh(session, world.users["admin"]).must_change_password is False


# Unlocking an account the sign-in limits slow


@pytest.fixture
def limited_app(database_url, app, cheap_passwords):  # noqa: F811
    """The sign-in limits on, counting in this process's memory (memory://), as `make run` has them."""
    return limited(database_url)


def admin_of(app) -> Client:
    admin = Client(app)
    admin.http.environ_base["REMOTE_ADDR"] = CLINIC
    admin.login("admin@example.org")
    return admin


def locked_on_page(admin) -> set[str]:
    page = admin.get("/admin/users").get_data(as_text=True)
    rows = re.findall(r"<tr>(.*?)</tr>", page, re.S)
    return {
        re.search(r"<td>[^<]*</td><td>([^<]+)</td>", row).group(1) for row in rows if 'class="badge risk">Locked' in row
    }


def test_a_nurse_slowed_by_wrong_passwords_is_shown_locked_and_unlocked_signs_in_at_once(limited_app, world, session):
    nurse = world.users["nurse"]
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(6):  # a pair past its 3 free failures: 4 s to wait at the sixth
            clock.shift(timedelta(seconds=10))
            assert attempt(limited_app, nurse.email, "forgot it", CAFE).status_code == 200
        assert waits(attempt(limited_app, nurse.email, PASSWORD, CAFE)) == 4
        admin = admin_of(limited_app)
        assert locked_on_page(admin) == {nurse.email}
        today = admin.get("/").get_data(as_text=True)  # the admin's Today counts it and links to Users
        assert '<a href="/admin/users" data-count="1"><b>1 account</b> locked</a>' in today
        with limited_app.app_context():
            assert set(locked_users(session, limited_app.extensions["sign_in_limits"], datetime.now(UTC))) == {nurse.id}
        page = admin.get("/admin/users").get_data(as_text=True)
        assert f'action="/admin/users/{nurse.id}/unlock"' in page
        assert "Locked" in admin.get(f"/admin/users/{nurse.id}/edit").get_data(as_text=True)

        admin.refresh_token("/admin/users")
        response = admin.post(f"/admin/users/{nurse.id}/unlock")
        assert response.status_code == 302
        assert "Test Nurse can sign in again at once" in admin.get(response.location).get_data(as_text=True)
        assert locked_on_page(admin) == set()
        assert 'data-count="0"><b>0 accounts</b> locked' in admin.get("/").get_data(as_text=True)
        assert attempt(limited_app, nurse.email, PASSWORD, CAFE).status_code == 302  # no wait, same address
    row = audit_rows(session)[-1]
    assert (row.action, row.entity_id, row.after) == ("update", nurse.id, {"sign_in": "unlocked"})


def test_guesses_from_many_addresses_lock_the_account_for_new_browsers_until_unlocked(limited_app, world):
    nurse = world.users["nurse"]
    with time_machine.travel(START, tick=False):
        for n in range(11):  # one guess from each of 11 addresses: the account-wide count passes its 10 free
            attempt(limited_app, nurse.email, "guess", f"10.0.0.{n + 1}")
        assert waits(attempt(limited_app, nurse.email, PASSWORD, HOME)) == 1
        admin = admin_of(limited_app)
        assert locked_on_page(admin) == {nurse.email}
        admin.refresh_token("/admin/users")
        admin.post(f"/admin/users/{nurse.id}/unlock")
        assert attempt(limited_app, nurse.email, PASSWORD, HOME).status_code == 302
        # The counts start afresh: the free failures are free again.
        for _ in range(3):
            assert attempt(limited_app, nurse.email, "typo", "10.0.0.1").status_code == 200
        assert locked_on_page(admin) == set()


def test_a_correct_sign_in_after_a_few_typos_leaves_the_account_unlocked(limited_app, world):
    nurse = world.users["nurse"]
    with time_machine.travel(START, tick=False) as clock:
        for _ in range(4):
            attempt(limited_app, nurse.email, "typo", CAFE)
        admin = admin_of(limited_app)
        assert locked_on_page(admin) == {nurse.email}
        clock.shift(timedelta(seconds=1))
        assert attempt(limited_app, nurse.email, PASSWORD, CAFE).status_code == 302
        assert locked_on_page(admin) == set()


def test_a_reset_unlocks_the_account_too(limited_app, world):
    nurse = world.users["nurse"]
    with time_machine.travel(START, tick=False):
        for _ in range(6):
            attempt(limited_app, nurse.email, "forgot it", CAFE)
        admin = admin_of(limited_app)
        password = one_time_password(reset(admin, nurse))
        assert locked_on_page(admin) == set()
        assert attempt(limited_app, nurse.email, password, CAFE).status_code == 302


def test_unlocking_where_the_limits_are_off_says_so(as_role, world, session):
    admin = as_role("admin")
    admin.refresh_token("/admin/users")
    response = admin.post(f"/admin/users/{world.users['nurse'].id}/unlock")
    assert "Sign-in limits are off in this installation" in admin.get(response.location).get_data(as_text=True)
    assert [row.after for row in audit_rows(session)] == []


@pytest.mark.skipif(not redis_reachable(), reason="no redis-server on 127.0.0.1:6379 (.ci/run starts one)")
@pytest.mark.usefixtures("cheap_passwords")
def test_an_unlock_on_one_worker_frees_the_account_on_every_worker_through_redis(database_url, app, world):
    secret, uri = secrets.token_hex(16), "redis://127.0.0.1:6379/0"  # a fresh secret keeps this run's keys apart
    first, second = (limited(database_url, SECRET_KEY=secret, RATELIMIT_STORAGE_URI=uri) for _ in range(2))
    limits, email = first.extensions["sign_in_limits"], world.users["nurse"].email
    try:
        with time_machine.travel(START, tick=False):
            for _ in range(6):
                attempt(first, email, "forgot it", CAFE)
            admin = admin_of(second)
            assert locked_on_page(admin) == {email}
            admin.refresh_token("/admin/users")
            admin.post(f"/admin/users/{world.users['nurse'].id}/unlock")
            assert locked_on_page(admin) == set()
            assert attempt(first, email, PASSWORD, CAFE).status_code == 302
    finally:
        for generation in (0, 1):
            account = limits._account(email, generation)
            keys = [key for key, _ in limits._counts(Attempt(email, CAFE, "", known=False), generation)]
            for key in [*keys, limits._key("locked", account)]:
                limits.store.forget(key)
        limits.store.forget(limits._key("generation", email))


def test_two_administrators_demoting_each_other_at_once_leave_one_administrator(app, world, session):
    """PostgreSQL: the second demotion waits for the first's locks, then counts its change and is refused. (SQLite
    has one writer: the lock that begins the change is already the whole database's.)"""
    if session.get_bind().dialect.name != "postgresql":
        pytest.skip("PostgreSQL's row locks; SQLite serialises every change")
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from tracker.services.accounts import _lock_account, update_user

    other = make_user(session, "admin", "second.admin@example.org", world.clinic)
    first = world.users["admin"]
    first_id, other_id, version = first.id, other.id, first.version
    values = {"email": first.email, "full_name": first.full_name, "role": "nurse", "location_id": first.location_id}
    session.commit()  # nothing of this test's own session stays open
    engine, errors = session.get_bind(), []

    def demote_first_as_other():
        with Session(bind=engine) as mine:
            try:
                update_user(mine, Actor(other_id, "admin", "10.0.0.2"), first_id, version, values)
            except DomainError as error:
                errors.append(error.message)

    with Session(bind=engine) as holding:  # the first administrator's demotion of the other, under way
        _lock_account(holding, other_id, guard_admins=True)
        racer = threading.Thread(target=demote_first_as_other)
        racer.start()
        with Session(bind=engine) as watch:  # until the racer waits on the locks held here
            for _ in range(20_000):
                if watch.scalar(text("select count(*) from pg_stat_activity where wait_event_type = 'Lock'")):
                    break
                watch.rollback()
            else:
                holding.rollback()
                racer.join()
                pytest.fail("the second demotion did not wait for the first's locks")
        holding.get(User, other_id).role = "nurse"
        holding.commit()
        racer.join()
    assert errors and "last active administrator" in errors[0]
    assert (fresh(session, first).role, fresh(session, other).role) == ("admin", "nurse")
