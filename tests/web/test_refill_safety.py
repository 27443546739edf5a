"""The product's one promise as a property (issue 16): random sequences of what a clinic does (implant, refill, dose
up and down, book, rebook, cancel, risk flag, settings, an MRI or a suspected catheter occlusion and the check or
review after it) and of the clock moving on by hours and days. After every step,
every pump in use that the refill-risk model says needs action is on the worklist, in at least one recipient's
e-mail for that day, in its clinic's feed and red or amber on its page; no pump that is fine is on the worklist, in
the feed's action events or coloured on its page. A pump past its due date always needs action, whatever is booked.
Both databases; the clock is time-machine's, never the wall's."""

import random
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal

import pytest
import time_machine

from tests.support.factories import implanted_days_ago
from tracker.clinic_zone import clinic_zone, local_date
from tracker.clinical import pump_events as ev
from tracker.models import Patient, PumpEvent, RefillSchedule, RefillVisit
from tracker.services import DomainError
from tracker.services.bookings import book_refill, cancel, open_appointment, rebook
from tracker.services.calendar import feed_events
from tracker.services.catalogue import update_settings
from tracker.services.digest_contents import DigestOptions, contents
from tracker.services.doses import change_dose
from tracker.services.patients import PATIENT_FIELDS, update_patient
from tracker.services.pump_events import EventEntry, patient_events, record_done, record_event
from tracker.services.refill_visits import RefillEntry, record_refill
from tracker.services.refills import Programme, current_pump
from tracker.services.settings import risk_windows
from tracker.services.worklist import refill_rows, worklist_page

STEPS = 16
ACTIONS = (
    "implant",
    "refill",
    "dose",
    "book",
    "book",
    "cancel",
    "risk",
    "settings",
    "hours",
    "days",
    "days",
    "mri",
    "occlusion",
    "done",
)
MODELS = ("SynchroMed II 20 mL", "Prometra II 20 mL")  # an MRI: a check after the scan, or emptied before it


def _now() -> datetime:
    return datetime.now(UTC)


class Clinic:
    """The actions, each as the clinic's staff would do it through the services."""

    def __init__(self, session, world, rng, clock):
        self.session, self.world, self.rng, self.clock = session, world, rng, clock
        self.patients: list[Patient] = []

    def pick(self):
        return self.rng.choice(self.patients) if self.patients else None

    def implant(self, _=None):
        if len(self.patients) < 6:
            self.patients.append(
                implanted_days_ago(self.session, self.world, self.rng.randint(0, 45), model=self.rng.choice(MODELS))
            )

    def refill(self, patient):
        pump = current_pump(self.session, patient.id)
        left = Decimal(self.rng.choice(["0", "1.5", "3", "6"]))
        record_refill(
            self.session,
            self.world.actor("nurse"),
            pump.id,
            RefillEntry(
                visit_at=_now() - timedelta(minutes=1),
                expected_residual_ml=left,
                actual_residual_ml=left,
                concentration_mcg_per_ml=500,
                volume_added_ml=20 - left,
                resulting_volume_ml=Decimal(20),
            ),
            True,
            _now(),
        )

    def dose(self, patient):
        pump = current_pump(self.session, patient.id)
        change_dose(
            self.session,
            self.world.actor("physician"),
            pump.id,
            _now() - timedelta(minutes=1),
            Programme(Decimal(self.rng.choice(["150", "250", "300", "400", "600"]))),
            "titration",
            _now(),
        )

    def book(self, patient):
        day = local_date(_now()) + timedelta(days=self.rng.randint(0, 40))
        starts_at = datetime.combine(day, time(self.rng.choice([8, 13, 17])), clinic_zone())
        if starts_at <= _now():
            starts_at = _now() + timedelta(hours=2)
        current = open_appointment(self.session, patient.id)
        args = (starts_at, self.world.clinic.id, self.world.users["nurse"].id, "earliest slot", "seen the dates")
        physician = self.world.actor("physician")  # may book after the alarm date: every booking goes through
        if current is None:
            book_refill(self.session, physician, patient.id, *args, _now())
        else:
            rebook(self.session, physician, current.id, current.version, *args, "patient asked", _now())

    def cancel(self, patient):
        current = open_appointment(self.session, patient.id)
        if current is not None:
            cancel(self.session, self.world.actor("coordinator"), current.id, current.version, "patient ill", _now())

    def risk(self, patient):
        data = {name: getattr(patient, name) for name in PATIENT_FIELDS}
        data["withdrawal_risk"] = not patient.withdrawal_risk
        data["withdrawal_risk_reason"] = "Spinal cord injury at T4" if data["withdrawal_risk"] else ""
        update_patient(self.session, self.world.actor("nurse"), patient.id, patient.version, data, local_date(_now()))

    def settings(self, _):
        update_settings(
            self.session,
            self.world.actor("admin"),
            {"due_soon_days": self.rng.choice([3, 7, 14, 30]), "safety_buffer_days": self.rng.choice([3, 7, 10])},
        )

    def mri(self, patient):
        record_event(
            self.session,
            self.world.actor("nurse"),
            patient.id,
            None,
            EventEntry(ev.MRI, _now() - timedelta(minutes=2)),
            _now(),
        )

    def occlusion(self, patient):
        record_event(
            self.session,
            self.world.actor("nurse"),
            patient.id,
            None,
            EventEntry(ev.SUSPECTED_OCCLUSION, _now() - timedelta(minutes=2)),
            _now(),
        )

    def done(self, patient):
        for event in patient_events(self.session, patient.id):
            if event.open:
                record_done(
                    self.session,
                    self.world.actor("physician"),
                    patient.id,
                    event.id,
                    event.work,
                    "checked",
                    event.version,
                    _now(),
                )

    def hours(self, _):
        self.clock.shift(timedelta(hours=self.rng.randint(1, 20)))

    def days(self, _):
        self.clock.shift(timedelta(days=self.rng.randint(1, 12)))

    def step(self, action: str) -> None:
        patient = self.pick()
        if patient is None and action not in ("implant", "settings", "hours", "days"):
            action = "implant"
        try:
            getattr(self, action)(patient)
        except DomainError:  # refused as a user would be (a fill above capacity, a dose before the last fill...)
            self.session.rollback()


