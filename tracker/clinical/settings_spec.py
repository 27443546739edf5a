"""Every number a clinical rule depends on, in one place: its name, the label an administrator sees, its default,
the range it may take, its unit and why it is what it is (the defaults come from shared/domain.md).

The settings service stores the clinic's values and falls back to these defaults; the settings and catalogue
forms and the services' checks read the labels and limits from here; the refill engine takes its defaults from
here, and each clinical rule set (TitrationRules, TrialRules ...) names the settings its fields hold (`setting`),
so `rules_from` builds any of them from the clinic's values. Pure: no Flask, no database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from tracker.clinical.errors import DomainError

Value = int | Decimal
R = TypeVar("R")


@dataclass(frozen=True)
class Spec:
    """One clinic-editable number: what it is called, where it starts and what an administrator may enter
    (inclusive). `noun` is how a refusal names it, when that differs from the form's label."""

    name: str
    label: str
    default: Value | None
    low: Value
    high: Value
    unit: str = ""
    why: str = ""
    noun: str = ""

    @property
    def called(self) -> str:
        return self.noun or self.label

    def _range(self, hint: str) -> str:
        return f"{self.called} must be from {self.low} to {self.high}{' ' + hint if hint else ''}."

    def whole(self, value, hint: str = "") -> int:
        """`value` as a whole number within the limits; a DomainError on this field otherwise (`hint` follows
        the range in it: a unit, or what an empty field means)."""
        if isinstance(value, bool) or not isinstance(value, int):
            try:
                value = int(str(value).strip())
            except ValueError:
                raise DomainError(f"{self.called}: enter a whole number.", self.name) from None
        if not self.low <= value <= self.high:
            raise DomainError(self._range(hint), self.name)
        return value

    def exact(self, value, places: Decimal, hint: str = "") -> Decimal:
        """`value` as an exact Decimal within the limits and with at most `places`; a DomainError otherwise."""
        if isinstance(value, (bool, float)):
            raise DomainError(f"{self.called}: enter an exact number.", self.name)
        try:
            exact = Decimal(str(value).strip())
        except InvalidOperation:
            raise DomainError(f"{self.called}: enter a number.", self.name) from None
        if not exact.is_finite() or not self.low <= exact <= self.high:
            raise DomainError(self._range(hint), self.name)
        if exact != exact.quantize(places):
            raise DomainError(f"{self.called}: at most {-places.as_tuple().exponent} decimal places.", self.name)
        return exact.quantize(places)


# -- clinic settings (the admin settings page; whole numbers) ----------------------------------------------------

