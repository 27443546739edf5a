"""Clinic-editable settings as the clinic stored them, falling back to their defaults (clinical.settings_spec),
and the rule sets built from them."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical.dosing import TitrationRules
from tracker.clinical.implant import ImplantRules
from tracker.clinical.pump_events import EventRules
from tracker.clinical.refill_risk import Windows
from tracker.clinical.settings_spec import DEFAULTS, rules_from
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
    return rules_from(Windows, settings)


def trial_rules(session: Session) -> TrialRules:
    """The trial-bolus checks' numbers, from one read of the settings."""
    return rules_from(TrialRules, all_settings(session))


def titration_rules(settings: dict[str, int]) -> TitrationRules:
    """The dose-change checks' numbers, from settings already read (all_settings)."""
    return rules_from(TitrationRules, settings)


def implant_rules(settings: dict[str, int]) -> ImplantRules:
    """The starting dose guide's numbers, from settings already read (all_settings)."""
    return rules_from(ImplantRules, settings)


def event_rules(settings: dict[str, int]) -> EventRules:
    """When a device event's work falls due, from settings already read (all_settings)."""
    return rules_from(EventRules, settings)
