"""Home ("Today"): where sign-in lands, a page per role with what needs doing first."""

from flask import Blueprint

bp = Blueprint("home", __name__)
