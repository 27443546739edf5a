"""Who may do what: the permission decorator (login, role, then the clinic the route's patient belongs to) and
the acting user the services record."""

from functools import wraps

from flask import abort, request
from flask_login import current_user, login_required
from werkzeug.exceptions import Forbidden

from tracker.policy import ACROSS_SITES, EVERY_CLINIC, OWN_CLINIC_ONLY, allowed, site_allows
from tracker.services import Actor
from tracker.web.args import int_arg_form


def requires(permission: str):
    """Login plus the role permission; 403 otherwise (before anything is read or written)."""

    def decorator(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not allowed(current_user.role, permission):
                abort(403)
            _site_guard(kwargs)
            return view(*args, **kwargs)

        wrapped.permission = permission
        return wrapped

    return decorator


class OtherClinic(Forbidden):
    description = (
        "This patient belongs to another clinic. The clinic's settings let you change (or see) only "
        "your own clinic's patients; ask a physician or that clinic's staff."
    )


def _site_guard(view_args: dict) -> None:
    """Minimum necessary by site, for every guarded route that names a patient (or their booking or request):
    one rule (tracker.policy.site_allows), checked here before the view reads or writes anything."""
    if current_user.role in ACROSS_SITES:
        return
    writing = request.method == "POST"
    if not view_args.keys() & PATIENT_KEYS and not (writing and request.endpoint == "patients.new_patient"):
        return
    from tracker.extensions import db

    scope = site_scope()
    if scope == EVERY_CLINIC:
        return
    location_id = _patient_location(db.session, view_args)
    if location_id is None and request.endpoint == "patients.new_patient":
        location_id = int_arg_form("location_id")
    if location_id is not None and not site_allows(
        current_user.role, current_user.location_id, location_id, scope, writing
    ):
        raise OtherClinic()


PATIENT_KEYS = {"patient_id", "appointment_id", "request_id"}


def _patient_location(session, view_args: dict) -> int | None:
    """The clinic of the patient the route names; None when there is no such record (the view's 404)."""
    from sqlalchemy import select

    from tracker.models import Patient, PhysicianRequest, RefillAppointment

    if "patient_id" in view_args:
        query = select(Patient.location_id).where(Patient.id == view_args["patient_id"])
    else:
        model = RefillAppointment if "appointment_id" in view_args else PhysicianRequest
        key = view_args.get("appointment_id", view_args.get("request_id"))
        query = select(Patient.location_id).join(model, model.patient_id == Patient.id).where(model.id == key)
    return session.scalar(query)


def site_scope() -> int:
    """The clinic's site scope, read with the signed-in user (tracker.services.sessions.resume): no query."""
    scope = getattr(current_user, "site_scope", None)
    if scope is None:  # a user loaded another way (a test's login_user): read it
        from tracker.extensions import db
        from tracker.services.settings import get_setting

        scope = get_setting(db.session, "site_scope")
    return scope


def own_clinic_only() -> int | None:
    """The user's clinic when the settings let them see only its patients (lists are filtered to it); None
    when they see every clinic's."""
    if current_user.role in ACROSS_SITES or site_scope() < OWN_CLINIC_ONLY:
        return None
    return current_user.location_id or -1  # no home clinic: nothing to see


def actor() -> Actor:
    return Actor(user_id=current_user.id, role=current_user.role, address=request.remote_addr)
