"""The refill what-if calculator."""

from flask import Blueprint

bp = Blueprint("calculator", __name__, url_prefix="/calculator")
