"""Device advisories (issue 21): enter a notice and find every affected pump, record each patient's follow-up,
close the advisory, and flag a pump entered later that an open advisory affects. The match rules are
tracker.clinical.advisory's; pages read through tracker.services.advisory_pages; open follow-ups reach every screen
as open work (refill_list_queries.open_work)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from tracker.clinical import advisory as rules
from tracker.clinical.errors import checked_text
from tracker.models import Advisory, AdvisoryFollowUp, Pump, RefillVisit
from tracker.policy import allowed
from tracker.services import Actor, DomainError, PermissionDenied, StaleEdit, use_case
from tracker.services.audit import record, snapshot

ADVISORY_FIELDS = [
    "title",
    "source",
    "issued_on",
    "model_ids",
    "serials_text",
    "implanted_from",
    "implanted_to",
    "distributed_from",
    "distributed_to",
    "concentrations",
    "lots_text",
    "recommended_action",
    "follow_up",
    "call_days",
]
FOLLOW_UP_FIELDS = ["advisory_id", "pump_id", "status", "status_at", "status_by_id", "notes"]
CLOSE_FIELDS = ["closed_at", "closed_by_id", "close_note"]


@dataclass(frozen=True)
class AdvisoryEntry:
    """The new-advisory form's values, as typed (serials: the textarea and an uploaded file's lines together)."""

    title: str
    source: str
    issued_on: date | None
    recommended_action: str
    follow_up: str | None
    call_days: int | None = None
    model_ids: Sequence[int] = ()
    serials_text: str = ""
    implanted_from: date | None = None
    implanted_to: date | None = None
    distributed_from: date | None = None
    distributed_to: date | None = None
    concentrations: Sequence[int] = ()
    lots_text: str = ""


def criteria_of(a: Advisory | AdvisoryEntry) -> rules.Criteria:
    """The match criteria an advisory (or its entry) states; a bad serial list raises DomainError on "serials"."""
    return rules.Criteria(
        model_ids=frozenset(a.model_ids or ()),
        serials=rules.parse_serials(a.serials_text or ""),
        implanted_from=a.implanted_from,
        implanted_to=a.implanted_to,
        distributed_from=a.distributed_from,
        distributed_to=a.distributed_to,
        concentrations=frozenset(a.concentrations or ()),
        lots=rules.parse_lots(a.lots_text or ""),
    )


def _check_entry(entry: AdvisoryEntry) -> rules.Criteria:
    if not entry.title.strip():
        raise DomainError("Give the advisory a title (as the notice has it).", "title")
    if not entry.source.strip():
        raise DomainError("Say where it comes from (the FDA, the manufacturer's letter ...).", "source")
    if entry.issued_on is None:
        raise DomainError("Enter the date the notice was issued.", "issued_on")
    checked_text(entry.recommended_action, "recommended_action", "Enter the recommended action, as the notice says it.")
    rules.check_follow_up(entry.follow_up, entry.call_days)
    criteria = criteria_of(entry)
    rules.check_criteria(criteria)
    return criteria


def pump_facts(
    session: Session, criteria: rules.Criteria, pump_ids: Iterable[int] | None = None
) -> list[rules.PumpFacts]:
    """What the match rules need of every pump (or these): one query, and one more for the fills only when the
    advisory names concentrations or lots."""
    query = select(Pump.id, Pump.patient_id, Pump.model_id, Pump.serial, Pump.implanted_on, Pump.explanted_on).order_by(
        Pump.id
    )
    ids = None if pump_ids is None else list(pump_ids)
    if ids is not None:
        query = query.where(Pump.id.in_(ids))
    pumps = session.execute(query).all()
    concentration: dict[int, int] = {}
    lots: dict[int, set[str]] = {}
    if criteria.concentrations or criteria.lots:
        fills = select(RefillVisit.pump_id, RefillVisit.concentration_mcg_per_ml, RefillVisit.lot).where(
            RefillVisit.voided_at.is_(None)
        )
        if ids is not None:
            fills = fills.where(RefillVisit.pump_id.in_(ids))
        for pump_id, mcg_per_ml, lot in session.execute(fills.order_by(RefillVisit.visit_at, RefillVisit.id)):
            concentration[pump_id] = mcg_per_ml  # the last fill's wins
            if lot:
                lots.setdefault(pump_id, set()).add(lot)
    return [
        rules.PumpFacts(
            p.id,
            p.patient_id,
            p.model_id,
            p.serial,
            p.implanted_on,
            p.explanted_on,
            concentration.get(p.id),
            frozenset(lots.get(p.id, ())),
        )
        for p in pumps
    ]


def _follow_ups(
    session: Session, actor: Actor, advisory: Advisory, found: Sequence[rules.Match]
) -> list[AdvisoryFollowUp]:
    """One follow-up per affected pump (explanted: for the record), each audited on its patient."""
    made = [
        AdvisoryFollowUp(
            advisory_id=advisory.id,
            pump_id=m.pump.pump_id,
            patient_id=m.pump.patient_id,
            status=rules.initial_status(m),
            notes="",
        )
        for m in found
    ]
    session.add_all(made)
    session.flush()
    for follow_up in made:
        record(
            session,
            actor,
            "create",
            "advisory_follow_up",
            follow_up.id,
            follow_up.patient_id,
            None,
            snapshot(follow_up, FOLLOW_UP_FIELDS),
        )
    return made


@use_case("advisory")
def create_advisory(session: Session, actor: Actor, entry: AdvisoryEntry, now: datetime) -> Advisory:
    """Save the notice and list every pump it affects: a follow-up for each pump in use, explanted ones for the
    record."""
    if not allowed(actor.role, "advisory.manage"):
        raise PermissionDenied("Your role may not enter device advisories.")
    criteria = _check_entry(entry)
    advisory = Advisory(
        title=entry.title.strip()[:200],
        source=entry.source.strip()[:200],
        issued_on=entry.issued_on,
        model_ids=sorted(set(entry.model_ids)),
        serials_text=entry.serials_text.strip(),
        implanted_from=entry.implanted_from,
        implanted_to=entry.implanted_to,
        distributed_from=entry.distributed_from,
        distributed_to=entry.distributed_to,
        concentrations=sorted(set(entry.concentrations)),
        lots_text=entry.lots_text.strip(),
        recommended_action=entry.recommended_action.strip(),
        follow_up=entry.follow_up,
        call_days=entry.call_days if entry.follow_up == rules.CALL_WITHIN else None,
        created_at=now,
        created_by_id=actor.user_id,
        close_note="",
    )
    session.add(advisory)
    session.flush()
    record(session, actor, "create", "advisory", advisory.id, None, None, snapshot(advisory, ADVISORY_FIELDS))
    _follow_ups(session, actor, advisory, rules.matches(criteria, pump_facts(session, criteria)))
    return advisory


@use_case("advisory follow-up")
def update_follow_up(
    session: Session,
    actor: Actor,
    patient_id: int,
    follow_up_id: int,
    status: str | None,
    notes: str,
    expected_version: int,
    now: datetime,
) -> AdvisoryFollowUp:
    """Record where a patient's follow-up stands: who, when, what was done. "Not yet reached" keeps it open."""
    if not allowed(actor.role, "advisory.follow_up"):
        raise PermissionDenied("Your role may not record advisory follow-ups.")
    follow_up = session.get(AdvisoryFollowUp, follow_up_id)
    if follow_up is None or follow_up.patient_id != patient_id:
        raise DomainError("No such advisory follow-up for this patient.")
    if follow_up.version != expected_version:
        who = f" ({follow_up.status_by.full_name})" if follow_up.status_by else ""
        raise StaleEdit(
            f"Someone else{who} recorded this follow-up after you opened the page: it is now "
            f"“{rules.STATUSES[follow_up.status]}”. Nothing of yours was saved."
        )
    if not follow_up.advisory.open:
        raise DomainError("This advisory is closed; its follow-ups are kept as they were.", "status")
    if rules.for_the_record(follow_up.status, follow_up.pump.explanted_on is not None):
        # No field: the row has moved to the explanted list, which has no form to show it by (flashed instead).
        raise DomainError("This pump was explanted: it is listed for the record only.")
    if status not in rules.CHOOSABLE:
        raise DomainError("Choose where the follow-up stands.", "status")
    notes = checked_text(notes, "notes")
    if status == rules.ACTION_TAKEN and not notes:
        raise DomainError("Say what action was taken.", "notes")
    before = snapshot(follow_up, FOLLOW_UP_FIELDS)
    follow_up.status, follow_up.notes = status, notes
    follow_up.status_at, follow_up.status_by_id = now, actor.user_id
    session.flush()
    record(
        session,
        actor,
        "update",
        "advisory_follow_up",
        follow_up.id,
        patient_id,
        before,
        snapshot(follow_up, FOLLOW_UP_FIELDS),
    )
    return follow_up


