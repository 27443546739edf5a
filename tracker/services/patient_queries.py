"""Read-side queries for the patient pages: each page loads in a fixed number of queries."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, and_, bindparam, func, literal_column, or_, select, union_all
from sqlalchemy.orm import Session, joinedload, selectinload

from tracker.clinical.journey import STAGES
from tracker.clinical.search import search_words
from tracker.models import (
    ContactAttempt,
    DrugConcentration,
    Implantation,
    Location,
    Patient,
    PumpModel,
    RefillSchedule,
    StageEvent,
    TrialBolus,
    User,
)
from tracker.models.journey import STILL_NEEDS_REFILLS
from tracker.paging import Page, page_number

SORTS = {
    "name": (Patient.last_name, Patient.first_name, Patient.id),
    "mrn": (Patient.mrn_key,),
    "stage": (Patient.stage, Patient.stage_since, Patient.id),
    "days": (Patient.stage_since, Patient.id),  # longest in stage first
    # Soonest (most overdue) next refill first; patients with no refill to come after them, by name.
    "due": (RefillSchedule.due_date.asc().nulls_last(), Patient.last_name, Patient.first_name, Patient.id),
}


@dataclass
class PatientFilters:
    q: str = ""
    stage: str = ""
    location_id: int | None = None
    nurse_id: int | None = None
    risk: bool = False
    status: str = "active"
    sort: str = "name"


# The list's statements have the values as bound parameters; their shape is which filters are set, which sort.
def _shape(f: PatientFilters) -> tuple:
    return (
        len(search_words(f.q)),
        f.stage in STAGES,
        f.status if f.status in ("active", "exited") else None,
        bool(f.location_id),
        bool(f.nurse_id),
        f.risk,
        f.sort if f.sort in SORTS else "name",
    )


def _like_anywhere(word: str) -> str:
    # % and _ typed by a user are letters to find, not wildcards.
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _params(f: PatientFilters) -> dict:
    words = {f"word{i}": _like_anywhere(word) for i, word in enumerate(search_words(f.q))}
    return words | {"stage": f.stage, "status": f.status, "location_id": f.location_id, "nurse_id": f.nurse_id}


# Written into the SQL, not bound, where a count should read ix_patient_active_stage (see the model).
ACTIVE = literal_column("'active'")


def _matching(shape: tuple, literal_status: bool = False) -> list:
    """The WHERE clauses of the list's filters, values left as parameters (see _params). `literal_status`: the
    status written into the SQL, so a count of active patients may read ix_patient_active_stage (not for the
    page: SQLite would then sort the clinic instead of reading it in name order)."""
    words, by_stage, status, by_location, by_nurse, risk, _sort = shape
    where = []
    for i in range(words):  # every word typed, in the first name, the last name or the MRN (clinical.search)
        word = bindparam(f"word{i}")
        where.append(
            or_(
                Patient.mrn_key.like(word, escape="\\"),
                func.lower(Patient.last_name).like(word, escape="\\"),
                func.lower(Patient.first_name).like(word, escape="\\"),
            )
        )
    if by_stage:
        where.append(Patient.stage == bindparam("stage"))
    if status == "active" and literal_status:
        where.append(Patient.status == ACTIVE)
    elif status:
        where.append(Patient.status == bindparam("status"))
    if by_location:
        where.append(Patient.location_id == bindparam("location_id"))
    if by_nurse:
        where.append(Patient.nurse_id == bindparam("nurse_id"))
    if risk:
        where.append(Patient.withdrawal_risk.is_(True))
    return where


def _listed(shape: tuple, next_due: bool) -> Select:
    """The list's columns as plain rows (no ORM objects to build), in the list's order; with `next_due`, the next
    refill's due date joined to every row."""
    query = (
        select(
            Patient.id,
            Patient.mrn,
            Patient.first_name,
            Patient.last_name,
            Patient.stage,
            Patient.status,
            Patient.exit_reason,
            Patient.stage_since,
            Patient.withdrawal_risk,
            Location.name.label("location"),
            User.full_name.label("nurse"),
        )
        .join(Location, Location.id == Patient.location_id)
        .outerjoin(User, User.id == Patient.nurse_id)
    )
    if next_due:
        query = query.add_columns(RefillSchedule.due_date.label("next_due")).outerjoin(
            RefillSchedule, and_(RefillSchedule.patient_id == Patient.id, _on_refill_list(Patient))
        )
    return query.where(*_matching(shape)).order_by(*SORTS[shape[-1]])


def _on_refill_list(patient):
    """The next refill's due date is the stored schedule the worklist and calendar read (refill_schedule: one row
    per pump in use, patient_id indexed), shown for the patients the refill lists hold: active, or lost to
    follow-up with a pump still in (Patient.on_refill_list)."""
    return or_(patient.status == ACTIVE, patient.exit_reason.in_(STILL_NEEDS_REFILLS))


