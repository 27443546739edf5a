"""Clinical scales and coded choices, stored as their raw categories (never floats)."""

ASHWORTH = ("0", "1", "1+", "2", "3", "4")  # Modified Ashworth Scale
PENN_FREQUENCY = (0, 1, 2, 3, 4)
PENN_SEVERITY = (1, 2, 3)  # only when frequency > 0

DIAGNOSES = {
    "ms": "Multiple sclerosis",
    "cp": "Cerebral palsy",
    "sci": "Spinal cord injury",
    "stroke": "Stroke",
    "tbi": "Traumatic brain injury",
    "other": "Other",
}
ORIGINS = {"spinal": "Spinal", "cerebral": "Cerebral"}
SEXES = {"female": "Female", "male": "Male", "other": "Other", "unknown": "Unknown"}
TRIAL_OUTCOMES = {"positive": "Positive", "negative": "Negative", "equivocal": "Equivocal"}

ROLES = {"nurse": "Nurse", "coordinator": "Coordinator", "physician": "Physician", "admin": "Admin"}
LOCATION_KINDS = {"clinic": "Clinic", "surgery_centre": "Surgery centre"}


def penn_is_consistent(frequency: int | None, severity: int | None) -> bool:
    """Severity is recorded only when spasms occur (frequency > 0)."""
    if frequency is None:
        return severity is None
    return (severity is None) if frequency == 0 else (severity in PENN_SEVERITY)
