"""Device advisories and recalls: the list, a new advisory, its page with every affected pump and their follow-up,
and its CSV export."""

from flask import Blueprint

bp = Blueprint("advisories", __name__)
