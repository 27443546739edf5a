"""Patient, EpisodeOfCare, Device and Appointment from model rows (or anything with the same attributes)."""

from __future__ import annotations

from datetime import timedelta

from fhir.resources.R4B.appointment import Appointment
from fhir.resources.R4B.device import Device
from fhir.resources.R4B.episodeofcare import EpisodeOfCare
from fhir.resources.R4B.patient import Patient

from tracker.clinical.journey import EXITED
from tracker.fhir import codes


def ref(resource_type: str, resource_id: str, display: str | None = None) -> dict:
    """A reference to another resource of the same export."""
    return {"reference": f"{resource_type}/{resource_id}"} | ({"display": display} if display else {})


def quantity(value, unit: str) -> dict:
    """A UCUM quantity: unit "mL", "ug", "ug/d", "ug/mL"."""
    return {"value": value, "unit": unit, "system": codes.UCUM, "code": unit}


def patient(row, mrn_system: str, identity: bool = True) -> Patient:
    """The patient, identified by MRN. Without `identity` (an admin's export: MRNs only, as every export) no name,
    birth date or phone."""
    mrn = {
        "use": "usual",
        "type": {"coding": [{"system": codes.V2_IDENTIFIER_TYPE, "code": "MR", "display": "Medical record number"}]},
        "system": mrn_system,
        "value": row.mrn,
    }
    details = {}
    if identity:
        details = {
            "name": [{"use": "official", "family": row.last_name, "given": [row.first_name]}],
            "birthDate": row.date_of_birth,
            "gender": codes.GENDER.get(row.sex, "unknown"),
        } | ({"telecom": [{"system": "phone", "value": row.phone}]} if row.phone else {})
    return Patient(id=str(row.id), identifier=[mrn], active=row.status == "active", **details)


def _history_entry(event) -> dict:
    if event.to_stage == EXITED:
        status = codes.EXIT_STATUS.get(event.exit_reason, "finished")
        extension = [{"url": codes.EXT_EXIT_REASON, "valueCode": event.exit_reason}]
    else:
        status = codes.EPISODE_STATUS[event.to_stage]
        extension = [{"url": codes.EXT_STAGE, "valueCode": event.to_stage}]
    return {"status": status, "period": {"start": event.effective_date}, "extension": extension}


def episodes(row, events) -> list[EpisodeOfCare]:
    """One EpisodeOfCare per journey (a referral, or a re-referral after an exit, starts one): statusHistory holds
    each stage and the exit, with their dates; voided stage changes are left out."""
    journeys: list[list] = []
    for event in sorted((e for e in events if e.voided_at is None), key=lambda e: (e.effective_date, e.id)):
        if not journeys or event.from_stage in (None, EXITED):
            journeys.append([])
        journeys[-1].append(event)
    out = []
    for n, journey in enumerate(journeys, start=1):
        history = [_history_entry(e) for e in journey]
        for entry, following in zip(history, journey[1:], strict=False):
            entry["period"]["end"] = following.effective_date
        last = history[-1]
        out.append(
            EpisodeOfCare(
                id=f"{row.id}-{n}",
                status=last["status"],
                statusHistory=history,
                type=[{"text": "Intrathecal baclofen therapy"}],
                patient=ref("Patient", str(row.id)),
                period={"start": journey[0].effective_date}
                | ({"end": journey[-1].effective_date} if journey[-1].to_stage == EXITED else {}),
            )
        )
    return out


def _date_extension(url: str, value) -> list[dict]:
    return [{"url": url, "valueDate": value}] if value else []


def device(pump, model_name: str) -> Device:
    """The implanted pump: model, serial, reservoir; implant, ERI, battery and explant dates as extensions (R4
    Device has no element for them)."""
    extension = (
        _date_extension(codes.EXT_IMPLANTED, pump.implanted_on)
        + _date_extension(codes.EXT_ERI, pump.eri_on)
        + _date_extension(codes.EXT_BATTERY_DUE, pump.battery_replacement_due)
        + _date_extension(codes.EXT_EXPLANTED, pump.explanted_on)
    )
    return Device(
        id=str(pump.id),
        status="inactive" if pump.explanted_on else "active",
        serialNumber=pump.serial,
        deviceName=[{"name": model_name, "type": "model-name"}],
        modelNumber=model_name,
        type={"text": "Implantable intrathecal drug infusion pump"},
        patient=ref("Patient", str(pump.patient_id)),
        property=[
            {"type": {"text": "reservoir volume"}, "valueQuantity": [quantity(pump.reservoir_ml, "mL")]},
            {"type": {"text": "low-reservoir alarm volume"}, "valueQuantity": [quantity(pump.alarm_volume_ml, "mL")]},
        ],
        extension=extension or None,
    )


def appointment(row, location_name: str) -> Appointment:
    """A booked refill, with its history: a rebooked or cancelled booking stays, cancelled."""
    status = codes.APPOINTMENT_STATUS.get(row.status, "booked")
    reason = {"cancelationReason": {"text": row.status}} if row.status == "rebooked" else {}
    return Appointment(
        id=str(row.id),
        status=status,
        serviceType=[{"text": "ITB pump refill"}],
        start=row.starts_at,
        end=row.starts_at + timedelta(minutes=codes.APPOINTMENT_MINUTES),
        created=row.booked_at,
        participant=[
            {"actor": ref("Patient", str(row.patient_id)), "status": "accepted"},
            {"actor": ref("Device", str(row.pump_id)), "status": "accepted"},
            {"actor": {"display": location_name}, "status": "accepted"},
        ],
        **reason,
    )