SETTINGS: tuple[Spec, ...] = (
    Spec(
        "backdate_days_without_reason",
        "Back-dating allowed without a reason (days)",
        1,
        0,
        365,
        "days",
        "Stage changes dated further back than this need a reason.",
    ),
    Spec(
        "safety_buffer_days",
        "Safety buffer before the alarm date (days)",
        7,
        0,
        60,
        "days",
        "Days before the low-reservoir alarm that a refill falls due (domain.md: 3-10 days quoted).",
    ),
    Spec(
        "high_risk_buffer_days",
        "Safety buffer for high withdrawal risk patients (days)",
        14,
        0,
        60,
        "days",
        "The safety buffer for patients flagged at high withdrawal risk.",
    ),
    Spec(
        "titration_limit_cerebral_pct",
        "Titration limit per 24 h, cerebral origin (%)",
        15,
        1,
        100,
        "%",
        "Largest dose increase per 24 h without a physician's sign-off, in percent.",
    ),
    Spec(
        "titration_limit_spinal_pct",
        "Titration limit per 24 h, spinal origin (%)",
        30,
        1,
        100,
        "%",
        "Largest dose increase per 24 h without a physician's sign-off, in percent.",
    ),
    Spec(
        "titration_limit_paediatric_pct",
        "Titration limit per 24 h, children (%)",
        15,
        5,
        15,
        "%",
        "For children (age at the change under paediatric_age_years): 5-15% per 24 h (domain.md 4).",
    ),
    Spec(
        "paediatric_age_years",
        "Children: the paediatric titration limit applies under this age (years)",
        18,
        1,
        25,
        "years",
    ),
    Spec(
        "dose_cut_warning_pct",
        "Dose change warning: a cut within 24 h of more than (%), risk of withdrawal",
        20,
        1,
        100,
        "%",
        "A cut of more than this in 24 h warns of withdrawal.",
    ),
    Spec(
        "implant_start_factor",
        "Implant starting dose guide: times the effective screening dose, per day",
        2,
        1,
        4,
        "times",
        "Implant starting dose guide (domain.md 4): twice the effective screening dose per day, or the dose once "
        "when the trial's effect lasted over 8 h. A start above it needs a physician's sign-off.",
    ),
    Spec(
        "implant_start_once_after_hours",
        "Implant starting dose guide: the screening dose once when its effect lasted over (hours)",
        8,
        1,
        72,
        "hours",
    ),
    Spec(
        "battery_warning_months",
        "Battery replacement warning (months ahead)",
        6,
        1,
        24,
        "months",
        "Warn at refills when the battery replacement falls within this many months.",
    ),
    Spec(
        "due_soon_days",
        "Due soon: refills due within (days), on every screen and e-mail",
        14,
        1,
        90,
        "days",
        'A refill due within this many days is "due soon" on every screen and in the e-mail (domain.md 6).',
    ),
    Spec(
        "residual_discrepancy_ml",
        "Refill warning: residual discrepancy above (mL)",
        2,
        1,
        10,
        "mL",
        'Refill warnings (domain.md "Discrepancy rules"): a residual gap beyond this is high severity.',
    ),
    Spec(
        "pocket_fill_small_pump_ml",
        "Refill warning: pocket fill, pumps up to 20 mL, fill mismatch above (mL)",
        1,
        1,
        10,
        "mL",
        "A post-fill volume this far below what went in suggests a pocket fill (small reservoirs).",
    ),
    Spec(
        "pocket_fill_large_pump_ml",
        "Refill warning: pocket fill, larger pumps, fill mismatch above (mL)",
        2,
        1,
        10,
        "mL",
        "A post-fill volume this far below what went in suggests a pocket fill (large reservoirs).",
    ),
    Spec(
        "usual_dose_min_mcg_per_day",
        "Refill warning: daily dose below (mcg/day)",
        20,
        1,
        1000,
        "mcg/day",
        "A daily dose outside the usual range gets a soft warning.",
    ),
    Spec(
        "usual_dose_max_mcg_per_day",
        "Refill warning: daily dose above (mcg/day)",
        2000,
        100,
        5000,
        "mcg/day",
        "A daily dose outside the usual range gets a soft warning.",
    ),
    # Screening trial (domain.md 1): boluses at 50 mcg/mL, 25-100 mcg, 24 h apart, 50 then 75 then 100 mcg.
    # The bolus form itself takes 5-200 mcg and 10-2000 mcg/mL, so the limits stay inside those.
    Spec(
        "trial_concentration_mcg_per_ml",
        "Trial bolus warning: concentration other than (mcg/mL)",
        50,
        10,
        2000,
        "mcg/mL",
        "The trial-only strength; pump fills start at 500 mcg/mL.",
    ),
    Spec(
        "trial_dose_min_mcg",
        "Trial bolus warning: dose below (mcg)",
        25,
        5,
        200,
        "mcg",
        "25 mcg for very small patients.",
    ),
    Spec(
        "trial_dose_max_mcg",
        "Trial bolus warning: dose above (mcg)",
        100,
        5,
        200,
        "mcg",
        "No response to 100 mcg means do not implant.",
    ),
    Spec(
        "trial_min_hours_between_boluses",
        "Trial bolus warning: less than this between boluses (hours)",
        24,
        1,
        168,
        "hours",
    ),
    Spec(
        "trial_first_dose_mcg",
        "Trial bolus warning: first bolus above (mcg)",
        50,
        5,
        200,
        "mcg",
        "50, then 75, then 100 mcg.",
    ),
    Spec("trial_dose_step_mcg", "Trial bolus warning: a step up of more than (mcg)", 25, 1, 100, "mcg"),
    Spec(
        "site_scope",
        "Nurses and coordinators work on: 0 every clinic's patients, 1 change only their own clinic's, "
        "2 see and change only their own clinic's (physicians and admins: every clinic)",
        0,
        0,
        2,
        "",
        "Minimum necessary by site (tracker.policy.site_allows): 0 every clinic, 1 nurses and coordinators change "
        "only their own clinic's patients, 2 they also see only them. Physicians and admins: every clinic.",
    ),
    Spec(
        "mri_pump_check_days",
        "After an MRI (SynchroMed): the pump check is due within (days; 0 = the day of the scan)",
        0,
        0,
        7,
        "days",
        "Device events (domain.md 7): days after the event that its work falls due (0: the same day). A SynchroMed "
        "II stops in the scanner and should restart within 2-24 h: check it the day of the scan.",
    ),
    Spec(
        "catheter_revision_review_days",
        "After a catheter revision: a physician's review is due within (days)",
        14,
        0,
        60,
        "days",
        "A catheter revision: a physician's review within two weeks (the first post-implant review is 2-6 weeks).",
    ),
    Spec(
        "catheter_occlusion_review_days",
        "Suspected catheter occlusion or kink: a physician's review is due within (days; 0 = the same day)",
        0,
        0,
        7,
        "days",
        "A suspected occlusion or kink: the drug may not be reaching the spine (withdrawal over 1-3 days): same day.",
    ),
)
SETTING = {spec.name: spec for spec in SETTINGS}
DEFAULTS: dict[str, int] = {spec.name: spec.default for spec in SETTINGS}
LABELS: dict[str, str] = {spec.name: spec.label for spec in SETTINGS}