def _rows_statement(shape: tuple) -> Select:
    """Every row with its next refill due, for the whole export."""
    return _listed(shape, next_due=True)


def _page_statement(shape: tuple) -> Select:
    """A page of rows, each carrying the list's total as a scalar subquery (run once by either database): the
    page and its count in one round trip, a millisecond of PostgreSQL's wake-up latency saved on every list.

    Sorted by the next refill due, every matching row needs its due date. Any other order reads its page as it
    did before the column, then looks up the due dates of that page's rows only: joined before the LIMIT, the
    schedule cost a lookup for every matching patient, not for 50."""
    total = _count_statement(shape).scalar_subquery().label("total")
    sort = shape[-1]
    if sort == "due":
        return (
            _listed(shape, next_due=True)
            .add_columns(total)
            .limit(bindparam("page_limit"))
            .offset(bindparam("page_offset"))
        )
    page = (
        _listed(shape, next_due=False)
        .add_columns(Patient.mrn_key, total)
        .limit(bindparam("page_limit"))
        .offset(bindparam("page_offset"))
        .subquery()
    )
    next_due = (
        select(func.min(RefillSchedule.due_date))
        .where(RefillSchedule.patient_id == page.c.id, _on_refill_list(page.c))
        .scalar_subquery()
    )
    return select(page, next_due.label("next_due")).order_by(*(page.c[column.key] for column in SORTS[sort]))


def _count_statement(shape: tuple) -> Select:
    """The list's total from the patient table alone (the page query's joins would cost a lookup a row)."""
    return select(func.count()).select_from(Patient).where(*_matching(shape, literal_status=True))


def patient_rows(session: Session, f: PatientFilters):
    """Every row of the filtered list, in its order (the CSV export)."""
    return session.execute(_rows_statement(_shape(f)), _params(f))


@dataclass
class ListPage(Page):
    """A page of the patient list with its filter bar's choices."""

    locations: tuple[tuple[int, str], ...] = ()
    nurses: tuple[tuple[int, str], ...] = ()


def patient_list(session: Session, f: PatientFilters, page: int, per_page: int) -> ListPage:
    """One page of the filtered list, its total and the filter bar's locations and nurses."""
    rows, total, number = _read_page(session, _shape(f), _params(f), page, per_page)
    locations, nurses = filter_choices(session)
    return ListPage(tuple(rows), total, number, per_page, tuple(locations), tuple(nurses))


def _read_page(session: Session, shape: tuple, params: dict, page: int, per_page: int) -> tuple[list, int, int]:
    def rows_of(number: int) -> list:
        return session.execute(
            _page_statement(shape), params | {"page_limit": per_page, "page_offset": (number - 1) * per_page}
        ).all()

    rows = rows_of(page)
    if rows:
        total = rows[0].total
    elif page == 1:
        total = 0
    else:  # past the last page (an old link, or patients gone meanwhile): count, then show the last page
        total = session.scalar(_count_statement(shape), params)
        page = page_number(page, total, per_page)
        rows = rows_of(page)
    return rows, total, page


def exact_mrn(session: Session, keys: tuple[str, ...], location_id: int | None) -> int | None:
    """The one patient (of this clinic, where scoped) whose MRN is one of `keys` whole (clinical.search)."""
    if not keys:
        return None
    where = [Patient.mrn_key.in_(keys)] + ([Patient.location_id == location_id] if location_id else [])
    found = session.scalars(select(Patient.id).where(*where).limit(2)).all()
    return found[0] if len(found) == 1 else None


def _board_statements(by_location: bool, per_column: int) -> tuple[Select, Select]:
    """The board's counts and cards."""
    counts = select(Patient.stage, func.count()).where(Patient.status == ACTIVE).group_by(Patient.stage)
    if by_location:
        counts = counts.where(Patient.location_id == bindparam("location_id"))
    # One query for all four columns: per stage, the first `per_column` rows of ix_patient_board (stage,
    # stage_since, id, ...), each read with its card's columns, so the cards cost the same however many patients
    # wait in a stage. (Selecting ids first, then patients by id, had PostgreSQL scan the whole table to match
    # 100 ids: 3.3 ms at 10k patients.)
    firsts = []
    for stage in STAGES:
        first = select(
            Patient.id,
            Patient.mrn,
            Patient.first_name,
            Patient.last_name,
            Patient.stage,
            Patient.stage_since,
            Patient.withdrawal_risk,
            Patient.location_id,
            Patient.nurse_id,
        ).where(Patient.status == "active", Patient.stage == stage)
        if by_location:
            first = first.where(Patient.location_id == bindparam("location_id"))
        firsts.append(select(first.order_by(Patient.stage_since, Patient.id).limit(per_column).subquery()))
    card = union_all(*firsts).subquery()
    cards = (
        select(
            card.c.id,
            card.c.mrn,
            card.c.first_name,
            card.c.last_name,
            card.c.stage,
            card.c.stage_since,
            card.c.withdrawal_risk,
            Location.name.label("location"),
            User.full_name.label("nurse"),
        )
        .join(Location, Location.id == card.c.location_id)
        .outerjoin(User, User.id == card.c.nurse_id)
        .order_by(card.c.stage_since, card.c.id)
    )
    return counts, cards


