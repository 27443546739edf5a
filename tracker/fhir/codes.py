"""The code systems, units and value maps of the FHIR mapping (README, "FHIR R4"), written once."""

from tracker.clinical.journey import ADJUSTMENT, EVALUATION, IMPLANTATION, TRIAL

# Our own definitions: a hospital that has its own MRN system sets TRACKER_FHIR_MRN_SYSTEM instead of the default.
BASE = "https://itb-tracker.example/fhir"
DEFAULT_MRN_SYSTEM = f"{BASE}/mrn"
OBSERVATION_CODES = f"{BASE}/CodeSystem/observation"
PROCEDURE_CODES = f"{BASE}/CodeSystem/procedure"
ASHWORTH_CODES = f"{BASE}/CodeSystem/modified-ashworth"
EXT_STAGE = f"{BASE}/StructureDefinition/itb-stage"
EXT_EXIT_REASON = f"{BASE}/StructureDefinition/itb-exit-reason"
EXT_TIMING = f"{BASE}/StructureDefinition/trial-bolus-timing"  # before | after, on a trial bolus's scores
EXT_DOSE = f"{BASE}/StructureDefinition/trial-bolus-dose"
EXT_CONCENTRATION = f"{BASE}/StructureDefinition/baclofen-concentration"
EXT_IMPLANTED = f"{BASE}/StructureDefinition/implant-date"
EXT_EXPLANTED = f"{BASE}/StructureDefinition/explant-date"
EXT_ERI = f"{BASE}/StructureDefinition/elective-replacement-indicator-date"
EXT_BATTERY_DUE = f"{BASE}/StructureDefinition/battery-replacement-due"

UCUM = "http://unitsofmeasure.org"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
BACLOFEN_RXCUI = "1292"  # RxNorm ingredient baclofen
INTRATHECAL_ROUTE = "72607000"  # SNOMED CT: intrathecal route

# Our four stages as an EpisodeOfCare's status (FHIR has no "trial" status: the stage itself is an extension).
EPISODE_STATUS = {EVALUATION: "planned", TRIAL: "active", IMPLANTATION: "active", ADJUSTMENT: "active"}
EXIT_STATUS = {"not_candidate": "cancelled", "declined": "cancelled", "trial_failed": "cancelled"}  # else finished
GENDER = {"female": "female", "male": "male", "other": "other", "unknown": "unknown"}
APPOINTMENT_STATUS = {"booked": "booked", "completed": "fulfilled", "cancelled": "cancelled", "rebooked": "cancelled"}
# A refill visit's slot, as the iCalendar feed shows it (tracker.services.calendar).
APPOINTMENT_MINUTES = 45

# Observation codes (our own system: no LOINC code exists for these ITB scores).
ASHWORTH = "modified-ashworth"
PENN_FREQUENCY = "penn-spasm-frequency"
PENN_SEVERITY = "penn-spasm-severity"
RESIDUAL = "pump-residual-volume"
OBSERVATION_LABELS = {
    ASHWORTH: "Modified Ashworth Scale",
    PENN_FREQUENCY: "Penn Spasm Frequency Scale",
    PENN_SEVERITY: "Penn spasm severity",
    RESIDUAL: "Pump reservoir residual volume",
}
# Procedure codes.
TRIAL_BOLUS = "itb-trial-bolus"
IMPLANT = "itb-pump-implantation"
REFILL = "itb-pump-refill"
PROCEDURE_LABELS = {
    TRIAL_BOLUS: "Intrathecal baclofen trial bolus",
    IMPLANT: "Implantation of intrathecal baclofen pump",
    REFILL: "Refill of intrathecal baclofen pump",
}
