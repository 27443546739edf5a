"""Small factories: each builds a valid object with one call, through the same services the app uses."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import select

from tests.support.clock import CLINIC_ZONE, NOW, TODAY
from tests.support.passwords import CHEAP
from tests.support.snapshot import Rows, non_empty
from tracker.demo import ensure_sites
from tracker.models import Location, Patient, User
from tracker.services import Actor, trial_boluses
from tracker.services import patients as service
from tracker.services.pumps import ImplantDetails, ensure_catalogues
from tracker.services.refills import Programme

__all__ = ["CLINIC_TIMEZONE", "CLINIC_ZONE", "NOW", "TODAY"]  # the pinned clock, re-exported for the tests

PASSWORD = "correct horse battery staple"
CLINIC_TIMEZONE = CLINIC_ZONE.key
_numbers = itertools.count(1000)
_hash = None


def password_hash() -> str:
    global _hash
    if _hash is None:  # once per run, at the suite's cheap cost (tests/support/passwords.py)
        _hash = CHEAP.hash(PASSWORD)
    return _hash


@dataclass
class World:
    sites: dict[str, Location]
    users: dict[str, User] = field(default_factory=dict)

    @property
    def clinic(self) -> Location:
        return self.sites["Kennesaw Clinic"]

    @property
    def centre(self) -> Location:
        return self.sites["Snellville Surgery Center"]

    def actor(self, role: str = "nurse") -> Actor:
        return Actor(self.users[role].id, role, "127.0.0.1")


def make_user(session, role: str, email: str | None = None, location: Location | None = None) -> User:
    user = User(
        email=email or f"{role}{next(_numbers)}@example.org",
        full_name=f"Test {role.title()}",
        role=role,
        password_hash=password_hash(),
        location_id=location.id if location else None,
    )
    session.add(user)
    session.commit()
    return user


ROLES = ("nurse", "coordinator", "physician", "admin")
_world_rows: Rows | None = None


def world(session) -> World:
    """The clinic's sites, catalogues and one user per role (e-mail `<role>@example.org`), committed. Built through
    the services once per process on an empty database; after that, its rows are copied back (tests/support/
    snapshot.py) whenever the database is empty again, and the same objects loaded from them."""
    global _world_rows
    if _world_rows is not None and _world_rows.fits(session):
        _world_rows.restore(session)
        session.commit()
        sites = {s.name: s for s in session.scalars(select(Location).order_by(Location.id))}
        users = {u.role: u for u in session.scalars(select(User))}  # the copy's four: the tables were empty
        return World(sites, {role: users[role] for role in ROLES})
    empty = not non_empty(session)
    sites = {s.name: s for s in ensure_sites(session)}
    ensure_catalogues(session)
    session.commit()
    w = World(sites)
    for role in ROLES:
        w.users[role] = make_user(session, role, f"{role}@example.org", w.clinic)
    if empty:
        _world_rows = Rows.take(session)
    return w


def patient_data(w: World, **overrides) -> dict:
    n = next(_numbers)
    data = {
        "mrn": f"T{n}",
        "first_name": "Ada",
        "last_name": f"Lovelace{n}",
        "date_of_birth": date(1970, 5, 17),
        "sex": "female",
        "diagnosis": "ms",
        "spasticity_origin": "spinal",
        "location_id": w.clinic.id,
        "nurse_id": w.users["nurse"].id,
        "withdrawal_risk": False,
        "withdrawal_risk_reason": "",
        "phone": "",
    }
    data.update(overrides)
    return data


def make_patient(session, w: World, referred_days_ago: int = 30, **overrides) -> Patient:
    return service.create_patient(
        session, w.actor(), patient_data(w, **overrides), TODAY - timedelta(days=referred_days_ago), TODAY
    )


def bolus_data(given_on: date, outcome: str = "positive", **overrides) -> dict:
    data = {
        "given_on": given_on,
        "dose_mcg": 50,
        "concentration_mcg_per_ml": 50,
        "ashworth_before": "3",
        "ashworth_after": "1+" if outcome == "positive" else "3",
        "penn_frequency_before": 3,
        "penn_severity_before": 2,
        "penn_frequency_after": 1,
        "penn_severity_after": 1,
        "hours_of_effect": None,
        "outcome": outcome,
        "notes": "",
    }
    data.update(overrides)
    return data


def move(session, w: World, patient: Patient, to: str, days_ago: int = 0, role: str = "nurse", **kwargs):
    session.refresh(patient)
    return service.move_stage(
        session,
        w.actor(role),
        patient.id,
        patient.version,
        to,
        TODAY - timedelta(days=days_ago),
        kwargs.pop("reason", "back-dated in a test"),
        TODAY,
        **kwargs,
    )


def to_adjustment(session, w: World, patient: Patient) -> Patient:
    """Walk a patient through trial (positive bolus) and implantation into adjustment."""
    move(session, w, patient, "trial", days_ago=20)
    trial_boluses.record_bolus(session, w.actor(), patient.id, bolus_data(TODAY - timedelta(days=19)), TODAY)
    # 300 mcg/day is above the 50 mcg trial's guide (100 mcg/day): a physician enters it, signing off.
    move(
        session,
        w,
        patient,
        "implantation",
        days_ago=10,
        surgery_centre_id=w.centre.id,
        surgeon="Dr Shaw",
        implant=implant_details(session),
        role="physician",
    )
    move(session, w, patient, "adjustment", days_ago=5)
    session.refresh(patient)
    return patient


def implant_details(
    session,
    model: str = "SynchroMed II 20 mL",
    fill_ml: str = "20",
    concentration: int = 500,
    dose_mcg: str = "300",
    **overrides,
) -> ImplantDetails:
    from tracker.models import PumpModel

    model_id = session.scalar(select(PumpModel.id).where(PumpModel.name == model))
    data = {
        "model_id": model_id,
        "serial": f"NGP{next(_numbers)}",
        "catheter_tip_level": "T10",
        "alarm_volume_ml": None,
        "fill_volume_ml": Decimal(fill_ml),
        "concentration_mcg_per_ml": concentration,
        "programme": Programme(Decimal(dose_mcg)),
    }
    data.update(overrides)
    return ImplantDetails(**data)


def implanted_days_ago(session, w: World, days: int, patient: dict | None = None, **implant) -> Patient:
    """A patient whose pump was implanted and filled `days` ago (default pump: due on day 23, alarm day 30);
    `patient` overrides the patient's own fields (nurse_id, location_id ...)."""
    patient = make_patient(session, w, referred_days_ago=days + 20, **(patient or {}))
    move(session, w, patient, "trial", days_ago=days + 10)
    trial_boluses.record_bolus(session, w.actor(), patient.id, bolus_data(TODAY - timedelta(days=days + 9)), TODAY)
    move(
        session,
        w,
        patient,
        "implantation",
        days_ago=days,
        surgery_centre_id=w.centre.id,
        surgeon="Dr Shaw",
        implant=implant_details(session, **implant),
        role="physician",
    )  # above the trial's guide: signed off
    move(session, w, patient, "adjustment", days_ago=days)
    session.refresh(patient)
    return patient
