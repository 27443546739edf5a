"""Clinic-editable settings, stored as name/value text; defaults live in services.settings."""

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from tracker.extensions import db


class Setting(db.Model):
    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
