"""A patient's record as a FHIR R4 Bundle, downloaded from the patient page (audited as an export)."""

from datetime import UTC, datetime

from flask import abort
from flask_login import current_user

from tracker.auth.permissions import requires
from tracker.extensions import db
from tracker.fhir.bundle import bundle
from tracker.patients import bp
from tracker.policy import allowed
from tracker.services.fhir_export import everything
from tracker.web.exports import audit_read
from tracker.web.fhir import fhir_base, fhir_response, mrn_system


@bp.get("/patients/<int:patient_id>/fhir.json")
@requires("patient.view")
def fhir_bundle(patient_id: int):
    """The patient's $everything as a collection Bundle; names only for roles allowed to export them (as every
    export: admins get the MRN without name, birth date or phone)."""
    names = allowed(current_user.role, "export.names")
    made = everything(db.session, patient_id, mrn_system(), identity=names)
    if made is None:
        abort(404)
    audit_read("fhir_bundle", len(made), patient_id=patient_id, names=names)
    return fhir_response(
        bundle(made, fhir_base(), timestamp=datetime.now(UTC)), filename=f"patient-{patient_id}.fhir.json"
    )
