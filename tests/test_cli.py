"""The commands an administrator runs on the server: create-user, seed-demo, first-run, refill-calc."""

import json
import re
import shlex
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import delete, func, select

from tests.conftest import Client
from tracker.demo import SITES, ensure_sites
from tracker.extensions import db
from tracker.models import Location, Patient, StageEvent, TrialBolus, User

GOOD_PASSWORD = "a-long-enough-password"


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def sites(session):
    locations = {loc.name: loc for loc in ensure_sites(session)}
    session.commit()
    return locations


def clinic_today(app):
    return datetime.now(ZoneInfo(app.config["CLINIC_TIMEZONE"])).date()


def user_count(session) -> int:
    session.expire_all()
    return session.scalar(select(func.count(User.id)))


def create_user(runner, password_line, location="Kennesaw Clinic", email="kim.nurse@example.org"):
    return runner.invoke(
        args=["create-user", "--email", email, "--name", "Kim Nurse", "--role", "nurse", "--location", location],
        input=password_line,
    )


# create-user


def test_create_user_reads_the_password_from_standard_input_and_the_user_can_sign_in(app, runner, session, sites):
    result = create_user(runner, GOOD_PASSWORD + "\n")
    assert result.exit_code == 0, result.output
    assert "Created nurse kim.nurse@example.org." in result.output
    assert GOOD_PASSWORD not in result.output
    user = session.scalar(select(User).where(User.email == "kim.nurse@example.org"))
    assert (user.full_name, user.role, user.location_id) == ("Kim Nurse", "nurse", sites["Kennesaw Clinic"].id)
    Client(app).login("kim.nurse@example.org", GOOD_PASSWORD)


def test_create_user_refuses_a_short_password_and_writes_nothing(runner, session, sites):
    result = create_user(runner, "too-short\n")
    assert result.exit_code != 0
    assert "Use at least 12 characters." in result.output
    assert user_count(session) == 0


def test_create_user_refuses_an_unknown_location_and_writes_nothing(runner, session, sites):
    result = create_user(runner, GOOD_PASSWORD + "\n", location="Savannah Clinic")
    assert result.exit_code != 0
    assert "No location named 'Savannah Clinic'." in result.output
    assert user_count(session) == 0


def test_create_user_refuses_an_e_mail_already_taken_in_another_case(runner, session, sites):
    assert create_user(runner, GOOD_PASSWORD + "\n").exit_code == 0
    result = create_user(runner, GOOD_PASSWORD + "\n", email="KIM.Nurse@Example.org")
    assert result.exit_code != 0
    assert "A user with this e-mail already exists." in result.output
    assert user_count(session) == 1


def test_create_user_has_no_password_option_so_it_never_lands_in_shell_history(app):
    command = app.cli.commands["create-user"]
    options = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    assert {"--email", "--name", "--role", "--location"} <= options
    assert not any("password" in opt for opt in options)


# seed-demo


def clean_all_tables(session):
    for table in reversed(db.metadata.sorted_tables):
        session.execute(delete(table))
    session.commit()


def fingerprint(session):
    session.expire_all()
    rows = session.execute(
        select(Patient.mrn, Patient.last_name, Patient.stage, Patient.status, Patient.stage_since)
    ).all()
    return sorted(tuple(row) for row in rows)


def seed(runner):
    result = runner.invoke(args=["seed-demo", "--patients", "30", "--seed", "7"])
    assert result.exit_code == 0, result.output
    assert "Added 30 demo patients (seed 7)." in result.output


@pytest.mark.slow
def test_seed_demo_gives_the_same_patients_for_the_same_seed(runner, session):
    seed(runner)
    first = fingerprint(session)
    assert len(first) == 30
    clean_all_tables(session)
    assert fingerprint(session) == []
    seed(runner)
    assert fingerprint(session) == first


def test_seed_demo_creates_the_five_sites(runner, session):
    seed(runner)
    names = set(session.scalars(select(Location.name)))
    assert (
        names
        == {
            "Snellville Surgery Center",
            "Marietta Surgery Center",
            "Kennesaw Clinic",
            "Snellville Clinic",
            "Buckhead Clinic",
        }
        == {site[0] for site in SITES}
    )