@use_case("advisory")
def close_advisory(
    session: Session, actor: Actor, advisory_id: int, note: str, expected_version: int, now: datetime
) -> Advisory:
    """Close the advisory: its follow-ups leave the worklist and the e-mail, and stay on the record as they are."""
    if not allowed(actor.role, "advisory.manage"):
        raise PermissionDenied("Your role may not close device advisories.")
    advisory = session.get(Advisory, advisory_id)
    if advisory is None:
        raise DomainError("No such advisory.")
    if not advisory.open or advisory.version != expected_version:
        raise StaleEdit("This advisory was changed or closed after you opened the page; nothing was saved.")
    note = checked_text(note, "close_note", "Say why it is closed (for example: every patient reached).")
    before = snapshot(advisory, CLOSE_FIELDS)
    advisory.closed_at, advisory.closed_by_id, advisory.close_note = now, actor.user_id, note
    session.flush()
    record(session, actor, "update", "advisory", advisory.id, None, before, snapshot(advisory, CLOSE_FIELDS))
    return advisory


# A pump caught by an open advisory as it is entered: the user is told once the transaction commits (the words
# wait in session.info; tracker.web.hooks flashes them), and never about a write that was rolled back.
_PENDING = "tracker.advisory_flags_pending"
_READY = "tracker.advisory_flags"


