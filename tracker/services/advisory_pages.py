"""Reading device advisories for their pages: the list with progress, an advisory's affected pumps, a patient's
follow-ups. Each in a fixed number of queries, however many pumps an advisory catches."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from tracker.clinical import advisory as rules
from tracker.models import Advisory, AdvisoryFollowUp, Patient, Pump, PumpModel


@dataclass
class AdvisorySummary:
    advisory: Advisory
    progress: rules.Progress


def advisory_list(session: Session) -> list[AdvisorySummary]:
    """Every advisory, open first then newest, with "reached n of N" (one query each: the advisories, the counts)."""
    advisories = list(
        session.scalars(
            select(Advisory).order_by(Advisory.closed_at.is_not(None), Advisory.issued_on.desc(), Advisory.id.desc())
        )
    )
    counts: dict[int, list[str]] = {}
    explanted = Pump.explanted_on.is_not(None)
    for advisory_id, status, pump_out, n in session.execute(
        select(AdvisoryFollowUp.advisory_id, AdvisoryFollowUp.status, explanted, func.count())
        .join(Pump, Pump.id == AdvisoryFollowUp.pump_id)
        .group_by(AdvisoryFollowUp.advisory_id, AdvisoryFollowUp.status, explanted)
    ):
        shown = rules.EXPLANTED if rules.for_the_record(status, pump_out) else status
        counts.setdefault(advisory_id, []).extend([shown] * n)
    return [AdvisorySummary(a, rules.progress(counts.get(a.id, []))) for a in advisories]


@dataclass
class AdvisoryPage:
    advisory: Advisory
    in_use: list[AdvisoryFollowUp] = field(default_factory=list)
    explanted: list[AdvisoryFollowUp] = field(default_factory=list)
    progress: rules.Progress = rules.Progress(0, 0)
    model_names: list[str] = field(default_factory=list)


def advisory_page(session: Session, advisory_id: int, location_id: int | None = None) -> AdvisoryPage | None:
    """The advisory and every affected pump with patient, clinic, nurse and who recorded the follow-up, in a fixed
    number of queries; `location_id` narrows the list to one clinic (the site-scope setting)."""
    advisory = session.get(
        Advisory, advisory_id, options=[joinedload(Advisory.created_by), joinedload(Advisory.closed_by)]
    )
    if advisory is None:
        return None
    query = (
        select(AdvisoryFollowUp)
        .where(AdvisoryFollowUp.advisory_id == advisory_id)
        .join(Patient, Patient.id == AdvisoryFollowUp.patient_id)
        .options(
            joinedload(AdvisoryFollowUp.patient).joinedload(Patient.location),
            joinedload(AdvisoryFollowUp.patient).joinedload(Patient.nurse),
            joinedload(AdvisoryFollowUp.pump).joinedload(Pump.model),
            joinedload(AdvisoryFollowUp.status_by),
        )
        .order_by(Patient.last_name, Patient.first_name, AdvisoryFollowUp.id)
    )
    if location_id is not None:
        query = query.where(Patient.location_id == location_id)
    rows = list(session.scalars(query))
    names = (
        list(
            session.scalars(select(PumpModel.name).where(PumpModel.id.in_(advisory.model_ids)).order_by(PumpModel.name))
        )
        if advisory.model_ids
        else []
    )
    in_use = [r for r in rows if not rules.for_the_record(r.status, r.pump.explanted_on is not None)]
    return AdvisoryPage(
        advisory,
        in_use,
        [r for r in rows if rules.for_the_record(r.status, r.pump.explanted_on is not None)],
        rules.progress([r.status for r in in_use]),
        names,
    )


def patient_follow_ups(session: Session, patient_id: int) -> list[AdvisoryFollowUp]:
    """The patient's advisory follow-ups, open advisories first (the patient page's panel), in one query."""
    return list(
        session.scalars(
            select(AdvisoryFollowUp)
            .join(Advisory, Advisory.id == AdvisoryFollowUp.advisory_id)
            .where(AdvisoryFollowUp.patient_id == patient_id)
            .options(joinedload(AdvisoryFollowUp.advisory), joinedload(AdvisoryFollowUp.status_by))
            .order_by(Advisory.closed_at.is_not(None), Advisory.issued_on.desc(), AdvisoryFollowUp.id)
        )
    )


@dataclass(frozen=True)
class RefillReminder:
    """A follow-up the refill form names: the advisory's follow-up in words, where it stands, and whether a
    check recorded now is asked again at the next refill."""

    follow_up: AdvisoryFollowUp
    what: str
    status: str
    again: bool


def said_at_refill(session: Session, pump_id: int) -> list[RefillReminder]:
    """The follow-ups the refill form reminds the nurse of for this pump (clinical.advisory.said_at_refill), of
    open advisories, in one query."""
    found = session.scalars(
        select(AdvisoryFollowUp)
        .join(Advisory, Advisory.id == AdvisoryFollowUp.advisory_id)
        .where(AdvisoryFollowUp.pump_id == pump_id, Advisory.closed_at.is_(None))
        .options(joinedload(AdvisoryFollowUp.advisory), joinedload(AdvisoryFollowUp.status_by))
        .order_by(Advisory.issued_on.desc(), AdvisoryFollowUp.id)
    )
    return [
        RefillReminder(
            f,
            rules.follow_up_words(f.advisory.follow_up, f.advisory.call_days),
            rules.STATUSES[f.status],
            f.advisory.follow_up == rules.CHECK_AT_REFILL,
        )
        for f in found
        if rules.said_at_refill(f.advisory.follow_up, f.status)
    ]
