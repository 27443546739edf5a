"""FHIR over HTTP: the JSON response (application/fhir+json) and the two settings every FHIR answer uses."""

from __future__ import annotations

from flask import Response, current_app

FHIR_JSON = "application/fhir+json"


def fhir_base() -> str:
    """The API's base URL, which every bundle entry's fullUrl starts with."""
    return current_app.config["BASE_URL"].rstrip("/") + "/fhir"


def mrn_system() -> str:
    """The identifier system of the hospital's MRNs (TRACKER_FHIR_MRN_SYSTEM)."""
    return current_app.config["FHIR_MRN_SYSTEM"]


def fhir_response(resource, status: int = 200, filename: str | None = None, headers: dict | None = None) -> Response:
    """A resource as FHIR JSON, never cached (it may hold patient data); `filename` makes it a download."""
    headers = {"Cache-Control": "no-store"} | dict(headers or {})
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return Response(resource.model_dump_json(), status=status, mimetype=FHIR_JSON, headers=headers)
