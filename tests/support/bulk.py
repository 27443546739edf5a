"""Many patients fast, for the tests that only need rows to count statements against (query counts).

Building a patient through the services (journey, bolus, implant, refills, schedule, audit) costs tens of
statements and an audit row each; a page's statement count only needs the same shapes many times over. So the
tests build a few patients the ordinary way and `copy_patients` copies every row that hangs off them (stage events,
boluses, implants, pumps, doses, refills, schedules, bookings, contacts, requests ...) with one multi-row INSERT
per table and copy, giving each copy new ids and its own MRN. The audit trail is not copied: it is append-only and
records what people did, and nobody made these copies."""

from __future__ import annotations

from sqlalchemy import Table, insert, or_, select

from tracker.extensions import db

NOT_COPIED = {"audit_event"}


def _owned_tables() -> list[tuple[Table, list]]:
    """The tables whose rows belong to a patient, parents first, each with its foreign keys into that set."""
    owned: list[tuple[Table, list]] = []
    names = {"patient"}
    for table in db.metadata.sorted_tables:
        if table.name in NOT_COPIED or table.name == "patient":
            continue
        # Keys to a row's id only: refill_schedule's (patient_id, location_id) key also names the patient's clinic.
        keys = [
            fk
            for column in table.columns
            for fk in column.foreign_keys
            if fk.column.table.name in names | {table.name} and fk.column.primary_key
        ]
        if any(fk.column.table.name != table.name for fk in keys):
            owned.append((table, keys))
            names.add(table.name)
    return owned


def copy_patients(session, patient_ids: list[int], copies: int) -> list[int]:
    """Insert `copies` copies of each patient with everything that hangs off them; returns the new patient ids."""
    patient = db.metadata.tables["patient"]
    originals = [dict(row) for row in session.execute(select(patient).where(patient.c.id.in_(patient_ids))).mappings()]
    owned = _owned_tables()
    rows: dict[str, list[dict]] = {"patient": originals}
    for table, keys in owned:  # every owned row of the originals, found through the keys already collected
        taken = {
            fk.parent: {r[fk.column.name] for r in rows.get(fk.column.table.name, [])}
            for fk in keys
            if fk.column.table.name != table.name
        }
        conditions = [column.in_(values) for column, values in taken.items() if values]
        rows[table.name] = (
            [dict(r) for r in session.execute(select(table).where(or_(*conditions))).mappings()] if conditions else []
        )

    created: list[int] = []
    for n in range(1, copies + 1):
        new_ids: dict[str, dict] = {}
        copied = [
            original | {"mrn": f"{original['mrn']}C{n}", "mrn_key": f"{original['mrn_key']}C{n}"}
            for original in originals
        ]
        new_ids["patient"] = _insert(session, patient, copied, originals)
        created += list(new_ids["patient"].values())
        for table, keys in owned:
            if not rows[table.name]:
                continue
            self_keys = [fk for fk in keys if fk.column.table.name == table.name]
            copied = []
            for original in rows[table.name]:
                row = dict(original)
                for fk in keys:
                    if fk in self_keys or row[fk.parent.name] is None:
                        continue
                    row[fk.parent.name] = new_ids[fk.column.table.name][row[fk.parent.name]]
                copied.append(row)
            new_ids[table.name] = _insert(session, table, copied, rows[table.name], self_keys)
    session.commit()
    return created


def _insert(session, table: Table, copied: list[dict], originals: list[dict], self_keys=()) -> dict:
    """Insert the copies; returns old primary key -> new. An `id` key is left to the database (its sequence moves
    on, on PostgreSQL too); a key that is a foreign key (refill_schedule's pump_id) was already rewritten. A row
    pointing at another row of its own table (a correction) is pointed at that row's copy afterwards."""
    [key] = table.primary_key.columns
    if key.foreign_keys:
        session.execute(insert(table), copied)
        return {o[key.name]: c[key.name] for o, c in zip(originals, copied, strict=True)}
    values = [
        {k: v for k, v in row.items() if k != key.name} | {f.parent.name: None for f in self_keys} for row in copied
    ]
    ids = session.execute(insert(table).returning(key, sort_by_parameter_order=True), values).scalars().all()
    mapping = {o[key.name]: new for o, new in zip(originals, ids, strict=True)}
    for fk in self_keys:
        for original in originals:
            if original[fk.parent.name] is not None:
                session.execute(
                    table.update()
                    .where(key == mapping[original[key.name]])
                    .values({fk.parent.name: mapping[original[fk.parent.name]]})
                )
    return mapping
