"""Glue shared by the blueprints: the permission decorator, the acting user, clinic dates, filters."""

from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from functools import wraps
from zoneinfo import ZoneInfo

from flask import Flask, Response, abort, current_app, flash, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user, login_required
from markupsafe import Markup
from werkzeug.exceptions import Forbidden
from werkzeug.routing import IntegerConverter
from werkzeug.wsgi import ClosingIterator

from tracker.clinic_zone import local_date
from tracker.clinical.journey import EXIT_REASONS, STAGE_LABELS
from tracker.clinical.refill_risk import due_words
from tracker.clinical.scales import DIAGNOSES, LOCATION_KINDS, ORIGINS, ROLES, SEXES, TRIAL_OUTCOMES
from tracker.extensions import db
from tracker.formats import fmt_date, fmt_datetime, fmt_iso, plural, tel_href
from tracker.models.types import utcnow
from tracker.policy import ACROSS_SITES, EVERY_CLINIC, OWN_CLINIC_ONLY, allowed, site_allows
from tracker.services import Actor
from tracker.services.bookings import CONTACT_METHODS, CONTACT_OUTCOMES
from tracker.services.digest_delivery import banner_due


def requires(permission: str):
    """Login plus the role permission; 403 otherwise (before anything is read or written)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not allowed(current_user.role, permission):
                abort(403)
            _site_guard(kwargs)
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorator


class OtherClinic(Forbidden):
    description = (
        "This patient belongs to another clinic. The clinic's settings let you change (or see) only "
        "your own clinic's patients; ask a physician or that clinic's staff."
    )


def _site_guard(view_args: dict) -> None:
    """Minimum necessary by site, for every guarded route that names a patient (or their booking or request):
    one rule (tracker.policy.site_allows), checked here before the view reads or writes anything."""
    if current_user.role in ACROSS_SITES:
        return
    writing = request.method == "POST"
    if not view_args.keys() & PATIENT_KEYS and not (writing and request.endpoint == "patients.new_patient"):
        return
    from tracker.extensions import db

    scope = site_scope()
    if scope == EVERY_CLINIC:
        return
    location_id = _patient_location(db.session, view_args)
    if location_id is None and request.endpoint == "patients.new_patient":
        location_id = int_arg_form("location_id")
    if location_id is not None and not site_allows(
        current_user.role, current_user.location_id, location_id, scope, writing
    ):
        raise OtherClinic()


PATIENT_KEYS = {"patient_id", "appointment_id", "request_id"}


def _patient_location(session, view_args: dict) -> int | None:
    """The clinic of the patient the route names; None when there is no such record (the view's 404)."""
    from sqlalchemy import select

    from tracker.models import Patient, PhysicianRequest, RefillAppointment

    if "patient_id" in view_args:
        query = select(Patient.location_id).where(Patient.id == view_args["patient_id"])
    else:
        model = RefillAppointment if "appointment_id" in view_args else PhysicianRequest
        key = view_args.get("appointment_id", view_args.get("request_id"))
        query = select(Patient.location_id).join(model, model.patient_id == Patient.id).where(model.id == key)
    return session.scalar(query)


def int_arg_form(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() and int(value) <= MAX_ID else None


def site_scope() -> int:
    """The clinic's site scope, read with the signed-in user (tracker.services.sessions.resume): no query."""
    scope = getattr(current_user, "site_scope", None)
    if scope is None:  # a user loaded another way (a test's login_user): read it
        from tracker.extensions import db
        from tracker.services.settings import get_setting

        scope = get_setting(db.session, "site_scope")
    return scope


def own_clinic_only() -> int | None:
    """The user's clinic when the settings let them see only its patients (lists are filtered to it); None
    when they see every clinic's."""
    if current_user.role in ACROSS_SITES or site_scope() < OWN_CLINIC_ONLY:
        return None
    return current_user.location_id or -1  # no home clinic: nothing to see


request_log = logging.getLogger("tracker.request")
SESSION_ENDED = {
    "idle": "You were signed out after a period of inactivity.",
    "too_long": "You were signed out after the longest session allowed.",
    "password_changed": "Your password was changed, so this session was signed out.",  # nosec B105: a message
    "ended_by_user": "This session was signed out from another of your sessions.",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
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
    if field is not None and hasattr(field, "errors") and field.type != "HiddenField":  # hidden: nothing to sit by
        field.errors = list(field.errors) + [error.message]
    else:
        flash(error.message, "error")


def not_saved(form, fresh, fields) -> list[tuple[str, object]]:
    """What the user typed that differs from the values just saved by someone else, to re-apply by hand (a
    choice by its label, not its stored value)."""

    def shown(field):
        return dict(field.choices).get(field.data, field.data) if field.type == "SelectField" else field.data

    return [(form[name].label.text, shown(form[name])) for name in fields if form[name].data != fresh[name].data]


_FORMULA_START = re.compile(r"(^|[,;\t|])(\s*)([=+\-@\r])")
_PLAIN_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")


def csv_cell(value) -> str:
    """Spreadsheets run cells starting with = + - @ (or a tab or carriage return) as formulas; data must not. A
    spreadsheet set to another list separator (";" in much of Europe) splits "Doe;=1+2" into two cells, so a
    formula character after any separator is defused too (an apostrophe before it, shown by no spreadsheet).
    A cell that is a plain number and nothing else ("-66", "+2", "-0.5") runs nothing: it stays a number, not the
    text "'-66" a spreadsheet can neither sort nor sum."""
    text = "" if value is None else str(value)
    if _PLAIN_NUMBER.fullmatch(text):
        return text
    return _FORMULA_START.sub(lambda m: f"{m.group(1)}{m.group(2)}'{m.group(3)}", text)


class DatabaseId(IntegerConverter):
    """`<int:...>` in every route: ids the database's integer columns can hold. 2^31 and beyond (and a leading
    zero or sign, as before) match no route, so they are a 404, not a 500 from the driver."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def csv_response(rows: list[list], filename: str) -> Response:
    """A CSV download with every cell defused."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL).writerows([[csv_cell(v) for v in row] for row in rows])
    return Response(
        buffer.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


SEARCH_ARGS = {"q"}  # typed text may be a name: recorded as used, never its value


def audit_read(
    entity: str,
    rows: int | None = None,
    patient_id: int | None = None,
    action: str = "export",
    names: bool | None = None,
    once_within: timedelta | None = None,
) -> None:
    """Record a bulk read (an export, a feed, a printed summary) with who, what, its filters and how many rows:
    the trail shows that a list of every patient left the app, without copying the list into the trail. With
    `once_within`, the same user's same read is recorded once in that time (the calendar asks for its events on
    every view: a row each time would bury the trail)."""
    from sqlalchemy import select

    from tracker.extensions import db
    from tracker.models import AuditEvent
    from tracker.services.audit import record

    filters = {k: ("(search text)" if k in SEARCH_ARGS else v[:100]) for k, v in request.args.items()}
    after = {"filters": filters, "rows": rows} | ({"names": names} if names is not None else {})
    if once_within is not None:
        recent = db.session.scalars(
            select(AuditEvent.after)
            .where(
                AuditEvent.user_id == current_user.id,
                AuditEvent.entity == entity,
                AuditEvent.action == action,
                AuditEvent.at >= datetime.now(UTC) - once_within,
            )
            .order_by(AuditEvent.id.desc())
            .limit(20)
        )
        if any((seen or {}).get("filters") == filters for seen in recent):
            return
    record(db.session, actor(), action, entity, None, patient_id, None, after)
    db.session.commit()


def actor() -> Actor:
    return Actor(user_id=current_user.id, role=current_user.role, address=request.remote_addr)


def clinic_today() -> date:
    """Today in the clinic's time zone (not the server's, which is UTC)."""
    return local_date(datetime.now(UTC))


def patient_url_prefix() -> str:
    """A patient page's URL without its id (the route's last part): pages listing many patients call url_for once,
    not once a row."""
    return url_for("patients.show", patient_id=0).removesuffix("0")


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

    def _start_clock():
        g.started = time.perf_counter()
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if given and _REQUEST_ID.match(given) else os.urandom(16).hex()

    # First of all the before-request functions (CSRF's among them), so refused requests are timed too.
    app.before_request_funcs.setdefault(None, []).insert(0, _start_clock)

    @app.before_request
    def _refuse_nul_bytes():
        # The form only where a form is read (WTForms reads it from these methods only): parsing an absent body
        # on every GET cost a static file ~4% of its time (bench/RESULTS.md, issue 20).
        if request.query_string and any("\x00" in v for v in request.args.values()):
            abort(400)
        if request.method in FORM_METHODS and any("\x00" in v for v in request.form.values()):
            abort(400)

    @app.before_request
    def _sign_out_ended_sessions():
        """A cookie whose server-side session is no longer open (tracker.services.sessions) signs this browser
        out, with a word why, and asks for a new sign-in. Loading the user here, before any view, also keeps the
        session's "last seen" write ahead of the view's own transaction."""
        if request.endpoint == "static" or "_user_id" not in session or current_user.is_authenticated:
            return None
        from tracker.auth.routes import end_session  # the auth blueprint imports this module

        end_session()
        flash(SESSION_ENDED.get(g.get("session_refused"), "Your session has ended.") + " Please sign in again.", "info")
        if request.endpoint in ("auth.login", "auth.logout"):
            return redirect(url_for("auth.login"))
        target = request.full_path if request.method == "GET" else None
        return redirect(url_for("auth.login", next=target.rstrip("?") if target else None))

    @app.after_request
    def _headers(response):
        # Each added unless the view set its own. One pass over the headers: Headers.setdefault raised and caught
        # a KeyError for every absent name, ~5% of a static file's time.
        present = {name.lower() for name, _ in response.headers.items()}
        secure = current_app.config.get("SESSION_COOKIE_SECURE")  # production: served over TLS only
        for name, value in SECURITY_HEADERS + (HSTS if secure else ()):
            if name.lower() not in present:
                response.headers.add(name, value)
        # Static files skip the session user lookup; every page may show patient data, so none is cached.
        if request.endpoint != "static" and current_user.is_authenticated:
            response.headers["Cache-Control"] = "no-store"
        _log_request(response)
        return response

    app.session_interface = StaticSkipsSession()
    app.wsgi_app = RequestLog(app.wsgi_app)


# No inline scripts anywhere, so the policy can forbid them.
SECURITY_HEADERS = (
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    ),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
)
HSTS = (("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),)
FORM_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class StaticSkipsSession(SecureCookieSessionInterface):
    """Flask's signed-cookie session, except for a static file's request, which never reads the session (no
    login, no user): its cookie is neither verified and decoded (a fifth of the request's time, bench/RESULTS.md,
    issue 20) nor written back, so the browser keeps the session it has."""

    def open_session(self, app, request):
        path = request.path
        if path.startswith(f"{app.static_url_path}/") or path == "/favicon.ico":
            return _NotRead()
        return super().open_session(app, request)

    def save_session(self, app, session, response) -> None:
        if not isinstance(session, _NotRead):
            super().save_session(app, session, response)


class _NotRead(SecureCookieSessionInterface.session_class):
    """A static file's session: empty, and never saved."""


class RequestLog:
    """Writes the request's log line once the server has the status the client gets: a failure after the
    response was built (in teardown, or while the body is sent) is logged as the 500 the client saw, not as
    the 200 the view returned. The line's fields are gathered while the request is still open (_log_request)."""

    def __init__(self, wsgi_app):
        self.wsgi_app = wsgi_app

    def __call__(self, environ, start_response):
        seen = {}

        def start(status, headers, exc_info=None):
            seen["status"] = int(status.split()[0])
            return start_response(status, headers, exc_info)

        def write_line(failed: bool = False) -> None:
            line = environ.pop(LOG_KEY, None)
            if line is not None:
                line["status"] = 500 if failed else seen.get("status", line["status"])
                request_log.info(json.dumps(line))

        try:
            body = self.wsgi_app(environ, start)
        except BaseException:
            write_line(failed=True)  # the server answers 500 to whatever escapes the app
            raise
        return ClosingIterator(body, [write_line])


LOG_KEY = "tracker.request_log"


def _log_request(response) -> None:
    """One JSON line per request (written by RequestLog). Never a query string (searches carry names) or an
    unmatched path (it may carry anything typed); matched paths hold only numeric ids, dates and fixed words.
    The calendar feed's path holds its secret token, so its rule is logged instead."""
    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    if request.url_rule is None:
        path = "(no route)"
    elif request.endpoint == "calendar.feed":
        path = request.url_rule.rule
    else:
        path = request.path
    user_id = current_user.id if request.endpoint != "static" and current_user.is_authenticated else None
    started = g.get("started")
    request.environ[LOG_KEY] = {
        "method": request.method,
        "path": path,
        "status": response.status_code,
        "duration_ms": round((time.perf_counter() - started) * 1000, 1) if started else None,
        "user_id": user_id,
        "request_id": request_id,
    }
