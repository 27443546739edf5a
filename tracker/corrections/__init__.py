"""Correcting or voiding a clinical entry: a refill visit, a dose change, a trial bolus, the implant details and
the battery ERI date (issue 17, item 8). The services keep every original, struck through, with who and why."""

from flask import Blueprint

bp = Blueprint("corrections", __name__)
