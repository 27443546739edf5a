"""What wraps every request: its clock and id, the refusal of NUL bytes, the security headers and the one JSON
log line (written by RequestLog once the client's status is known). Signing out a session that ended elsewhere
is tracker.auth.browser_session's, registered between the two (tracker.create_app)."""

import json
import logging
import os
import re
import time
import uuid

from flask import Flask, abort, current_app, flash, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from werkzeug.wsgi import ClosingIterator

request_log = logging.getLogger("tracker.request")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def register_before(app: Flask) -> None:
    """The request's clock and id, first of all; then the NUL-byte refusal."""

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


def register_after(app: Flask) -> None:
    """Security headers and the request log line on every response."""

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

    @app.after_request
    def _advisory_flags(response):
        # A pump just entered that an open device advisory affects (tracker.services.advisories.flag_new_pumps):
        # said on the next page, whichever form or import entered it.
        if request.endpoint != "static" and current_user.is_authenticated:
            from tracker.extensions import db
            from tracker.services.advisories import take_flags

            for message in take_flags(db.session):
                flash(message, "warning")
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
