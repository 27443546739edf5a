"""tracker.statements.per_thread: one statement per thread and shape, never shared between threads."""

import threading

from sqlalchemy import bindparam, select

from tracker.models import Patient
from tracker.statements import per_thread


@per_thread
def _by_stage(with_location: bool):
    query = select(Patient.id).where(Patient.stage == bindparam("stage"))
    return query.where(Patient.location_id == bindparam("location_id")) if with_location else query


def test_a_thread_reuses_its_statement_and_another_thread_builds_its_own():
    mine = _by_stage(True)
    assert _by_stage(True) is mine, "built once per thread and shape"
    assert _by_stage(False) is not mine
    theirs = []
    worker = threading.Thread(target=lambda: theirs.append(_by_stage(True)))
    worker.start()
    worker.join()
    assert theirs[0] is not mine, "another thread must not share this thread's statement"
    assert str(theirs[0]) == str(mine), "the same shape builds the same SQL"
