"""The printed refill list: a day's or a week's refills at a clinic, each with what to prepare (pump, drug and
concentration, volume, last residual), so the nurse or the pharmacy can prepare the drug. Read in a fixed number of
queries: the calendar's own events (tracker.services.calendar), then one query for every row's pump and last fill."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from tracker.clinic_zone import local_date
from tracker.clinical import refill_checks
from tracker.models import Location, Pump, PumpModel, RefillAppointment, RefillVisit
from tracker.models.bookings import OPEN
from tracker.services.calendar import calendar_events
from tracker.services.worklist import RefillFact

SPANS = {"day": 1, "week": 7}


@dataclass(frozen=True, slots=True)
class Preparation:
    """What a refill needs prepared, from the pump and its last fill that stands."""

    pump_model: str
    serial: str
    concentration_mcg_per_ml: int | None  # the last fill's: what the pump holds
    volume_ml: Decimal | None  # None: no reliable figure, `why` says why
    why: str | None
    last_fill_on: date | None  # clinic-local
    at_implant: bool  # the last fill was the implant's: no residual yet
    last_residual_ml: Decimal | None  # aspirated at the last refill
    booked_location: str | None  # where the open booking is (it may differ from the patient's clinic)


@dataclass(frozen=True, slots=True)
class SheetRow:
    day: date
    starts_at_local: datetime | None  # None: due that day and not booked
    fact: RefillFact
    label: str  # the refill-risk model's words for the pump, as the calendar shows them
    prep: Preparation


@dataclass(frozen=True)
class Sheet:
    start: date
    end: date
    days: list[tuple[date, list[SheetRow]]]  # every day of the span, in order, each with its rows

    @property
    def count(self) -> int:
        return sum(len(rows) for _, rows in self.days)


def span_of(span: str, day: date) -> tuple[date, date]:
    """The dates a printed list covers: the day, or its Monday-to-Sunday week (as the calendar's week view)."""
    if span == "week":
        monday = day - timedelta(days=day.weekday())
        return monday, monday + timedelta(days=6)
    return day, day


def refill_sheet(
    session: Session,
    span: str,
    day: date,
    today: date,
    now: datetime,
    location_ids: list[int] | None = None,
    nurse_id: int | None = None,
) -> Sheet:
    """Booked refills in the span, in time order each day, then pumps due that day and not booked (the pharmacy
    may prepare for them too): the calendar's rows for those dates, without its "action" reminders on today."""
    start, end = span_of(span, day)
    chosen = []
    for event in calendar_events(session, start, end, today, now, location_ids, nurse_id):
        if event.kind == "appointment" or (event.kind == "due" and event.fact.appointment_id is None):
            chosen.append(event)
    preparations = _preparations(session, [e.fact.pump_id for e in chosen])
    by_day: dict[date, list[SheetRow]] = {start + timedelta(days=n): [] for n in range((end - start).days + 1)}
    for e in sorted(
        chosen,
        key=lambda e: (
            e.day,
            e.starts_at_local is None,
            e.starts_at_local.time() if e.starts_at_local else time(0),
            e.fact.last_name,
            e.fact.first_name,
            e.fact.patient_id,
        ),
    ):
        by_day[e.day].append(SheetRow(e.day, e.starts_at_local, e.fact, e.label, preparations[e.fact.pump_id]))
    return Sheet(start, end, list(by_day.items()))


def _preparation_statement():
    standing = (
        select(
            RefillVisit.pump_id,
            RefillVisit.visit_at,
            RefillVisit.at_implant,
            RefillVisit.concentration_mcg_per_ml,
            RefillVisit.volume_added_ml,
            RefillVisit.resulting_volume_ml,
            RefillVisit.actual_residual_ml,
            func.row_number()
            .over(partition_by=RefillVisit.pump_id, order_by=(RefillVisit.visit_at.desc(), RefillVisit.id.desc()))
            .label("newest"),
        )
        .where(RefillVisit.voided_at.is_(None), RefillVisit.pump_id.in_(bindparam("pump_ids", expanding=True)))
        .subquery()
    )
    return (
        select(
            Pump.id,
            PumpModel.name,
            Pump.serial,
            standing.c.visit_at,
            standing.c.at_implant,
            standing.c.concentration_mcg_per_ml,
            standing.c.volume_added_ml,
            standing.c.resulting_volume_ml,
            standing.c.actual_residual_ml,
            Location.name,
        )
        .join(PumpModel, PumpModel.id == Pump.model_id)
        .outerjoin(standing, and_(standing.c.pump_id == Pump.id, standing.c.newest == 1))
        .outerjoin(RefillAppointment, and_(RefillAppointment.pump_id == Pump.id, RefillAppointment.status == OPEN))
        .outerjoin(Location, Location.id == RefillAppointment.location_id)
        .where(Pump.id.in_(bindparam("pump_ids", expanding=True)))
    )


def _preparations(session: Session, pump_ids: list[int]) -> dict[int, Preparation]:
    """Each pump's model, serial, last standing fill and open booking's place, in one query."""
    found = {}
    rows = session.connection().execute(_preparation_statement(), {"pump_ids": sorted(set(pump_ids))})
    for pump_id, model, serial, fill_at, at_implant, concentration, added, resulting, residual, place in rows:
        if fill_at is None:  # a pump in use always has a fill; say so rather than guess
            volume, why = None, "No fill recorded for this pump: check its record."
        else:
            volume, why = refill_checks.volume_to_prepare(added, resulting)
        found[pump_id] = Preparation(
            model,
            serial,
            concentration,
            volume,
            why,
            local_date(fill_at) if fill_at else None,
            bool(at_implant),
            residual,
            place,
        )
    return found
