"""The tracker application: create_app() reads as a table of contents."""

import os
from pathlib import Path

from flask import Flask

from config import INSTANCE_DIR, Config, ProductionConfig, config_for
from tracker.clinic_zone import set_clinic_zone

ROOT = Path(__file__).resolve().parent.parent


def create_app(config_class: type[Config] | None = None, **overrides) -> Flask:
    """Build an app from a settings class (default: the one TRACKER_ENV names) and then `overrides`, upper-case
    setting names with the values that differ (`create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)`).

    Precedence: the class's values, which already hold their TRACKER_* environment variables (config.py reads them
    as each class is defined), then the overrides."""
    misnamed = [name for name in overrides if not name.isupper()]
    if misnamed:
        raise TypeError(f"create_app() settings are upper-case names: {', '.join(misnamed)}")
    settings = config_class or config_for()
    app = Flask(
        __name__,
        template_folder=str(ROOT / "templates"),
        static_folder=str(ROOT / "static"),
        instance_path=str(INSTANCE_DIR),
    )
    app.config.from_object(settings)
    app.config.update(overrides)
    if settings is ProductionConfig:
        ProductionConfig.check()
    os.makedirs(app.instance_path, exist_ok=True)
    set_clinic_zone(app.config["CLINIC_TIMEZONE"])

    register_logging(app)
    register_extensions(app)
    from tracker.web.args import DatabaseId

    app.url_map.converters["int"] = DatabaseId  # before any route is added: every <int:id> is bounded
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_request_hooks(app)
    register_commands(app)
    from tracker.jobs import init_scheduler

    init_scheduler(app)
    return app


def _no_result_rows(record) -> bool:
    """SQLAlchemy at DEBUG logs every result row, patient names included; those lines are dropped. (Statement
    parameters are hidden by the engine option hide_parameters.)"""
    return not (isinstance(record.msg, str) and record.msg.startswith("Row "))


def register_logging(app: Flask) -> None:
    """tracker.* loggers (the request log among them) write plain lines to stderr, where gunicorn keeps them."""
    import logging

    engine_logger = logging.getLogger("sqlalchemy.engine.Engine")
    if _no_result_rows not in engine_logger.filters:
        engine_logger.addFilter(_no_result_rows)
    logger = logging.getLogger("tracker")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    if not logger.handlers and not app.testing:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
        logger.addHandler(handler)


def register_extensions(app: Flask) -> None:
    from tracker import models  # noqa: F401  (so metadata knows every table)
    from tracker.extensions import csrf, db, login_manager, migrate

    if app.config["PROXY_HOPS"]:
        from werkzeug.middleware.proxy_fix import ProxyFix

        hops = app.config["PROXY_HOPS"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        # A file has no server that could drop the connection: the pre-ping would be one wasted statement a request.
        app.config["SQLALCHEMY_ENGINE_OPTIONS"] = {**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False}
    db.init_app(app)
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    csrf.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to continue."
    login_manager.login_message_category = "info"
    # No binding to the client's address or User-Agent (both are client-chosen, and a nurse's address changes
    # between wards): the server-side session record is what ends a session (tracker.services.sessions).
    login_manager.session_protection = None

    from tracker.auth.browser_session import load_user

    login_manager.user_loader(load_user)
    if app.config["RATE_LIMITS"]:
        from tracker.auth.throttle import Rules, SignInLimits, store_from_uri

        app.extensions["sign_in_limits"] = SignInLimits(
            store_from_uri(app.config["RATELIMIT_STORAGE_URI"]), app.secret_key, Rules.from_config(app.config)
        )
    from tracker.api.guard import init_limiter

    init_limiter(app)
    with app.app_context():
        _tune_sqlite(db.engine)


def _tune_sqlite(engine) -> None:
    """SQLite: WAL for concurrent readers, foreign keys enforced, wait instead of failing when busy."""
    if engine.dialect.name != "sqlite":
        return
    from sqlalchemy import event

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            # The 2 MB default cache makes every join lookup an OS read: the worklist at 10k patients went
            # 180 -> 25 ms with a 64 MB cache and the file memory-mapped (bench/RESULTS.md).
            cursor.execute("PRAGMA cache_size=-65536")
            cursor.execute("PRAGMA mmap_size=268435456")
        cursor.close()


def register_blueprints(app: Flask) -> None:
    # An area's views join its blueprint (`bp`, defined in the area's package __init__) when its view modules are
    # imported. They are imported here, not at the end of the package __init__: a package importing the modules
    # that import it back for `bp` is an import circle.
    import tracker.admin.api_clients
    import tracker.admin.audit
    import tracker.admin.catalogue
    import tracker.admin.digest
    import tracker.admin.routes
    import tracker.advisories.routes
    import tracker.api.routes
    import tracker.auth.routes
    import tracker.calculator.routes
    import tracker.corrections.pump
    import tracker.corrections.routes
    import tracker.dashboard.routes
    import tracker.home.routes
    import tracker.imports.routes
    import tracker.patients.fhir
    import tracker.patients.journey
    import tracker.patients.routes
    import tracker.physician.routes
    import tracker.refills.events
    import tracker.refills.routes
    import tracker.scheduling.bookings
    import tracker.scheduling.calendar
    import tracker.scheduling.contacts
    import tracker.scheduling.feed
    import tracker.scheduling.printing
    import tracker.scheduling.worklist  # noqa: F401  (each import above adds its views to its area's bp)
    from tracker.admin import bp as admin_bp
    from tracker.advisories import bp as advisories_bp
    from tracker.api import bp as fhir_bp
    from tracker.auth import bp as auth_bp
    from tracker.calculator import bp as calculator_bp
    from tracker.corrections import bp as corrections_bp
    from tracker.dashboard import bp as dashboard_bp
    from tracker.health import bp as health_bp
    from tracker.home import bp as home_bp
    from tracker.imports import bp as imports_bp
    from tracker.patients import bp as patients_bp
    from tracker.physician import bp as physician_bp
    from tracker.refills import bp as refills_bp
    from tracker.scheduling import bp as calendar_bp

    for bp in (
        auth_bp,
        home_bp,
        patients_bp,
        refills_bp,
        calendar_bp,
        admin_bp,
        health_bp,
        calculator_bp,
        imports_bp,
        dashboard_bp,
        physician_bp,
        corrections_bp,
        advisories_bp,
        fhir_bp,
    ):
        app.register_blueprint(bp)
    # Browsers ask every site for /favicon.ico, signed in or not: it is one of the static files (no login, no
    # session lookup), served from static/ like the SVG icon base.html names.
    app.add_url_rule("/favicon.ico", endpoint="static", defaults={"filename": "favicon.ico"})


def register_errorhandlers(app: Flask) -> None:
    from tracker.errors import register
    from tracker.once import register as register_once

    register(app)
    register_once(app)


def register_template_helpers(app: Flask) -> None:
    from tracker.web.filters import register

    register(app)


def register_request_hooks(app: Flask) -> None:
    """In this order: the request's clock and id, the NUL-byte refusal, signing out a session that ended
    elsewhere; after the view, the headers and the request log."""
    from tracker.auth.browser_session import register as register_session_expiry
    from tracker.web.hooks import register_after, register_before

    register_before(app)
    register_session_expiry(app)
    register_after(app)


def register_commands(app: Flask) -> None:
    from tracker.cli import register

    register(app)
