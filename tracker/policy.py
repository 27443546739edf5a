"""Who may do what, written once as data. Routes and services ask `allowed()`."""

ALL_ROLES = frozenset({"nurse", "coordinator", "physician", "admin"})
CLINICAL = frozenset({"nurse", "physician"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "patient.view": ALL_ROLES,
    "patient.edit": CLINICAL,
    "stage.move": CLINICAL,
    "stage.void": CLINICAL,
    "stage.override": frozenset({"physician"}),  # implant without a positive trial
    "bolus.record": CLINICAL,
    "dose.change": CLINICAL,
    "dose.sign_off": frozenset({"physician"}),  # increases beyond the titration limit
    "refill.record": CLINICAL,
    "settings.manage": frozenset({"admin"}),
    "users.manage": frozenset({"admin"}),
}


def allowed(role: str | None, permission: str) -> bool:
    return role in PERMISSIONS[permission]
