"""The import template and header mapping (issue #9): the file a clinic fills in, and which of a file's columns
is which template column (exact names, labels and synonyms). No Flask."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import date, timedelta

from tracker.clinical.import_columns import COLUMN_BY_NAME, COLUMNS, PROGRAMME_AND_REFILL_CHECKS, REQUIRED_ALWAYS


def template_rows(today: date) -> list[list[str]]:
    """The template: the header and one example row whose dates fit around `today`."""
    example = {c.name: c.example for c in COLUMNS}
    example["last_refill_date"] = (today - timedelta(days=30)).isoformat()
    example["next_refill_date"] = (today + timedelta(days=14)).strftime("%m/%d/%Y")
    for name in PROGRAMME_AND_REFILL_CHECKS:  # the example pump: a simple dose, no PTM (the guide shows them)
        example[name] = ""
    return [[c.name for c in COLUMNS], [example[c.name] for c in COLUMNS]]


def template_csv(today: date) -> str:
    """The template as CSV text (the caller adds a BOM so Excel reads it as UTF-8)."""
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(template_rows(today))
    return out.getvalue()


# Header mapping ----------------------------------------------------------------------------------------------


def normalise_header(text: str) -> str:
    """'Date of birth', ' DATE_OF_BIRTH ' and 'date-of-birth' all become 'date_of_birth'."""
    text = text.replace("\ufeff", "").strip().casefold()
    return re.sub(r"[^0-9a-z]+", "_", text).strip("_")


_KNOWN = {}
for _column in COLUMNS:
    for _name in (_column.name, normalise_header(_column.label), *_column.synonyms):
        _KNOWN.setdefault(_name, _column.name)


def guess_mapping(headers: list[str]) -> dict[str, int | None]:
    """Template column -> index of the file column that looks like it (first match wins), or None."""
    mapping: dict[str, int | None] = {c.name: None for c in COLUMNS}
    for index, header in enumerate(headers):
        name = _KNOWN.get(normalise_header(header))
        if name and mapping[name] is None:
            mapping[name] = index
    return mapping


def headers_match_exactly(headers: list[str]) -> bool:
    """Every file header is a template column name and none is missing that is always required: no mapping step."""
    names = [normalise_header(h) for h in headers]
    return (
        all(n in COLUMN_BY_NAME for n in names) and len(set(names)) == len(names) and set(REQUIRED_ALWAYS) <= set(names)
    )


def unused_headers(headers: Iterable[str], mapping: dict[str, int | None]) -> list[str]:
    """File columns no template column reads (shown on the mapping and check pages, never imported)."""
    used = {i for i in mapping.values() if i is not None}
    return [h for i, h in enumerate(headers) if i not in used]
