"""Glue shared by the blueprints: the permission decorator, the acting user, clinic dates, filters."""

from __future__ import annotations

from datetime import date, datetime
from functools import wraps
from zoneinfo import ZoneInfo

from flask import Flask, abort, current_app, flash, request
from flask_login import current_user, login_required

from tracker.clinical.journey import EXIT_REASONS, STAGE_LABELS
from tracker.clinical.scales import DIAGNOSES, LOCATION_KINDS, ORIGINS, ROLES, SEXES, TRIAL_OUTCOMES
from tracker.policy import allowed
from tracker.services import Actor


def requires(permission: str):
    """Login plus the role permission; 403 otherwise (before anything is read or written)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not allowed(current_user.role, permission):
                abort(403)
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorator


MAX_ID = 2**31 - 1
EARLIEST, LATEST = date(1900, 1, 1), date(2200, 12, 31)


def int_arg(name: str) -> int | None:
    """A positive id or page number from the query string; anything else is ignored, never a 500."""
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and 0 < int(value) <= MAX_ID else None


def date_arg(name: str, default: date) -> date:
    """An ISO date from the query string within a sane range, else the default."""
    try:
        value = date.fromisoformat(request.args.get(name, ""))
    except ValueError:
        return default
    return value if EARLIEST <= value <= LATEST else default


def form_version(field) -> int:
    """The hidden version counter; a tampered value counts as stale (0), never a crash."""
    value = (field.data or "").strip() if isinstance(field.data, str) else field.data
    return int(value) if str(value).isdigit() else 0


def show_error(form, error, rename: dict[str, str] | None = None) -> None:
    """Put a domain error beside its form field (or flash it when it names none), keeping what was typed."""
    name = getattr(error, "field", None)
    name = (rename or {}).get(name, name)
    field = getattr(form, name, None) if name else None
    if field is not None and hasattr(field, "errors"):
        field.errors = list(field.errors) + [error.message]
    else:
        flash(error.message, "error")


def actor() -> Actor:
    return Actor(user_id=current_user.id, role=current_user.role, address=request.remote_addr)


def clinic_today() -> date:
    """Today in the clinic's time zone (not the server's, which is UTC)."""
    return datetime.now(ZoneInfo(current_app.config["CLINIC_TIMEZONE"])).date()


def fmt_date(value: date | None) -> str:
    return value.strftime("%d %b %Y") if value else ""


def fmt_datetime(value: datetime | None) -> str:
    if value is None:
        return ""
    local = value.astimezone(ZoneInfo(current_app.config["CLINIC_TIMEZONE"]))
    return local.strftime("%d %b %Y %H:%M")


def fmt_ml(value) -> str:
    """Volumes and doses without trailing zeros: 20, 2.5, 0.6."""
    if value is None:
        return ""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def local_date(value: datetime, zone: str) -> date:
    return value.astimezone(ZoneInfo(zone)).date()


def register(app: Flask) -> None:
    app.jinja_env.filters.update(date=fmt_date, datetime=fmt_datetime, ml=fmt_ml, localdate=local_date)
    labels = {
        "stage": STAGE_LABELS, "diagnosis": DIAGNOSES, "origin": ORIGINS, "sex": SEXES,
        "outcome": TRIAL_OUTCOMES, "role": ROLES, "kind": LOCATION_KINDS,
        "exit": {k: v[0] for k, v in EXIT_REASONS.items()},
    }
    app.jinja_env.filters["label"] = lambda value, kind: labels[kind].get(value, value or "")

    @app.context_processor
    def _helpers():
        def can(permission: str) -> bool:
            return current_user.is_authenticated and allowed(current_user.role, permission)

        return {"can": can, "now": datetime.now(ZoneInfo("UTC"))}

    @app.before_request
    def _refuse_nul_bytes():
        if any("\x00" in v for v in request.args.values()) or any("\x00" in v for v in request.form.values()):
            abort(400)

    @app.after_request
    def _headers(response):
        # No inline scripts anywhere, so the policy can forbid them.
        response.headers.setdefault(
            "Content-Security-Policy",
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
        )
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        # Static files skip the session user lookup; every page may show patient data, so none is cached.
        if request.endpoint != "static" and current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response
