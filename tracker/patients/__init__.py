"""Patients: the list, the stage board, the patient page and the forms that change a patient's record."""

from flask import Blueprint

bp = Blueprint("patients", __name__)
