"""Who may do what, written once as data. Routes and services ask `allowed()`."""

ALL_ROLES = frozenset({"nurse", "coordinator", "physician", "admin"})
CLINICAL = frozenset({"nurse", "physician"})

PERMISSIONS: dict[str, frozenset[str]] = {
    "account.own": ALL_ROLES,  # one's own password
    "patient.view": ALL_ROLES,
    "patient.edit": CLINICAL,
    "patient.import": CLINICAL,  # a spreadsheet brings in stages, pumps and refills: clinical facts
    "quality.view": ALL_ROLES,  # the dashboard; its drill-down lists follow patient.view
    "stage.move": CLINICAL,
    "stage.void": CLINICAL,
    "stage.override": frozenset({"physician"}),  # implant without a positive trial
    "bolus.record": CLINICAL,
    "dose.change": CLINICAL,
    "dose.sign_off": frozenset({"physician"}),  # increases beyond the titration limit
    "refill.record": CLINICAL,
    "entry.correct": CLINICAL,  # correct or void a refill, dose change, trial bolus, implant detail or ERI date
    "pump_event.record": CLINICAL,  # an MRI or a catheter event, and a post-MRI pump check done
    "pump_event.review": frozenset({"physician"}),  # a catheter event's physician review done
    # Device advisories: entering or closing a notice is a clinical decision over the catalogue's pumps (nurses,
    # physicians) that admins, who keep the catalogue, may make too; reaching patients is everyday contact work.
    "advisory.manage": frozenset({"nurse", "physician", "admin"}),
    "advisory.follow_up": frozenset({"nurse", "coordinator", "physician"}),
    "settings.manage": frozenset({"admin"}),
    "refill.book": frozenset({"coordinator", "nurse", "physician"}),
    "booking.override": frozenset({"physician"}),  # a booking after the alarm date
    "contact.log": frozenset({"coordinator", "nurse", "physician"}),
    "request.ask": frozenset({"coordinator", "nurse"}),  # a booking after the alarm date, a dose sign-off
    "request.answer": frozenset({"physician"}),
    "export.names": frozenset({"coordinator", "nurse", "physician"}),  # admins export MRNs only
    "users.manage": frozenset({"admin"}),
    "digest.manage": frozenset({"admin"}),  # the daily e-mail's runs, dead letters and resends
    "audit.view": frozenset({"admin"}),
    "api_clients.manage": frozenset(
        {"admin"}
    ),  # FHIR API clients and their tokens  # the audit trail page and its CSV export
}


def allowed(role: str | None, permission: str) -> bool:
    return role in PERMISSIONS[permission]


# Minimum necessary by site (the clinic's "site_scope" setting): physicians and admins work across clinics.
ACROSS_SITES = frozenset({"physician", "admin"})
EVERY_CLINIC, CHANGE_OWN_CLINIC, OWN_CLINIC_ONLY = 0, 1, 2


def site_allows(
    role: str | None, home_location_id: int | None, patient_location_id: int, scope: int, writing: bool
) -> bool:
    """May this user read (or, `writing`, change) a patient of that clinic under the clinic's scope setting?
    0: every clinic; 1: change only their own clinic's patients; 2: see and change only them."""
    if role in ACROSS_SITES or scope == EVERY_CLINIC:
        return True
    if writing or scope >= OWN_CLINIC_ONLY:
        return home_location_id == patient_location_id
    return True
