"""Who is calling the FHIR API (a bearer token, never the browser's session), how often, and the errors it
answers with (OperationOutcome)."""

from __future__ import annotations

import functools
import logging
from datetime import UTC, datetime

from flask import Flask, current_app, g, request
from limits import parse
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis import RedisError

from tracker.extensions import db
from tracker.fhir.bundle import operation_outcome
from tracker.services.api_clients import client_for_token, record_read
from tracker.web.fhir import fhir_response

log = logging.getLogger("tracker.api")


def init_limiter(app: Flask) -> None:
    """Calls per client counted in the sign-in throttle's store (memory:// in one process, Redis shared). A limit
    `limits` cannot read stops the app at start-up, not at a client's first call."""
    parse(app.config["FHIR_API_RATE_LIMIT"])
    app.extensions["fhir_api_limiter"] = MovingWindowRateLimiter(
        storage_from_string(app.config["RATELIMIT_STORAGE_URI"])
    )


def error(status: int, code: str, message: str, headers: dict | None = None):
    """An OperationOutcome response: 400 invalid, 401 login, 404 not-found, 405 not-supported, 429 throttled."""
    return fhir_response(operation_outcome(code, message), status, headers=headers)


def _bearer() -> str:
    kind, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if kind.lower() == "bearer" else ""


def _over_limit(client_key: str) -> int | None:
    """Seconds until the client may call again, or None while under its limit. A store that cannot be reached lets
    the call through, logged, as sign-in does: a broken counter must not cut the hospital off."""
    limiter = current_app.extensions["fhir_api_limiter"]
    item = parse(current_app.config["FHIR_API_RATE_LIMIT"])
    try:
        if limiter.hit(item, "fhir-api", client_key):
            return None
        reset_at = limiter.get_window_stats(item, "fhir-api", client_key).reset_time
    except (StorageError, RedisError):
        log.exception("FHIR API: the rate-limit store cannot be reached; the call is not limited")
        return None
    return max(1, int(reset_at - datetime.now(UTC).timestamp()) + 1)


def client_required(view):
    """The view runs for an active client under its rate limit (g.api_client); 401 or 429 otherwise."""

    @functools.wraps(view)
    def wrapped(*args, **kwargs):
        client = client_for_token(db.session, _bearer())
        if client is None:
            return error(
                401,
                "login",
                "A valid API token is required: Authorization: Bearer <token>.",
                {"WWW-Authenticate": "Bearer"},
            )
        wait = _over_limit(client.token_hash[:16])
        if wait is not None:
            return error(429, "throttled", f"Too many calls; try again in {wait} s.", {"Retry-After": str(wait)})
        g.api_client = client
        return view(*args, **kwargs)

    return wrapped


def audit(what: dict, found=None) -> None:
    """Record this call, found or not (the client, the interaction and what it named; no record values); `found`,
    when the call named a patient that exists, links the row to them (what.id)."""
    patient_id = what.get("id") if found is not None else None
    record_read(db.session, g.api_client, request.remote_addr, what, patient_id, datetime.now(UTC))
