"""Settings classes. Every value can be overridden by a TRACKER_* environment variable."""

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


def env(name: str, default=None):
    return os.environ.get(f"TRACKER_{name}", default)


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


class Config:
    SECRET_KEY = env("SECRET_KEY", "dev-only-not-secret")
    SQLALCHEMY_DATABASE_URI = env("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'tracker.sqlite3'}")
    # hide_parameters: SQL logging and database errors never show the values (patient names, MRNs, dates).
    SQLALCHEMY_ENGINE_OPTIONS: dict = {"pool_pre_ping": True, "hide_parameters": True}
    WTF_CSRF_TIME_LIMIT = None  # the session lifetime bounds the token instead
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    REMEMBER_COOKIE_DURATION = 0
    # Sign-in limits (tracker/auth/throttle.py): only wrong passwords count, and they slow guessing with growing
    # waits rather than lock an account. The counts live in RATELIMIT_STORAGE_URI: redis://host:6379/0 shares
    # them between every worker and server (production); memory:// keeps them in one process (`make run`).
    LOGIN_FREE_FAILURES = int(env("LOGIN_FREE_FAILURES", "3"))  # one account from one address or browser
    LOGIN_ACCOUNT_FREE_FAILURES = int(env("LOGIN_ACCOUNT_FREE_FAILURES", "10"))  # one account, unknown browsers
    LOGIN_ADDRESS_FREE_FAILURES = int(env("LOGIN_ADDRESS_FREE_FAILURES", "30"))  # one address, any account
    LOGIN_MAX_DELAY_SECONDS = int(env("LOGIN_MAX_DELAY_SECONDS", "300"))  # the doubling wait stops growing here
    LOGIN_FAILURE_MEMORY_MINUTES = int(env("LOGIN_FAILURE_MEMORY_MINUTES", "15"))  # quiet this long: forgotten
    KNOWN_BROWSER_DAYS = int(env("KNOWN_BROWSER_DAYS", "90"))  # a browser that signed in to an account
    RATE_LIMITS = env_bool("RATE_LIMITS", True)  # off only in tests (each has its own)
    RATELIMIT_STORAGE_URI = env("RATELIMIT_STORAGE_URI", "memory://")
    IDLE_TIMEOUT_MINUTES = int(env("IDLE_TIMEOUT_MINUTES", "15"))  # kept server-side: tracker/services/sessions.py
    SESSION_MAX_HOURS = int(env("SESSION_MAX_HOURS", "12"))  # absolute, however active the user is
    # Reverse proxies in front of the app that set X-Forwarded-For/-Proto (0: trust none). The client
    # address feeds the audit trail and the sign-in limits.
    PROXY_HOPS = int(env("PROXY_HOPS", "0"))
    SCHEDULER = env_bool("SCHEDULER", False)
    CLINIC_TIMEZONE = env("CLINIC_TIMEZONE", "America/New_York")
    PAGE_SIZE = int(env("PAGE_SIZE", "50"))
    DEMO_DATA_ALLOWED = True  # demo staff have a published password
    TESTING = False
    # Daily reminder e-mail. SMTP_URL: smtp+starttls://user:pass@host:587, smtps://user:pass@host:465, or
    # smtp://host:25 (a local relay, no login). Empty: digests are built and wait in the outbox, unsent.
    SMTP_URL = env("SMTP_URL", "")
    SMTP_TIMEOUT_SECONDS = float(env("SMTP_TIMEOUT_SECONDS", "30"))
    SMTP_CA_FILE = env("SMTP_CA_FILE")  # a private CA to trust in addition to the system's; never "no check"
    MAIL_FROM = env("MAIL_FROM", "ITB tracker <tracker@localhost>")
    BASE_URL = env("BASE_URL", "http://127.0.0.1:5000")  # links in e-mails
    DIGEST_SEND_TIME = env("DIGEST_SEND_TIME", "06:30")  # clinic-local, in CLINIC_TIMEZONE
    DIGEST_CATCH_UP_MINUTES = int(env("DIGEST_CATCH_UP_MINUTES", "15"))
    # A failed send waits 1, 2, 5 ... minutes (the last wait repeats) and is retried until DIGEST_RETRY_HOURS after
    # the first failure: an outage of a morning, or a night, still delivers the day's reminder, marked late.
    DIGEST_RETRY_MINUTES = env("DIGEST_RETRY_MINUTES", "1,2,5,10,20,30,60")
    DIGEST_RETRY_HOURS = float(env("DIGEST_RETRY_HOURS", "24"))
    # Today's e-mail is late (/healthz degraded, a banner on every page) from this long after the send time
    # until every message is delivered.
    DIGEST_LATE_AFTER_MINUTES = int(env("DIGEST_LATE_AFTER_MINUTES", "15"))
    DIGEST_CLAIM_LEASE_SECONDS = int(env("DIGEST_CLAIM_LEASE_SECONDS", "600"))  # a claim older than this crashed
    DIGEST_NOTHING_DUE_EMAIL = env_bool("DIGEST_NOTHING_DUE_EMAIL", True)
    # A day the app was down all day: off = only today's digest is sent and the gap is shown to admins (their
    # next digest, `flask digest status`); on = that day's digest is also sent, late (at most 7 days back).
    DIGEST_SEND_MISSED_DAYS = env_bool("DIGEST_SEND_MISSED_DAYS", False)
    # FHIR (issue 21): the identifier system of the hospital's MRNs in every Patient resource, and the read API's
    # limit per client (a `limits` string: "120/minute"), counted in RATELIMIT_STORAGE_URI.
    FHIR_MRN_SYSTEM = env("FHIR_MRN_SYSTEM", "https://itb-tracker.example/fhir/mrn")
    FHIR_API_RATE_LIMIT = env("FHIR_API_RATE_LIMIT", "120/minute")


class DevelopmentConfig(Config):
    """`make run`: SQLite under instance/, scheduler on."""

    SCHEDULER = env_bool("SCHEDULER", True)


class TestConfig(Config):
    """The suite's app (tests/conftest.py) and every other app a test builds: `create_app(TestConfig, ...)` with
    only what differs. Sign-in limits off (tests/web/test_sign_in_protection.py turns them on)."""

    TESTING = True
    SECRET_KEY = "test"  # nosec B105
    SQLALCHEMY_DATABASE_URI = env("TEST_DATABASE_URL", "sqlite://")
    SCHEDULER = False
    WTF_CSRF_ENABLED = True
    RATE_LIMITS = False


class ProductionConfig(Config):
    SESSION_COOKIE_SECURE = True
    SESSION_COOKIE_NAME = "__Host-session"
    DEMO_DATA_ALLOWED = False

    @classmethod
    def check(cls) -> None:
        """Refuse to start without a real secret key, an explicit database and a shared sign-in failure store."""
        if not env("SECRET_KEY") or len(env("SECRET_KEY", "")) < 32:
            raise RuntimeError("TRACKER_SECRET_KEY must be set to at least 32 random characters in production")
        if not env("DATABASE_URL"):
            raise RuntimeError("TRACKER_DATABASE_URL must be set in production")
        if not env("RATELIMIT_STORAGE_URI", "").startswith(("redis://", "rediss://", "unix://")):
            raise RuntimeError(
                "TRACKER_RATELIMIT_STORAGE_URI must name a Redis server in production "
                "(redis://127.0.0.1:6379/0): every worker must see the same sign-in failure counts"
            )


CONFIGS = {
    "development": DevelopmentConfig,
    "test": TestConfig,
    "production": ProductionConfig,
}


def config_for(name: str | None = None) -> type[Config]:
    return CONFIGS[name or env("ENV", "development")]