@event.listens_for(Session, "after_commit")
def _flags_committed(session: Session) -> None:
    if session.info.get(_PENDING):
        session.info[_READY] = session.info.get(_READY, []) + session.info.pop(_PENDING)


@event.listens_for(Session, "after_soft_rollback")
def _flags_rolled_back(session: Session, _previous) -> None:
    session.info.pop(_PENDING, None)


def take_flags(session: Session) -> list[str]:
    """The messages about pumps just caught by an open advisory, committed since last asked (then forgotten)."""
    return session.info.pop(_READY, [])


def flag_new_pumps(session: Session, actor: Actor, pump_ids: Sequence[int]) -> list[Advisory]:
    """The one hook for a pump entered after an advisory (an implantation, an import): an open advisory that
    affects it gives it a follow-up at once, in the caller's transaction, and the user is told (take_flags).
    One query when no advisory is open, the usual case."""
    open_advisories = list(session.scalars(select(Advisory).where(Advisory.closed_at.is_(None)).order_by(Advisory.id)))
    if not open_advisories or not pump_ids:
        return []
    caught = []
    for advisory in open_advisories:
        criteria = criteria_of(advisory)
        found = [m for m in rules.matches(criteria, pump_facts(session, criteria, pump_ids)) if m.in_use]
        if found:
            _follow_ups(session, actor, advisory, found)
            caught.append(advisory)
            pumps = "1 pump" if len(found) == 1 else f"{len(found)} pumps"
            session.info.setdefault(_PENDING, []).append(
                f"Device advisory: {pumps} just entered {'is' if len(found) == 1 else 'are'} affected by the open "
                f"advisory “{advisory.title}”. The follow-up is on the worklist and the advisory's page."
            )
    return caught
