"""Edit a clinic location's address and phones (the admin catalogue page)."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from tracker.models import Location
from tracker.services import Actor, DomainError, use_case
from tracker.services.catalogue import CatalogueChange, apply_changes, require_admin, row_to_edit

LOCATION_FIELDS = ["address", "phone", "emergency_phone"]
_PHONE = re.compile(r"^[0-9+()./ -]*(?:(?:ext|x)\.? ?[0-9]{1,6})?$")


def _location_values(values: dict) -> dict:
    clean = {}
    for name, label, most in (
        ("address", "The address", 300),
        ("phone", "The phone", 40),
        ("emergency_phone", "The 24-hour phone", 40),
    ):
        if name in values:
            text = " ".join(str(values[name] or "").split())
            if len(text) > most:
                raise DomainError(f"{label} is longer than {most} characters.", name)
            if name != "address" and not _PHONE.match(text):
                raise DomainError(f"{label} may hold digits, spaces, + ( ) - . / and an extension (x123).", name)
            clean[name] = text
    return clean


@use_case("location")
def update_location(
    session: Session, actor: Actor, location_id: int, expected_version: int, values: dict
) -> CatalogueChange:
    """Edit a location's address and phones; the 24-hour phone is printed on every emergency summary."""
    require_admin(actor)
    location = row_to_edit(session, Location, location_id, expected_version, "location")
    return CatalogueChange(
        apply_changes(session, actor, "location", location, _location_values(values), LOCATION_FIELDS), 0
    )
