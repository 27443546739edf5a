"""reset-password: the operator sets an account's password from the server (an administrator locked out, say)."""

import pytest
from sqlalchemy import select

from tests.conftest import PASSWORD, Client
from tracker.models import AuditEvent, User, UserSession

NEW = "a-long-enough-password"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def reset(runner, email, password_line, *flags):
    return runner.invoke(args=["reset-password", "--email", email, *flags], input=password_line)


def test_reset_password_reads_stdin_signs_the_user_out_and_needs_no_change_afterwards(app, runner, world, session):
    signed_in = Client(app)
    signed_in.login("admin@example.org")
    result = reset(runner, "ADMIN@example.org", NEW + "\n")
    assert result.exit_code == 0, result.output
    assert "Password reset for admin@example.org; their sessions are signed out." in result.output
    assert NEW not in result.output
    assert signed_in.get("/patients").status_code == 302
    session.expire_all()
    user = session.scalar(select(User).where(User.email == "admin@example.org"))
    assert user.must_change_password is False
    assert session.scalars(select(UserSession).where(UserSession.ended_at.is_(None))).all() == []
    client = Client(app)
    client.login("admin@example.org", NEW)
    assert client.get("/admin/users").status_code == 200  # no forced change: the operator chose this password
    row = session.scalars(select(AuditEvent).where(AuditEvent.entity == "user")).all()[-1]
    assert (row.user_id, row.client_address, row.entity_id) == (None, "cli", user.id)
    assert row.after == {"password": "reset", "must_change_password": False, "sessions_ended": 1}


def test_a_temporary_password_must_be_changed_at_the_next_sign_in(app, runner, world, session):
    assert reset(runner, "nurse@example.org", NEW + "\n", "--temporary").exit_code == 0
    client = Client(app)
    client.login("nurse@example.org", NEW)
    response = client.get("/patients")
    assert response.status_code == 302 and response.location.endswith("/account/password")


def test_reset_password_refuses_an_unknown_e_mail_and_a_weak_password_and_changes_nothing(runner, world, session):
    result = reset(runner, "nobody@example.org", NEW + "\n")
    assert result.exit_code != 0 and "No account with the e-mail nobody@example.org." in result.output
    result = reset(runner, "nurse@example.org", "password1234\n")
    assert result.exit_code != 0 and "too common" in result.output
    session.expire_all()
    Client(runner.app).login("nurse@example.org", PASSWORD)
    assert session.scalars(select(AuditEvent).where(AuditEvent.entity == "user")).all() == []