def setting(name: str) -> Any:
    """A rule set's field that holds clinic setting `name`: its default is the setting's (see `rules_from`)."""
    return field(default=DEFAULTS[name], metadata={"setting": name})


def rules_from(rules: type[R], settings: dict[str, int]) -> R:
    """A rule set (a dataclass whose fields are `setting`s) with the clinic's values from `settings`."""
    return rules(**{f.name: settings[f.metadata["setting"]] for f in fields(rules) if "setting" in f.metadata})


# -- the pump-model and drug catalogues (the admin catalogue pages) ----------------------------------------------

DEFAULT_ALARM_ML = Spec(
    "default_alarm_ml",
    "Default low-reservoir alarm volume (mL)",
    Decimal(2),
    Decimal("0.5"),
    Decimal(10),
    "mL",
    "SynchroMed default; Prometra keys to 3 mL. Each pump keeps its own (domain.md: keep it per patient).",
    "The default alarm volume",
)
BATTERY_LIFE_MONTHS = Spec(
    "battery_life_months",
    "Battery life (months; empty when no battery drives the pump)",
    None,
    1,
    240,
    "months",
    noun="Battery life",
)
ERI_TO_STOP_DAYS = Spec(
    "eri_to_stop_days",
    "Days from the replacement indicator (ERI) to the pump stopping (empty when no battery drives the pump)",
    None,
    1,
    365,
    "days",
    noun="ERI to stop",
)
ACCURACY_FRACTION = Spec(
    "accuracy_fraction",
    "Accuracy (fraction of the volume infused: 0.145 is ±14.5%)",
    Decimal("0.145"),
    Decimal(0),
    Decimal("0.5"),
    "",
    "SynchroMed II: ±14.5% of the volume infused.",
    "Accuracy",
)
STABILITY_DAYS = Spec(
    "stability_days",
    "Stability in the pump (days)",
    180,
    1,
    365,
    "days",
    "Commercial baclofen; compounded drugs may need less.",
    "Stability",
)
CONCENTRATION_MCG_PER_ML = Spec(
    "concentration_mcg_per_ml", "Concentration (mcg/mL)", None, 1, 50_000, "mcg/mL", noun="The concentration"
)
