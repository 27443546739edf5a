"""Links a list page builds once for all its rows."""

from flask import url_for


def patient_url_prefix() -> str:
    """A patient page's URL without its id (the route's last part): pages listing many patients call url_for once,
    not once a row."""
    return url_for("patients.show", patient_id=0).removesuffix("0")
