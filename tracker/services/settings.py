"""Clinic-editable settings with their defaults (the defaults come from shared/domain.md)."""

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracker.clinical.dosing import TitrationRules
from tracker.clinical.implant import ImplantRules
from tracker.clinical.pump_events import EventRules
from tracker.clinical.refill_risk import Windows
from tracker.clinical.trial import TrialRules
from tracker.models import Setting

DEFAULTS: dict[str, int] = {
    # Stage changes dated further back than this need a reason.
    "backdate_days_without_reason": 1,
    # Days before the low-reservoir alarm that a refill falls due (domain.md: 3-10 days quoted).
    "safety_buffer_days": 7,
    # ...and for patients flagged at high withdrawal risk.
    "high_risk_buffer_days": 14,
    # Largest dose increase per 24 h without a physician's sign-off, in percent.
    "titration_limit_cerebral_pct": 15,
    "titration_limit_spinal_pct": 30,
    # ...for children (age at the change under paediatric_age_years): 5-15% per 24 h (domain.md 4).
    "titration_limit_paediatric_pct": 15,
    "paediatric_age_years": 18,
    # A cut of more than this in 24 h warns of withdrawal.
    "dose_cut_warning_pct": 20,
    # Implant starting dose guide (domain.md 4): twice the effective screening dose per day, or the dose once
    # when the trial's effect lasted over 8 h. A start above it needs a physician's sign-off.
    "implant_start_factor": 2,
    "implant_start_once_after_hours": 8,
    # Warn at refills when the battery replacement falls within this many months.
    "battery_warning_months": 6,
    # A refill due within this many days is "due soon" on every screen and in the e-mail (domain.md 6).
    "due_soon_days": 14,
    # Refill warnings (domain.md "Discrepancy rules"): residual gap beyond this is high severity...
    "residual_discrepancy_ml": 2,
    # ...a post-fill volume this far below what went in suggests a pocket fill (small / large reservoirs).
    "pocket_fill_small_pump_ml": 1,
    "pocket_fill_large_pump_ml": 2,
    # A daily dose outside this range gets a soft warning.
    "usual_dose_min_mcg_per_day": 20,
    "usual_dose_max_mcg_per_day": 2000,
    # Screening trial (domain.md 1): boluses at 50 mcg/mL, 25-100 mcg, 24 h apart, 50 then 75 then 100 mcg.
    "trial_concentration_mcg_per_ml": 50,
    "trial_dose_min_mcg": 25,
    "trial_dose_max_mcg": 100,
    "trial_min_hours_between_boluses": 24,
    "trial_first_dose_mcg": 50,
    "trial_dose_step_mcg": 25,
    # Minimum necessary by site (tracker.policy.site_allows): 0 every clinic, 1 nurses and coordinators change
    # only their own clinic's patients, 2 they also see only them. Physicians and admins: every clinic.
    "site_scope": 0,
    # Device events (domain.md 7): days after the event that its work falls due (0: the same day).
    # A SynchroMed II stops in the scanner and should restart within 2-24 h: check it the day of the scan.
    "mri_pump_check_days": 0,
    # A catheter revision: a physician's review within two weeks (the first post-implant review is 2-6 weeks).
    "catheter_revision_review_days": 14,
    # A suspected occlusion or kink: the drug may not be reaching the spine (withdrawal over 1-3 days): same day.
    "catheter_occlusion_review_days": 0,
}
LABELS = {
    "backdate_days_without_reason": "Back-dating allowed without a reason (days)",
    "safety_buffer_days": "Safety buffer before the alarm date (days)",
    "high_risk_buffer_days": "Safety buffer for high withdrawal risk patients (days)",
    "titration_limit_cerebral_pct": "Titration limit per 24 h, cerebral origin (%)",
    "titration_limit_spinal_pct": "Titration limit per 24 h, spinal origin (%)",
    "titration_limit_paediatric_pct": "Titration limit per 24 h, children (%)",
    "paediatric_age_years": "Children: the paediatric titration limit applies under this age (years)",
    "dose_cut_warning_pct": "Dose change warning: a cut within 24 h of more than (%), risk of withdrawal",
    "implant_start_factor": "Implant starting dose guide: times the effective screening dose, per day",
    "implant_start_once_after_hours": "Implant starting dose guide: the screening dose once when its effect lasted "
    "over (hours)",
    "battery_warning_months": "Battery replacement warning (months ahead)",
    "due_soon_days": "Due soon: refills due within (days), on every screen and e-mail",
    "residual_discrepancy_ml": "Refill warning: residual discrepancy above (mL)",
    "pocket_fill_small_pump_ml": "Refill warning: pocket fill, pumps up to 20 mL, fill mismatch above (mL)",
    "pocket_fill_large_pump_ml": "Refill warning: pocket fill, larger pumps, fill mismatch above (mL)",
    "usual_dose_min_mcg_per_day": "Refill warning: daily dose below (mcg/day)",
    "usual_dose_max_mcg_per_day": "Refill warning: daily dose above (mcg/day)",
    "trial_concentration_mcg_per_ml": "Trial bolus warning: concentration other than (mcg/mL)",
    "trial_dose_min_mcg": "Trial bolus warning: dose below (mcg)",
    "trial_dose_max_mcg": "Trial bolus warning: dose above (mcg)",
    "trial_min_hours_between_boluses": "Trial bolus warning: less than this between boluses (hours)",
    "trial_first_dose_mcg": "Trial bolus warning: first bolus above (mcg)",
    "trial_dose_step_mcg": "Trial bolus warning: a step up of more than (mcg)",
    "site_scope": "Nurses and coordinators work on: 0 every clinic's patients, 1 change only their own clinic's, "
    "2 see and change only their own clinic's (physicians and admins: every clinic)",
    "mri_pump_check_days": "After an MRI (SynchroMed): the pump check is due within (days; 0 = the day of the scan)",
    "catheter_revision_review_days": "After a catheter revision: a physician's review is due within (days)",
    "catheter_occlusion_review_days": "Suspected catheter occlusion or kink: a physician's review is due within "
    "(days; 0 = the same day)",
}


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
