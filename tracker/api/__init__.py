"""The read-only FHIR R4 API (/fhir): clients identify with a bearer token (tracker.services.api_clients), never
a browser session, so it takes no CSRF token either; every call is audited and rate-limited per client."""

from flask import Blueprint

bp = Blueprint("fhir", __name__, url_prefix="/fhir")
