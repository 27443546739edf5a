"""The calendar's month is read once and reused only while the database is unchanged (tracker.services.read_cache):
a commit from this session or any other connection, or a booking's start time passing, is seen at once."""

from contextlib import contextmanager
from datetime import timedelta

from sqlalchemy import create_engine, text

from tests.support.clock import NOW_UTC
from tests.support.factories import TODAY, implanted_days_ago
from tracker.extensions import db
from tracker.services.bookings import book_refill
from tracker.services.calendar import calendar_events
from tracker.services.read_cache import reads
from tracker.statements import statements_run

NOW = NOW_UTC
START, END = TODAY - timedelta(days=7), TODAY + timedelta(days=35)
MONTH_QUERY = "FROM refill_schedule JOIN patient"  # the facts statement; the marker query reads no table
READS = 2  # a range holding today reads its refills and today's pumps needing action


@contextmanager
def month_queries():
    """The month statements run inside the block, filled in when it ends: none means the month came from the
    cache."""
    found = []
    with statements_run(db.engine) as seen:
        yield found
    found.extend(s for s in seen if MONTH_QUERY in s and "count(" not in s)


def rename_elsewhere(patient_id: int, name: str) -> None:
    """Another process's write: a separate engine, not this pool or this session."""
    other = create_engine(db.engine.url.render_as_string(hide_password=False))
    try:
        with other.begin() as conn:
            conn.execute(text("UPDATE patient SET last_name = :name WHERE id = :id"), {"name": name, "id": patient_id})
    finally:
        other.dispose()


def month(session, world, now=NOW):
    return calendar_events(session, START, END, TODAY, now, [world.clinic.id])


def names(events) -> set[str]:
    return {e.fact.last_name for e in events}


def test_a_second_read_is_reused_and_a_commit_in_this_session_ends_it(session, world):
    patient = implanted_days_ago(session, world, 20)  # due in 3 days
    with month_queries() as first:
        assert names(month(session, world)) == {patient.last_name}
    with month_queries() as second:
        again = month(session, world)
    assert len(first) == READS and second == [], "the second read of an unchanged month runs no month query"
    assert names(again) == {patient.last_name}

    patient.last_name = "Renamed"
    session.commit()
    with month_queries() as third:
        assert names(month(session, world)) == {"Renamed"}
    assert len(third) == READS


def test_a_commit_from_another_connection_is_seen(session, world):
    patient = implanted_days_ago(session, world, 20)
    assert names(month(session, world)) == {patient.last_name}
    rename_elsewhere(patient.id, "Elsewhere")
    assert names(month(session, world)) == {"Elsewhere"}


def test_a_booking_whose_time_passes_turns_missed_with_no_commit(session, world):
    patient = implanted_days_ago(session, world, 20)
    book_refill(
        session,
        world.actor("coordinator"),
        patient.id,
        NOW + timedelta(hours=1),
        world.clinic.id,
        world.users["nurse"].id,
        "",
        "",
        NOW,
    )
    booked = [e for e in month(session, world) if e.kind == "appointment"]
    assert [e.urgency for e in booked] == ["booked"]
    with month_queries() as before:
        assert [e.urgency for e in month(session, world, NOW + timedelta(minutes=59)) if e.kind == "appointment"] == [
            "booked"
        ]
    assert before == [], "nothing changed before the booking's time"
    with month_queries() as after:
        passed = [e for e in month(session, world, NOW + timedelta(hours=2)) if e.kind == "appointment"]
    assert [e.urgency for e in passed] == ["missed"] and len(after) == READS
    # A request still at the earlier moment is not given what the later one read.
    assert [e.urgency for e in month(session, world, NOW) if e.kind == "appointment"] == ["booked"]


def test_own_uncommitted_writes_are_read_but_never_kept(session, world):
    patient = implanted_days_ago(session, world, 20)
    original = patient.last_name
    assert names(month(session, world)) == {original}
    patient.last_name = "Pending"
    session.flush()
    assert names(month(session, world)) == {"Pending"}, "a session sees its own writes"
    session.rollback()
    assert names(month(session, world)) == {original}, "what was rolled back was not cached"


def test_the_month_page_twice_runs_the_month_query_once(session, world, as_role):
    implanted_days_ago(session, world, 20)
    coordinator = as_role("coordinator")
    reads.clear()
    url = f"/calendar/events.json?start={START}&end={END}&location={world.clinic.id}"
    with month_queries() as first:
        body = coordinator.get(url).get_json()
    with month_queries() as second:
        assert coordinator.get(url).get_json() == body
    assert body and len(first) == READS and second == []


@contextmanager
def patient_queries():
    found = []
    with statements_run(db.engine) as seen:
        yield found
    found.extend(s for s in seen if "FROM patient" in s)


def test_the_list_and_board_are_reused_until_a_commit_from_anywhere(session, world, as_role):
    patient = implanted_days_ago(session, world, 20)
    coordinator = as_role("coordinator")
    for url in (f"/patients?stage=adjustment&location={world.clinic.id}", "/board"):
        with patient_queries() as first:
            assert patient.last_name in coordinator.get(url).get_data(as_text=True)
        with patient_queries() as second:
            assert patient.last_name in coordinator.get(url).get_data(as_text=True)
        assert first and second == [], url
        rename_elsewhere(patient.id, f"Moved{len(url)}")
        assert f"Moved{len(url)}" in coordinator.get(url).get_data(as_text=True), url
        session.refresh(patient)


def test_a_page_asked_again_with_nothing_changed_runs_only_the_sign_in_and_the_marker(session, world, as_role):
    implanted_days_ago(session, world, 20)
    coordinator = as_role("coordinator")
    for url in (f"/patients?stage=adjustment&location={world.clinic.id}", "/board", "/calendar"):
        coordinator.get(url)
        with statements_run(db.engine) as seen:
            assert coordinator.get(url).status_code == 200
        assert len(seen) == 2 and ('FROM "user"' in seen[0] or "FROM user" in seen[0]), (url, seen)
        assert "pg_current_snapshot" in seen[1] or "data_version" in seen[1], (url, seen)
