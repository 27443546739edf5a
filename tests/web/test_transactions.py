"""One owner for a use case's transaction (tracker.services.transaction / use_case): services flush, the wrapper
commits once on success and rolls everything back on a refusal or a clash."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, func, select, update

from tests.support.factories import make_patient
from tracker.extensions import db
from tracker.models import Location, PhysicianRequest
from tracker.models.requests import BOOKING_AFTER_ALARM
from tracker.services import DomainError, StaleEdit, escalation, thrown_away, transaction, use_case
from tracker.services.audit import record


def clinics(session) -> list[str]:
    return list(
        session.scalars(select(Location.name).where(Location.name.like("Test clinic%")).order_by(Location.name))
    )


def add_clinic(session, name: str) -> Location:
    clinic = Location(name=name, kind="clinic")
    session.add(clinic)
    session.flush()
    return clinic


@pytest.fixture
def commits(session):
    """How many times the session committed during the test."""
    seen = []
    target = session()  # the request's Session itself, not the scoped proxy

    def count(_session):
        seen.append(1)

    event.listen(target, "after_commit", count)
    yield seen
    event.remove(target, "after_commit", count)


def test_a_refusal_midway_through_a_use_case_leaves_nothing_written(world, session):
    @use_case("clinic")
    def open_two_clinics(session, actor):
        first = add_clinic(session, "Test clinic A")
        record(session, actor, "create", "location", first.id, None, after={"name": first.name})
        add_clinic(session, "Test clinic B")
        raise DomainError("The second clinic needs a phone number.", "phone")

    with pytest.raises(DomainError) as refused:
        open_two_clinics(session, world.actor("admin"))
    assert refused.value.field == "phone"
    assert clinics(session) == [], "neither clinic nor its audit row was kept"
    assert not session.new and not session.dirty, "the session is clean for the next request"


def test_a_refused_request_to_a_physician_leaves_only_the_first(world, session):
    """A second open request of a kind trips the database's unique key after the flush: the refusal rolls it back,
    audit row and all, and the first request stands."""
    patient = make_patient(session, world)
    now = datetime.now(UTC)
    escalation.ask_physician(session, world.actor(), patient.id, BOOKING_AFTER_ALARM, "first", None, now)
    with pytest.raises(DomainError, match="already waiting"):
        escalation.ask_physician(session, world.actor(), patient.id, BOOKING_AFTER_ALARM, "second", None, now)
    notes = session.scalars(select(PhysicianRequest.note).where(PhysicianRequest.patient_id == patient.id)).all()
    assert notes == ["first"]


def test_two_nested_use_cases_commit_once(session, commits):
    @use_case("clinic")
    def open_clinic(session, name):
        return add_clinic(session, name)

    @use_case("clinic")
    def open_both(session):
        open_clinic(session, "Test clinic A")
        assert not commits, "the inner use case does not commit"
        open_clinic(session, "Test clinic B")

    open_both(session)
    assert len(commits) == 1
    assert clinics(session) == ["Test clinic A", "Test clinic B"]


def test_an_inner_refusal_rolls_back_the_outer_use_case_too(session, commits):
    @use_case("clinic")
    def refuse(session):
        add_clinic(session, "Test clinic B")
        raise DomainError("No.")

    with pytest.raises(DomainError), transaction(session, "clinic"):
        add_clinic(session, "Test clinic A")
        refuse(session)
    assert commits == [] and clinics(session) == []


def test_a_duplicate_row_becomes_a_stale_edit_and_nothing_is_written(session):
    with transaction(session, "clinic"):
        add_clinic(session, "Test clinic A")
    with pytest.raises(StaleEdit, match="Someone else saved this clinic"), transaction(session, "clinic"):
        add_clinic(session, "Test clinic B")
        add_clinic(session, "Test clinic A")  # another request's clinic of the same name
    assert clinics(session) == ["Test clinic A"]


def test_a_version_clash_becomes_a_stale_edit(app, session):
    with transaction(session, "clinic"):
        clinic = add_clinic(session, "Test clinic A")
    clinic_id = clinic.id
    clinic.phone  # noqa: B018 - loaded at version 1
    with db.engine.begin() as other:  # another request saves the clinic meanwhile
        other.execute(update(Location).where(Location.id == clinic_id).values(phone="1", version=Location.version + 1))
    with pytest.raises(StaleEdit), transaction(session, "clinic"):
        clinic.phone = "2"
    assert session.scalar(select(Location.phone).where(Location.id == clinic_id)) == "1"
    assert session.scalar(select(func.count()).select_from(Location).where(Location.id == clinic_id)) == 1


def test_a_clash_inside_a_nested_use_case_reaches_its_caller_as_a_stale_edit(session):
    """So a caller can say what clashed (escalation.answer does) before the outermost one rolls back."""
    with transaction(session, "clinic"):
        add_clinic(session, "Test clinic A")
    seen = []
    with pytest.raises(StaleEdit), transaction(session, "clinic"):
        try:
            with transaction(session, "clinic"):
                add_clinic(session, "Test clinic A")
        except StaleEdit as error:
            seen.append(error)
            raise
    assert len(seen) == 1 and clinics(session) == ["Test clinic A"]


def test_a_dry_run_is_refused_inside_a_use_case(session):
    with pytest.raises(RuntimeError), transaction(session, "clinic"), thrown_away(session):
        pass
    with thrown_away(session):
        add_clinic(session, "Test clinic A")
    assert clinics(session) == [], "a dry run keeps nothing"


def test_a_use_case_inside_a_dry_run_does_not_commit(session, commits):
    @use_case("clinic")
    def open_clinic(session):
        add_clinic(session, "Test clinic A")

    with thrown_away(session):
        open_clinic(session)
    assert commits == [] and clinics(session) == []
