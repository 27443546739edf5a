"""Clinic-editable settings with their defaults (the defaults come from shared/domain.md)."""

from sqlalchemy.orm import Session

from tracker.models import Setting

DEFAULTS: dict[str, int] = {
    # Stage changes dated further back than this need a reason.
    "backdate_days_without_reason": 1,
}


def get_setting(session: Session, name: str) -> int:
    row = session.get(Setting, name)
    return int(row.value) if row else DEFAULTS[name]