# tracker/demo.py draws each patient's state at random (implantation weighs 7%), so a small demo
# can miss a stage; seed 7 with 30 patients has no one in implantation. Remove the mark once the
# demo places at least one patient in every state.
@pytest.mark.parametrize(
    "patients, seed_number",
    [
        (30, 7),
        (120, 1),  # what first-run seeds
    ],
)
@pytest.mark.slow
def test_seed_demo_shows_patients_in_every_stage_and_some_who_exited(runner, session, patients, seed_number):
    result = runner.invoke(args=["seed-demo", "--patients", str(patients), "--seed", str(seed_number)])
    assert result.exit_code == 0, result.output
    states = Counter(p.stage if p.status == "active" else p.status for p in session.scalars(select(Patient)))
    assert set(states) == {"evaluation", "trial", "implantation", "adjustment", "exited"}, states


def test_seeded_patients_agree_with_their_own_history(app, runner, session):
    seed(runner)
    today = clinic_today(app)
    events = session.scalars(
        select(StageEvent).where(StageEvent.voided_at.is_(None)).order_by(StageEvent.effective_date, StageEvent.id)
    ).all()
    history: dict[int, list[StageEvent]] = {}
    for event in events:
        history.setdefault(event.patient_id, []).append(event)
    patients = session.scalars(select(Patient)).all()
    assert len(patients) == 30
    for patient in patients:
        last = history[patient.id][-1]
        assert last.effective_date == patient.stage_since, patient.mrn
        if patient.status == "exited":
            assert last.to_stage == "exited" and last.exit_reason == patient.exit_reason, patient.mrn
        else:
            assert (patient.status, last.to_stage) == ("active", patient.stage), patient.mrn
        assert history[patient.id][0].from_stage is None and history[patient.id][0].to_stage == "evaluation"
        for event in history[patient.id]:
            assert patient.date_of_birth <= event.effective_date <= today, (patient.mrn, event.effective_date)
    for bolus in session.scalars(select(TrialBolus)):
        assert bolus.patient.date_of_birth <= bolus.given_on <= today, (bolus.patient.mrn, bolus.given_on)


# first-run


@pytest.mark.slow
def test_first_run_creates_one_admin_and_shows_the_password_once(app, runner, session):
    result = runner.invoke(args=["first-run"])
    assert result.exit_code == 0, result.output
    password = re.search(r"Password \(shown once, change it after signing in\): (\S+)", result.output).group(1)
    assert len(password) >= 12 and result.output.count(password) == 1
    admins = session.scalars(select(User).where(User.role == "admin")).all()
    assert [a.email for a in admins] == ["admin@example.org"]
    Client(app).login("admin@example.org", password)

    again = runner.invoke(args=["first-run"])
    assert again.exit_code == 0, again.output
    assert "nothing to do" in again.output and password not in again.output
    session.expire_all()
    assert session.scalar(select(func.count(User.id)).where(User.role == "admin")) == 1


# refill-calc (the what-if page's command: tests/web/test_calculator.py has the rest)


def readme_refill_calc() -> list[str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    return shlex.split(re.search(r"`flask --app wsgi refill-calc ([^`]+)`", readme).group(1))


def test_refill_calc_as_the_readme_writes_it_counts_the_ptm_boluses_and_warns_of_the_bridge_bolus(runner):
    # 200 mcg/day + 4 x 25 mcg = 300 mcg/day at 500 mcg/mL: 0.6 mL/day, alarm day 30, due day 23 (24 Jan 2027).
    result = runner.invoke(args=["refill-calc", *readme_refill_calc()])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert (data["daily_volume_ml"], data["alarm_date"], data["due_date"]) == ("0.6", "2027-01-31", "2027-01-24")
    assert [w["code"] for w in data["warnings"]] == ["bridge_bolus", "boluses_included"]


def test_refill_calc_takes_the_readmes_flexible_schedule_instead_of_the_dose(runner):
    # 7 h x 8 + 17 h x 12 = 260 mcg on weekdays, 8 x 24 = 192 at the weekend: (5 x 260 + 2 x 192) / 7 = 240.57
    # mcg/day + 100 of boluses = 340.57 mcg/day; / 500 = 0.6811 mL/day.
    args = readme_refill_calc()
    dose = args.index("--dose")
    args[dose : dose + 2] = ["--flex", "00:00 8; 07:00 12; Sat Sun: 00:00 8"]
    result = runner.invoke(args=["refill-calc", *args])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["daily_volume_ml"] == "0.6811"
    assert (
        "the flexible schedule's 240.57 mcg/day (mean over the week), 340.57 mcg/day in all"
        in (data["warnings"][-1]["message"])
    )


def test_refill_calc_help_lists_what_the_engine_takes(runner):
    result = runner.invoke(args=["refill-calc", "--help"])
    for option in ("--fill-time", "--flex", "--bolus", "--max-boluses", "--previous-concentration"):
        assert option in result.output, option
