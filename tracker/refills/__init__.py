"""Refill visits, dose changes, the ERI date, device events and the printable emergency summary."""

from flask import Blueprint

bp = Blueprint("refills", __name__)
