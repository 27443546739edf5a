"""Bundles of the export and the API, the CapabilityStatement, and OperationOutcome for errors."""

from __future__ import annotations

from datetime import datetime

from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

# Resource types in the order a patient's bundle lists them (and the CLI writes its NDJSON files).
RESOURCE_TYPES = (
    "Patient",
    "EpisodeOfCare",
    "Device",
    "Procedure",
    "Observation",
    "MedicationStatement",
    "Appointment",
)


def bundle(resources: list, base_url: str, kind: str = "collection", timestamp: datetime | None = None) -> Bundle:
    """A `collection` (the patient page's export) or `searchset` (the API, with its total) of these resources."""
    entries = [{"fullUrl": f"{base_url}/{r.get_resource_type()}/{r.id}", "resource": r} for r in resources]
    if kind == "searchset":
        for entry in entries:
            entry["search"] = {"mode": "match"}
    return Bundle(
        type=kind,
        timestamp=timestamp,
        total=len(entries) if kind == "searchset" else None,
        entry=entries or None,
    )


def capability_statement(base_url: str, version: str, published: datetime) -> CapabilityStatement:
    """What the read API offers: read Patient, Patient/$everything, search Appointment by date; nothing else."""
    read = [{"code": "read"}]
    return CapabilityStatement(
        status="active",
        date=published,
        kind="instance",
        software={"name": "ITB tracker", "version": version},
        implementation={"description": "ITB tracker read-only FHIR API", "url": base_url},
        fhirVersion="4.3.0",
        format=["application/fhir+json"],
        rest=[
            {
                "mode": "server",
                "security": {
                    "service": [{"text": "Bearer token per client, issued and revoked by the clinic's administrators"}],
                    "description": "Authorization: Bearer <token>. Read-only; rate-limited per client.",
                },
                "resource": [
                    {
                        "type": "Patient",
                        "interaction": read,
                        "operation": [
                            {
                                "name": "everything",
                                "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything",
                            }
                        ],
                    },
                    {
                        "type": "Appointment",
                        "interaction": [{"code": "search-type"}],
                        "searchParam": [{"name": "date", "type": "date"}],
                    },
                ],
            }
        ],
    )


def operation_outcome(code: str, message: str) -> OperationOutcome:
    """An error the API returns: `code` from FHIR's issue-type codes (not-found, login, throttled, invalid ...)."""
    return OperationOutcome(issue=[{"severity": "error", "code": code, "diagnostics": message}])
