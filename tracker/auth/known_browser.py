"""The known-browser cookie: the accounts this browser has signed in to, so the sign-in limits
(tracker.auth.throttle) slow a stranger's guesses but not the clinic's own workstations.

It holds a random browser id and keyed hashes of the e-mails (never the e-mails), signed with the secret key and
dated: a forged or older cookie (KNOWN_BROWSER_DAYS) counts as none. It proves nothing about who is typing; it only
picks which failure counts apply."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from flask import Flask, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

SALT = "known-browser"
MAX_ACCOUNTS = 20  # a shared workstation: the most recent accounts signed in from it


@dataclass
class KnownBrowser:
    id: str
    accounts: list[str] = field(default_factory=list)


def _serializer(app: Flask) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(app.secret_key, salt=SALT)


def cookie_name(app: Flask) -> str:
    # __Host-: the browser sends it back only to this host over TLS (production's cookies are Secure).
    return "__Host-known-browser" if app.config.get("SESSION_COOKIE_SECURE") else "known-browser"


def account_tag(app: Flask, email: str) -> str:
    return hmac.new(app.secret_key.encode(), email.encode(), hashlib.sha256).hexdigest()[:24]


def read(app: Flask, request: Request) -> KnownBrowser:
    """This browser as its cookie describes it, or a new browser id when it has none (or a bad one)."""
    raw = request.cookies.get(cookie_name(app))
    if raw:
        try:
            data = _serializer(app).loads(raw, max_age=app.config["KNOWN_BROWSER_DAYS"] * 86400)
        except BadSignature:
            data = None
        if isinstance(data, dict) and isinstance(data.get("b"), str) and isinstance(data.get("a"), list):
            return KnownBrowser(data["b"], [a for a in data["a"] if isinstance(a, str)][-MAX_ACCOUNTS:])
    return KnownBrowser(secrets.token_urlsafe(16))


def knows(app: Flask, browser: KnownBrowser, email: str) -> bool:
    return account_tag(app, email) in browser.accounts


def remember(app: Flask, response: Response, browser: KnownBrowser, email: str) -> None:
    """After a correct sign-in: this browser now knows the account (re-dated, so it lasts while in use)."""
    tag = account_tag(app, email)
    accounts = [a for a in browser.accounts if a != tag][-(MAX_ACCOUNTS - 1) :] + [tag]
    response.set_cookie(
        cookie_name(app),
        _serializer(app).dumps({"b": browser.id, "a": accounts}),
        max_age=app.config["KNOWN_BROWSER_DAYS"] * 86400,
        httponly=True,
        samesite="Lax",
        secure=bool(app.config.get("SESSION_COOKIE_SECURE")),
        path="/",
    )
