"""The programme lead's quality dashboard."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/quality")
