"""FHIR R4 (R4B models from `fhir.resources`) for the hospital's record: pure builders that take plain values and
model rows and return validated resources (codes.py, resources.py, bundle.py). No Flask, no database session:
tracker.services.fhir_export reads what they need, the API blueprint (tracker/api) and the CLI serve them."""
