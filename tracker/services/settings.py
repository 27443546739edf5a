"""Clinic-editable settings as the clinic stored them, falling back to their defaults (clinical.settings_spec),
and the rule sets built from them."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical.dosing import TitrationRules
from tracker.clinical.implant import ImplantRules
from tracker.clinical.pump_events import EventRules
from tracker.clinical.refill_risk import Windows
from tracker.clinical.settings_spec import DEFAULTS
from tracker.clinical.trial import TrialRules
from tracker.models import Setting


def get_setting(session: Session, name: str) -> int:
    row = session.get(Setting, name)
    return int(row.value) if row else DEFAULTS[name]


def all_settings(session: Session) -> dict[str, int]:
    """Every setting, stored value or default, in one query."""
    stored = {row.name: int(row.value) for row in session.scalars(select(Setting))}
    return {name: stored.get(name, default) for name, default in DEFAULTS.items()}


def risk_windows(session: Session) -> Windows:
    """The windows every screen judges pumps by (refill_risk.assess), from one read of the settings."""
    return windows_from(all_settings(session))


def windows_from(settings: dict[str, int]) -> Windows:
    """The judgement's windows from settings already read (all_settings)."""
    return Windows(settings["due_soon_days"], settings["battery_warning_months"])


def trial_rules(session: Session) -> TrialRules:
    """The trial-bolus checks' numbers, from one read of the settings."""
    s = all_settings(session)
    return TrialRules(
        concentration_mcg_per_ml=s["trial_concentration_mcg_per_ml"],
        min_dose_mcg=s["trial_dose_min_mcg"],
        max_dose_mcg=s["trial_dose_max_mcg"],
        min_hours_between=s["trial_min_hours_between_boluses"],
        first_dose_mcg=s["trial_first_dose_mcg"],
        step_mcg=s["trial_dose_step_mcg"],
    )


def titration_rules(settings: dict[str, int]) -> TitrationRules:
    """The dose-change checks' numbers, from settings already read (all_settings)."""
    return TitrationRules(
        cerebral_pct=settings["titration_limit_cerebral_pct"],
        spinal_pct=settings["titration_limit_spinal_pct"],
        paediatric_pct=settings["titration_limit_paediatric_pct"],
        paediatric_age_years=settings["paediatric_age_years"],
        cut_warning_pct=settings["dose_cut_warning_pct"],
        usual_min_mcg=settings["usual_dose_min_mcg_per_day"],
        usual_max_mcg=settings["usual_dose_max_mcg_per_day"],
    )


def implant_rules(settings: dict[str, int]) -> ImplantRules:
    """The starting dose guide's numbers, from settings already read (all_settings)."""
    return ImplantRules(
        trial_factor=settings["implant_start_factor"], once_after_hours=settings["implant_start_once_after_hours"]
    )


def event_rules(settings: dict[str, int]) -> EventRules:
    """When a device event's work falls due, from settings already read (all_settings)."""
    return EventRules(
        mri_check_days=settings["mri_pump_check_days"],
        revision_review_days=settings["catheter_revision_review_days"],
        occlusion_review_days=settings["catheter_occlusion_review_days"],
    )