def board(session: Session, location_id: int | None, per_column: int) -> tuple[dict, dict, list]:
    """Active patients per stage, oldest in stage first, capped per column, with full counts, and the locations
    to filter by."""
    counts_q, cards_q = _board_statements(bool(location_id), per_column)
    params = {"location_id": location_id} if location_id else {}
    counted, cards = session.execute(counts_q, params).all(), session.execute(cards_q, params).all()
    locations = tuple(location_choices(session))
    columns = {stage: [p for p in cards if p.stage == stage] for stage in STAGES}
    return columns, dict.fromkeys(STAGES, 0) | dict(counted), locations


def patient_page(session: Session, patient_id: int) -> dict | None:
    patient = session.scalar(
        select(Patient).where(Patient.id == patient_id).options(joinedload(Patient.location), joinedload(Patient.nurse))
    )
    if patient is None:
        return None
    events = session.scalars(
        select(StageEvent)
        .where(StageEvent.patient_id == patient_id)
        .order_by(StageEvent.effective_date, StageEvent.id)
        .options(
            joinedload(StageEvent.recorded_by),
            joinedload(StageEvent.voided_by),
            selectinload(StageEvent.implantation).joinedload(Implantation.surgery_centre),
        )
    ).all()
    boluses = session.scalars(
        select(TrialBolus)
        .where(TrialBolus.patient_id == patient_id)
        .order_by(TrialBolus.given_on, TrialBolus.id)
        .options(joinedload(TrialBolus.recorded_by), joinedload(TrialBolus.voided_by))
    ).all()
    # Boluses voided by a correction (the page says "corrected", not just "voided").
    corrected = {b.corrects_id for b in boluses if b.corrects_id is not None}
    # Every call, message or letter to get the patient booked, newest first (the worklist logs them): a handful a
    # patient, so all of them, in one query with who made each.
    contacts = session.scalars(
        select(ContactAttempt)
        .where(ContactAttempt.patient_id == patient_id)
        .order_by(ContactAttempt.at.desc(), ContactAttempt.id.desc())
        .options(joinedload(ContactAttempt.by))
    ).all()
    return {
        "patient": patient,
        "events": events,
        "boluses": boluses,
        "corrected_boluses": corrected,
        "contacts": contacts,
    }


# The filter bars' choices are on every list page: run on the connection, not through the ORM.
def _location_choices_statement(by_kind: bool) -> Select:
    query = select(Location.id, Location.name).where(Location.active.is_(True)).order_by(Location.name)
    return query.where(Location.kind == bindparam("kind")) if by_kind else query


def _filter_choices_statement(by_kind: bool):
    what = literal_column("'location'").label("what")
    locations = _location_choices_statement(by_kind).with_only_columns(what, Location.id, Location.name).order_by(None)
    nurses = select(literal_column("'nurse'"), User.id, User.full_name).where(
        User.role == "nurse", User.active.is_(True)
    )
    return union_all(locations, nurses).order_by("what", "name")


def filter_choices(session: Session, kind: str | None = None) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """The active locations (of one kind, if given) and the active nurses, each in name order, in one query: the
    filter bars and the patient form have both (one round trip, about a millisecond on PostgreSQL here)."""
    chosen: dict[str, list[tuple[int, str]]] = {"location": [], "nurse": []}
    for what, i, name in session.connection().execute(_filter_choices_statement(bool(kind)), {"kind": kind}):
        chosen[what].append((i, name))
    return chosen["location"], chosen["nurse"]


def location_choices(session: Session, kind: str | None = None) -> list[tuple[int, str]]:
    rows = session.connection().execute(_location_choices_statement(bool(kind)), {"kind": kind})
    return [(i, n) for i, n in rows]


def pump_model_choices(session: Session) -> list[tuple[int, str]]:
    query = select(PumpModel.id, PumpModel.name).where(PumpModel.active.is_(True)).order_by(PumpModel.name)
    return [(i, n) for i, n in session.execute(query).all()]


def concentration_choices(session: Session, include_trial: bool = False) -> list[tuple[int, str]]:
    query = select(DrugConcentration.concentration_mcg_per_ml).where(DrugConcentration.active.is_(True))
    if not include_trial:
        query = query.where(DrugConcentration.trial_only.is_(False))
    return [(c, f"{c} mcg/mL") for c in session.scalars(query.order_by(DrugConcentration.concentration_mcg_per_ml))]
