"""The export's resources are valid FHIR R4 (read back with fhir.resources) and carry the clinic's facts."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from decimal import Decimal

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import select

from tests.fhir.history import rich_patient
from tests.support.factories import TODAY
from tracker.fhir import codes
from tracker.fhir.bundle import bundle
from tracker.models import DoseChange, RefillAppointment, StageEvent
from tracker.services.fhir_export import everything

MRN_SYSTEM = "urn:oid:2.16.840.1.113883.19.5"


def exported(session, patient_id: int, identity: bool = True) -> Bundle:
    """The patient's bundle as JSON text, parsed back with fhir.resources: every resource validates again."""
    text = bundle(everything(session, patient_id, MRN_SYSTEM, identity), "https://t.example/fhir").model_dump_json()
    return Bundle.model_validate(json.loads(text))


def by_type(parsed: Bundle) -> dict[str, list]:
    out: dict[str, list] = {}
    for entry in parsed.entry:
        out.setdefault(entry.resource.get_resource_type(), []).append(entry.resource)
    return out


def test_a_patients_bundle_reads_back_with_every_clinical_fact(session, world):
    patient, pump = rich_patient(session, world, refills=2)
    parsed = by_type(exported(session, patient.id))

    (fhir_patient,) = parsed["Patient"]
    assert [(i.system, i.value, i.type.coding[0].code) for i in fhir_patient.identifier] == [
        (MRN_SYSTEM, patient.mrn, "MR")
    ]
    assert fhir_patient.name[0].family == patient.last_name and fhir_patient.birthDate == patient.date_of_birth

    (episode,) = parsed["EpisodeOfCare"]
    stages = [(h.extension[0].valueCode, h.period.start) for h in episode.statusHistory]
    events = session.scalars(select(StageEvent).where(StageEvent.patient_id == patient.id).order_by(StageEvent.id))
    assert stages == [(e.to_stage, e.effective_date) for e in events]
    assert [s for s, _ in stages] == ["evaluation", "trial", "implantation", "adjustment"]
    assert episode.status == "active" and episode.statusHistory[-1].period.end is None

    (device,) = parsed["Device"]
    assert (device.serialNumber, device.deviceName[0].name) == (pump.serial, pump.model.name)
    assert {e.url: e.valueDate for e in device.extension}[codes.EXT_IMPLANTED] == pump.implanted_on

    doses = session.scalars(select(DoseChange).where(DoseChange.pump_id == pump.id).order_by(DoseChange.effective_at))
    statements = parsed["MedicationStatement"]
    assert (
        [Decimal(str(s.dosage[0].doseAndRate[0].rateQuantity.value)) for s in statements]
        == [d.daily_dose_mcg for d in doses]
        == [Decimal(300), Decimal(310), Decimal(320)]
    )
    assert [s.status for s in statements] == ["completed", "completed", "active"]
    assert statements[0].effectivePeriod.end == statements[1].effectivePeriod.start
    assert all(s.dosage[0].doseAndRate[0].rateQuantity.code == "ug/d" for s in statements)
    assert "500 mcg/mL" in statements[-1].medicationCodeableConcept.text

    procedures = Counter(p.code.coding[0].code for p in parsed["Procedure"])
    assert procedures == {codes.TRIAL_BOLUS: 1, codes.IMPLANT: 1, codes.REFILL: 3}  # the fill at implant + 2
    implant = next(p for p in parsed["Procedure"] if p.code.coding[0].code == codes.IMPLANT)
    assert implant.focalDevice[0].manipulated.reference == f"Device/{pump.id}"

    scores = [
        (o.code.coding[0].code, o.valueCodeableConcept or o.valueInteger or o.valueQuantity)
        for o in parsed["Observation"]
    ]
    trial = [o for o in parsed["Observation"] if o.partOf[0].reference.startswith("Procedure/trial-")]
    ashworth = {
        o.extension[0].valueCode: o.valueCodeableConcept.coding[0].code
        for o in trial
        if o.code.coding[0].code == codes.ASHWORTH
    }
    assert ashworth == {"before": "3", "after": "1+"}
    residuals = [float(v.value) for code, v in scores if code == codes.RESIDUAL]
    assert residuals == [8.5, 8.5]

    (booking,) = parsed["Appointment"]
    stored = session.scalar(select(RefillAppointment).where(RefillAppointment.patient_id == patient.id))
    assert booking.status == "booked" and booking.start == stored.starts_at
    assert {p.actor.reference for p in booking.participant} >= {f"Patient/{patient.id}", f"Device/{pump.id}"}


def test_an_exit_and_a_re_referral_make_two_episodes(session, world):
    from tests.support.factories import make_patient, move

    patient = make_patient(session, world, referred_days_ago=60)
    move(session, world, patient, "exit:declined", days_ago=40)
    move(session, world, patient, "evaluation", days_ago=10)
    first, second = by_type(exported(session, patient.id))["EpisodeOfCare"]
    assert first.status == "cancelled" and first.period.end == TODAY.fromordinal(TODAY.toordinal() - 40)
    assert first.statusHistory[-1].extension[0].url == codes.EXT_EXIT_REASON
    assert second.status == "planned" and second.period.start == date.fromordinal(TODAY.toordinal() - 10)


def test_without_identity_the_patient_is_its_mrn_only(session, world):
    patient, _ = rich_patient(session, world, refills=0)
    fhir_patient = by_type(exported(session, patient.id, identity=False))["Patient"][0]
    assert fhir_patient.name is None and fhir_patient.birthDate is None and fhir_patient.telecom is None
    assert fhir_patient.identifier[0].value == patient.mrn


def test_an_unknown_patient_has_no_bundle(session, world):
    assert everything(session, 999_999, MRN_SYSTEM) is None


def _observed(observation):
    part_of = observation.partOf[0].reference.removeprefix("Procedure/")
    timing = observation.extension[0].valueCode if observation.extension else None
    value = (
        observation.valueCodeableConcept.coding[0].code
        if observation.valueCodeableConcept
        else observation.valueInteger
        if observation.valueInteger is not None
        else Decimal(str(observation.valueQuantity.value))
    )
    return (part_of, observation.code.coding[0].code, timing), value


def test_every_score_and_residual_reads_back_as_recorded(session, world):
    from tracker.models import RefillVisit, TrialBolus

    patient, pump = rich_patient(session, world, refills=3)
    expected = {}
    for b in session.scalars(select(TrialBolus).where(TrialBolus.patient_id == patient.id)):
        for timing in ("before", "after"):
            for code, name in (
                (codes.ASHWORTH, "ashworth"),
                (codes.PENN_FREQUENCY, "penn_frequency"),
                (codes.PENN_SEVERITY, "penn_severity"),
            ):
                if (value := getattr(b, f"{name}_{timing}")) is not None:
                    expected[(f"trial-{b.id}", code, timing)] = value
    for v in session.scalars(select(RefillVisit).where(RefillVisit.pump_id == pump.id)):
        for code, value in (
            (codes.ASHWORTH, v.ashworth),
            (codes.PENN_FREQUENCY, v.penn_frequency),
            (codes.RESIDUAL, v.actual_residual_ml),
        ):
            if value is not None:
                expected[(f"refill-{v.id}", code, None)] = value
    observed = dict(_observed(o) for o in by_type(exported(session, patient.id))["Observation"])
    assert observed == expected and len(expected) == 6 + 3 * 3
