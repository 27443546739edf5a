"""Who is signed in and what they may do: sign-in pages (routes), this browser's session (browser_session) and
the permission decorator with its site guard (permissions)."""

from flask import Blueprint

bp = Blueprint("auth", __name__)
