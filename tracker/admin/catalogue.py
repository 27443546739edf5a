"""Administration: clinic settings and the pump and drug catalogues (routes on the admin blueprint)."""

from decimal import Decimal

from flask import abort, flash, redirect, render_template, url_for
from sqlalchemy import select

from tracker.admin import bp
from tracker.admin.catalogue_forms import DrugForm, LocationForm, NewDrugForm, PumpModelForm, settings_form
from tracker.auth.permissions import actor, requires
from tracker.clinical.pump_events import MRI_RULES
from tracker.clinical.settings_spec import DEFAULTS
from tracker.extensions import db
from tracker.models import DrugConcentration, Location, PumpModel
from tracker.services import DomainError, StaleEdit
from tracker.services.catalogue import (
    CatalogueChange,
    add_drug,
    pumps_holding,
    settings_version,
    update_drug,
    update_pump_model,
    update_settings,
)
from tracker.services.locations import update_location
from tracker.services.settings import all_settings
from tracker.web.forms import not_saved, render_form, show_error


def _saved_message(change: CatalogueChange) -> str:
    if not change.changed:
        return "Nothing changed."
    n = change.recomputed_pumps
    if n:
        return f"Saved. Refill dates recomputed for {n} pump{'' if n == 1 else 's'}."
    return "Saved. No refill date depends on this change."


def _plain(value: Decimal | None) -> Decimal | None:
    """2.500 -> 2.5 and 10.000 -> 10, so the form shows what was typed and saves it back unchanged."""
    return None if value is None else Decimal(format(value.normalize(), "f"))


@bp.route("/settings", methods=["GET", "POST"])
@requires("settings.manage")
def settings():
    current = all_settings(db.session)
    form = settings_form(data=current | {"version": settings_version(current)})
    yours = []
    if form.validate_on_submit():
        try:
            change = update_settings(db.session, actor(), form.values(), form.version.data)
        except StaleEdit as error:
            current = all_settings(db.session)
            fresh = settings_form(formdata=None, data=current | {"version": settings_version(current)})
            yours, form = not_saved(form, fresh, DEFAULTS), fresh
            flash(error.message, "error")
        except DomainError as error:
            show_error(form, error)
        else:
            flash(_saved_message(change), "success")
            return redirect(url_for("admin.settings"))
    return render_form("admin/settings.html", form=form, yours=yours, stale=yours)


@bp.get("/catalogue")
@requires("settings.manage")
def catalogue():
    models = db.session.scalars(select(PumpModel).order_by(PumpModel.name)).all()
    drugs = db.session.scalars(select(DrugConcentration).order_by(DrugConcentration.concentration_mcg_per_ml)).all()
    locations = db.session.scalars(select(Location).order_by(Location.kind, Location.name)).all()
    return render_template("admin/catalogue.html", models=models, drugs=drugs, locations=locations, mri_rules=MRI_RULES)


def _pump_model_form(model: PumpModel, **kwargs) -> PumpModelForm:
    return PumpModelForm(
        data={
            "default_alarm_ml": _plain(model.default_alarm_ml),
            "battery_life_months": model.battery_life_months,
            "eri_to_stop_days": model.eri_to_stop_days,
            "accuracy_fraction": _plain(model.accuracy_fraction),
            "mri_rule": model.mri_rule or "",
            "active": model.active,
            "version": str(model.version),
        },
        **kwargs,
    )


def _edit_row(row, build_form, update, fields: list[str]):
    """Save a catalogue row from its form; a stale version shows the saved values and what the user typed.
    Returns (response or None, form, yours)."""
    form = build_form(row)
    yours = []
    if form.validate_on_submit():
        try:
            change = update(db.session, actor(), row.id, int(form.version.data), form.values())
        except StaleEdit as error:
            db.session.refresh(row)
            fresh = build_form(row, formdata=None)
            yours, form = not_saved(form, fresh, fields), fresh
            flash(error.message, "error")
        except DomainError as error:
            show_error(form, error)
        else:
            flash(_saved_message(change), "success")
            return redirect(url_for("admin.catalogue")), form, yours
    return None, form, yours


@bp.route("/catalogue/pumps/<int:model_id>", methods=["GET", "POST"])
@requires("settings.manage")
def edit_pump_model(model_id: int):
    model = db.session.get(PumpModel, model_id) or abort(404)
    done, form, yours = _edit_row(model, _pump_model_form, update_pump_model, PumpModelForm.FIELDS)
    if done:
        return done
    return render_form("admin/pump_model_form.html", form=form, model=model, yours=yours, stale=yours)


def _drug_form(drug: DrugConcentration, **kwargs) -> DrugForm:
    return DrugForm(
        data={
            "stability_days": drug.stability_days,
            "trial_only": drug.trial_only,
            "active": drug.active,
            "version": str(drug.version),
        },
        **kwargs,
    )


@bp.route("/catalogue/drugs/<int:drug_id>", methods=["GET", "POST"])
@requires("settings.manage")
def edit_drug(drug_id: int):
    drug = db.session.get(DrugConcentration, drug_id) or abort(404)
    done, form, yours = _edit_row(drug, _drug_form, update_drug, DrugForm.FIELDS)
    if done:
        return done
    holding = len(pumps_holding(db.session, drug.concentration_mcg_per_ml))
    return render_form("admin/drug_form.html", form=form, drug=drug, holding=holding, yours=yours, stale=yours)


@bp.route("/catalogue/drugs/new", methods=["GET", "POST"])
@requires("settings.manage")
def new_drug():
    form = NewDrugForm()
    if form.validate_on_submit():
        try:
            drug = add_drug(db.session, actor(), form.values())
        except DomainError as error:
            show_error(form, error)
        else:
            flash(f"{drug.concentration_mcg_per_ml} mcg/mL added to the drug catalogue.", "success")
            return redirect(url_for("admin.catalogue"))
    return render_form("admin/drug_form.html", form=form, drug=None, holding=0, yours=[])


def _location_form(location: Location, **kwargs) -> LocationForm:
    return LocationForm(
        data={
            "address": location.address,
            "phone": location.phone,
            "emergency_phone": location.emergency_phone,
            "version": str(location.version),
        },
        **kwargs,
    )


@bp.route("/catalogue/locations/<int:location_id>", methods=["GET", "POST"])
@requires("settings.manage")
def edit_location(location_id: int):
    location = db.session.get(Location, location_id) or abort(404)
    done, form, yours = _edit_row(location, _location_form, update_location, LocationForm.FIELDS)
    if done:
        return done
    return render_form("admin/location_form.html", form=form, location=location, yours=yours, stale=yours)
