"""Needs a physician: the physicians' queue, their answers, and the requests nurses and coordinators send."""

from flask import Blueprint

bp = Blueprint("physician", __name__)

from tracker.physician import routes  # noqa: E402, F401  (registers the views on bp)
