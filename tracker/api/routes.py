"""The FHIR read interactions: metadata, Patient read, Patient/$everything, Appointment search by date. Nothing
else: any write is 405 and any other path 404, both as OperationOutcome."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import request

from tracker.api import bp
from tracker.api.guard import audit, client_required, error
from tracker.clinic_zone import start_of_day
from tracker.extensions import csrf, db
from tracker.fhir.bundle import bundle, capability_statement
from tracker.fhir.search import BadSearch, day_range
from tracker.health import APP_VERSION
from tracker.services.fhir_export import appointments_between, everything, patient_only
from tracker.web.fhir import fhir_base, fhir_response, mrn_system

csrf.exempt(bp)  # a bearer token, never a cookie, identifies the caller: there is no session to forge requests in
WRITES = ["POST", "PUT", "PATCH", "DELETE"]


@bp.get("/metadata")
def metadata():
    """The CapabilityStatement, open to anyone as FHIR expects (it holds no patient data)."""
    published = datetime(2026, 12, 1, tzinfo=UTC)  # when this API's shape last changed
    return fhir_response(capability_statement(fhir_base(), APP_VERSION, published))


@bp.get("/Patient/<int:patient_id>")
@client_required
def read_patient(patient_id: int):
    resource = patient_only(db.session, patient_id, mrn_system())
    audit({"interaction": "read", "type": "Patient", "id": patient_id, "rows": int(resource is not None)}, resource)
    if resource is None:
        return error(404, "not-found", f"Patient/{patient_id} is not known.")
    return fhir_response(resource)


@bp.get("/Patient/<int:patient_id>/$everything")
@client_required
def patient_everything(patient_id: int):
    made = everything(db.session, patient_id, mrn_system())
    audit({"interaction": "operation", "operation": "$everything", "id": patient_id, "rows": len(made or [])}, made)
    if made is None:
        return error(404, "not-found", f"Patient/{patient_id} is not known.")
    return fhir_response(bundle(made, fhir_base(), "searchset", datetime.now(UTC)))


@bp.get("/Appointment")
@client_required
def search_appointments():
    params = {"date": [v[:20] for v in request.args.getlist("date")]}
    try:
        first, after_last = day_range(request.args.getlist("date"))
    except BadSearch as refused:
        audit({"interaction": "search-type", "type": "Appointment", "params": params, "rows": 0, "refused": 400})
        return error(400, "invalid", refused.message)
    made = appointments_between(db.session, start_of_day(first), start_of_day(after_last))
    audit({"interaction": "search-type", "type": "Appointment", "params": params, "rows": len(made)})
    return fhir_response(bundle(made, fhir_base(), "searchset", datetime.now(UTC)))


@bp.route("/", defaults={"anything": ""}, methods=WRITES)
@bp.route("/<path:anything>", methods=WRITES)
def no_writes(anything: str):
    return error(405, "not-supported", "This FHIR API is read-only.", {"Allow": "GET"})


@bp.get("/", defaults={"anything": ""})
@bp.get("/<path:anything>")
def unknown(anything: str):
    return error(404, "not-found", "No such FHIR endpoint: see /fhir/metadata.")
