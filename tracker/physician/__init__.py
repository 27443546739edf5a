"""Needs a physician: the physicians' queue, their answers, and the requests nurses and coordinators send."""

from flask import Blueprint

bp = Blueprint("physician", __name__)
