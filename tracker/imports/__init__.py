"""Bringing a programme in from a CSV file (routes; the CSV mechanics and row rules live beside it)."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/import")
