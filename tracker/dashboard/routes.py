"""The programme lead's quality dashboard, its CSV tables and printable view."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/quality")
