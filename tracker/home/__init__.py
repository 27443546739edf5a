"""Home ("Today"): where sign-in lands, a page per role with what needs doing first."""

from flask import Blueprint

bp = Blueprint("home", __name__)

from tracker.home import routes  # noqa: E402, F401  (registers the views on bp)
