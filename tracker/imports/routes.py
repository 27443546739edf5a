"""Bringing a programme in: CSV template, column mapping, dry run, all-or-nothing import."""

from flask import Blueprint

bp = Blueprint("imports", __name__, url_prefix="/import")
