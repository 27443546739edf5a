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


def register(app: Flask) -> None:
    app.jinja_env.filters.update(date=fmt_date, datetime=fmt_datetime, ml=fmt_ml)
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

        return {"can": can}

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
        if current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        return response
