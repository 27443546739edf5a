"""`flask --app wsgi fhir-export`: one patient's FHIR Bundle, or the whole programme as bulk-data NDJSON."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask.cli import with_appcontext

from tracker.cli.common import SYSTEM
from tracker.extensions import db
from tracker.fhir.bundle import RESOURCE_TYPES, bundle
from tracker.services import transaction
from tracker.services.audit import record
from tracker.services.fhir_export import all_resources, everything, patient_id_for_mrn
from tracker.web.fhir import fhir_base, mrn_system


def write_ndjson(resources, out: Path) -> dict[str, int]:
    """One `<Type>.ndjson` file per resource type (FHIR bulk data's layout), a resource a line; the count per type.
    Every type's file is written, empty when there is none, so a reader finds the same files every time."""
    out.mkdir(parents=True, exist_ok=True)
    files = {name: (out / f"{name}.ndjson").open("w", encoding="utf-8") for name in RESOURCE_TYPES}
    counts = dict.fromkeys(RESOURCE_TYPES, 0)
    try:
        for resource in resources:
            name = resource.get_resource_type()
            files[name].write(resource.model_dump_json() + "\n")
            counts[name] += 1
    finally:
        for handle in files.values():
            handle.close()
    return counts


@click.command("fhir-export")
@click.option("--mrn", help="One patient's record: a Bundle on standard output (or NDJSON files with --out).")
@click.option("--all", "everyone", is_flag=True, help="Every patient, as NDJSON files in --out.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), help="Folder for one NDJSON file per type.")
@with_appcontext
def fhir_export_command(mrn, everyone, out):
    """Export FHIR R4 resources (audited as an export, as every download is)."""
    if bool(mrn) == everyone:
        raise click.UsageError("Give --mrn M or --all.")
    if everyone and out is None:
        raise click.UsageError("--all writes NDJSON files: give --out DIR.")
    patient_id = patient_id_for_mrn(db.session, mrn) if mrn else None
    if mrn and patient_id is None:
        raise click.ClickException(f"No patient with MRN {mrn}.")
    made = all_resources(db.session, mrn_system()) if everyone else everything(db.session, patient_id, mrn_system())
    if out is None:
        click.echo(bundle(made, fhir_base(), timestamp=datetime.now(UTC)).model_dump_json(indent=2))
        counts = {"Bundle": 1}
    else:
        counts = write_ndjson(made, out)
        click.echo(", ".join(f"{name}: {n}" for name, n in counts.items()) + f" (in {out})", err=True)
    with transaction(db.session, "read"):
        record(
            db.session,
            SYSTEM,
            "export",
            "fhir_bulk" if everyone else "fhir_bundle",
            None,
            patient_id,
            None,
            {"rows": counts},
        )