def _page_tone(client, world, patient_id: int) -> str:
    response = client.get(f"/patients/{patient_id}")
    if response.status_code == 302:  # the clock moved past the session's idle limit: sign in again
        client.login(world.users["nurse"].email)
        response = client.get(f"/patients/{patient_id}")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for tone, css in (
        ("red", 'class="due overdue"'),
        ("red", "tone-red work-banner"),
        ("amber", 'class="due soon"'),
        ("amber", "tone-amber work-banner"),
    ):
        if css in page:
            return tone
    return "calm"


def _check(app, session, world, client):
    session.expire_all()
    now = _now()
    today = local_date(now)
    windows = risk_windows(session)
    rows = refill_rows(session, today, now, windows)
    need = {r.patient.id for r in rows if r.judgement.needs_action}
    fine = {r.patient.id for r in rows if not r.reasons}
    # Independent of the model: a pump past its due date needs action, whatever is booked; so does a pump emptied
    # before an MRI and not refilled since, and one whose post-MRI check or catheter review is not yet done.
    for schedule in session.query(RefillSchedule):
        if schedule.due_date < today:
            assert schedule.patient_id in need, "a late pump must need action"
    listed_pumps = {r.schedule.pump_id for r in rows}
    for event in session.query(PumpEvent).filter(PumpEvent.pump_id.in_(listed_pumps)):
        refilled = (
            session.query(RefillVisit)
            .filter(RefillVisit.pump_id == event.pump_id, RefillVisit.visit_at > event.occurred_at)
            .count()
        )
        if event.empties_pump and not refilled:
            assert event.patient_id in need, "a pump emptied before an MRI needs action until its refill"
        if event.work is not None and event.done_at is None:
            assert event.patient_id in need, "open device work needs action"

    listed = {r.patient.id for r in worklist_page(session, today, now, windows, 1, 10_000).items}
    assert need <= listed, "every pump needing action is on the worklist"
    assert not fine & listed, "no fine pump is on the worklist"

    action = {e.fact.patient_id for e in feed_events(session, today, now, [world.clinic.id]) if e.kind == "action"}
    assert need <= action, "every pump needing action is in its clinic's feed, on today"
    assert not fine & action

    mailed = " ".join(repr(c) for _, c in contents(session, today, now, DigestOptions.from_config(app.config)))
    for row in rows:
        if row.patient.id in need:
            assert row.patient.mrn in mailed, "every pump needing action is in some recipient's e-mail"

    for row in rows:
        tone = _page_tone(client, world, row.patient.id)
        if row.patient.id in need:
            assert tone in ("red", "amber"), "red or amber on its page"
        elif row.patient.id in fine:
            assert tone == "calm"


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.slow
def test_no_pump_that_needs_action_is_ever_silent(seed, app, session, world, as_role):
    rng = random.Random(seed)
    client = as_role("nurse")
    with time_machine.travel(_now(), tick=False) as clock:
        clinic = Clinic(session, world, rng, clock)
        for _ in range(2):
            clinic.implant()
        for _ in range(STEPS):
            clinic.step(rng.choice(ACTIONS))
            _check(app, session, world, client)
