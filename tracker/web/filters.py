"""Template filters and globals: dates, volumes, labels, badges and phone links as every page shows them."""

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from zoneinfo import ZoneInfo

from flask import Flask, current_app
from flask_login import current_user
from markupsafe import Markup

from tracker.clinical.journey import EXIT_REASONS, STAGE_LABELS
from tracker.clinical.refill_risk import due_words
from tracker.clinical.scales import DIAGNOSES, LOCATION_KINDS, ORIGINS, ROLES, SEXES, TRIAL_OUTCOMES
from tracker.extensions import db
from tracker.formats import fmt_date, fmt_datetime, fmt_iso, plural, tel_href
from tracker.models.types import utcnow
from tracker.policy import allowed
from tracker.services.bookings import CONTACT_METHODS, CONTACT_OUTCOMES
from tracker.services.digest_delivery import banner_due
from tracker.web.urls import patient_url_prefix


def fmt_ml(value) -> str:
    """Volumes and doses without trailing zeros: 20, 2.5, 0.6."""
    if value is None:
        return ""
    text = f"{Decimal(str(value)):.3f}".rstrip("0").rstrip(".")  # a stored Decimal, or a value kept as text
    return text or "0"


def fmt_volume(value) -> str:
    """A projected volume as clinicians read it, to one decimal: 39.9991 -> 40, 1.25 -> 1.3 (entered volumes keep
    what was typed, through fmt_ml)."""
    if value is None:
        return ""
    exact = (
        Decimal(value.numerator) / Decimal(value.denominator) if isinstance(value, Fraction) else Decimal(str(value))
    )
    return fmt_ml(exact.quantize(Decimal("0.1"), ROUND_HALF_UP))


def phone_link(phone: str | None) -> Markup:
    """Every phone number the app shows, as a link a phone or softphone dials (class "phone": it never wraps)."""
    href = tel_href(phone)
    if href is None:
        return Markup("{}").format(phone or "")
    return Markup('<a class="phone" href="{}">{}</a>').format(href, phone.strip())


def required_note(form) -> Markup:
    """The legend for render_field's required marks (templates/_macros.html), on a form showing any required field."""
    if any(field.flags.required and field.type not in ("HiddenField", "CSRFTokenField") for field in form):
        return Markup('<p class="required-note"><span class="req">*</span> required</p>')
    return Markup("")


def register(app: Flask) -> None:
    app.jinja_env.filters.update(
        date=fmt_date, datetime=fmt_datetime, iso=fmt_iso, plural=plural, due_words=due_words, ml=fmt_ml, vol=fmt_volume
    )
    labels = {
        "stage": STAGE_LABELS,
        "diagnosis": DIAGNOSES,
        "origin": ORIGINS,
        "sex": SEXES,
        "outcome": TRIAL_OUTCOMES,
        "role": ROLES,
        "kind": LOCATION_KINDS,
        "exit": {k: v[0] for k, v in EXIT_REASONS.items()},
        "contact_method": CONTACT_METHODS,
        "contact_outcome": CONTACT_OUTCOMES,
    }
    app.jinja_env.filters["label"] = lambda value, kind: labels[kind].get(value, value or "")
    app.jinja_env.filters["tel"] = phone_link

    def stage_badge(patient) -> Markup:
        """The stage, or the exit and its reason, as a badge."""
        if patient.status == "exited":
            return Markup('<span class="badge exited">Exited · {}</span>').format(
                labels["exit"].get(patient.exit_reason, patient.exit_reason or "")
            )
        stage = patient.stage
        return Markup('<span class="badge stage-{}">{}</span>').format(stage, labels["stage"].get(stage, stage))

    app.jinja_env.globals.update(
        stage_badge=stage_badge,
        patient_url_prefix=patient_url_prefix,
        required_note=required_note,
    )

    @app.context_processor
    def _helpers():
        def can(permission: str) -> bool:
            return current_user.is_authenticated and allowed(current_user.role, permission)

        def digest_late() -> bool:
            """base.html's banner, asked once a page and only by pages that render it (not JSON, not CSV)."""
            if not current_user.is_authenticated:
                return False
            return banner_due(
                db.session, current_app.config, current_user.id, allowed(current_user.role, "digest.manage"), utcnow()
            )

        return {"can": can, "now": datetime.now(ZoneInfo("UTC")), "digest_late": digest_late}
