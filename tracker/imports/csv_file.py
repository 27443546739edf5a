"""Reading an uploaded CSV (issue #9): decoding, the delimiter, splitting into a header and lines.

No Flask: the upload pages, the CLI and the services all read a file through `read_table`. What a row means is
tracker.clinical.import_rows' business.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from tracker.clinical.import_columns import ENCODING_HELP, Issue

MAX_ROWS = 50_000
MAX_COLUMNS = 200  # the template has about 40; a wider header is a mistake (a mapping page per column)
DELIMITERS = ",;\t|"


# Decoding and splitting -------------------------------------------------------------------------------------

_UTF8_MULTIBYTE = re.compile(rb"[\xc2-\xf4][\x80-\xbf]+")


@dataclass
class Table:
    """A decoded, split file: its encoding and delimiter, header cells, and data rows with their line numbers."""

    encoding: str
    delimiter: str
    headers: list[str]
    rows: list[tuple[int, list[str]]]
    issues: list[Issue] = field(default_factory=list)  # file-level: nothing can be checked further


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes) -> tuple[str, str, list[Issue]]:
    """(text, encoding name, issues). UTF-8 (with or without BOM) first, then Windows-1252; UTF-16 and binary
    files are refused. Undecodable bytes become U+FFFD, found and reported cell by cell after splitting."""
    if not data.strip():
        return "", "", [Issue(None, None, "", "The file is empty.")]
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or b"\x00" in data[:4096]:
        return (
            "",
            "",
            [
                Issue(
                    1,
                    None,
                    "",
                    "This file is not plain text: it looks like UTF-16 (Excel’s “Unicode "
                    "text”) or a binary file such as .xlsx. " + ENCODING_HELP,
                )
            ],
        )
    if b"\x00" in data:
        return (
            "",
            "",
            [
                Issue(
                    _line_of(data, data.index(b"\x00")),
                    None,
                    "",
                    "This line holds a NUL byte: the file is not plain text. " + ENCODING_HELP,
                )
            ],
        )
    try:
        return data.decode("utf-8-sig"), "UTF-8 with BOM" if data.startswith(b"\xef\xbb\xbf") else "UTF-8", []
    except UnicodeDecodeError:
        pass
    if data.startswith(b"\xef\xbb\xbf") or _UTF8_MULTIBYTE.search(data):
        # Mostly UTF-8 with a few stray bytes: two encodings mixed in one file (cells are reported one by one).
        return data.decode("utf-8-sig", errors="replace"), "UTF-8 (with invalid bytes)", []
    return data.decode("cp1252", errors="replace"), "Windows-1252", []


def sniff_delimiter(text: str) -> str:
    """The delimiter, from csv.Sniffer on the first lines; else whichever candidate the header line holds most."""
    sample = "\n".join(text.splitlines()[:20])
    try:
        return csv.Sniffer().sniff(sample, delimiters=DELIMITERS).delimiter
    except csv.Error:
        header = text.splitlines()[0] if text else ""
        counts = {d: header.count(d) for d in DELIMITERS}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def read_table(data: bytes) -> Table:
    """Decode and split the file. Blank lines are skipped; a malformed line stops the reading with an issue."""
    text, encoding, issues = decode(data)
    if issues:
        return Table(encoding, ",", [], [], issues)
    delimiter = sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=False)
    headers: list[str] | None = None
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for cells in reader:
            start, line = line, reader.line_num + 1  # a quoted cell may span several physical lines
            if not any(cell.strip() for cell in cells):
                continue
            if headers is None:
                headers = [cell.strip() for cell in cells]
                while headers and not headers[-1]:  # a spreadsheet's trailing empty columns are not columns
                    headers.pop()
                if len(headers) > MAX_COLUMNS:
                    issues.append(
                        Issue(
                            start,
                            None,
                            "",
                            f"The header line has {len(headers):,} columns; the "
                            f"tracker reads at most {MAX_COLUMNS}. Delete the columns it does not "
                            "need (see the guide), then upload the file again.",
                        )
                    )
                    return Table(encoding, delimiter, [], [], issues)
                continue
            rows.append((start, cells))
            if len(rows) > MAX_ROWS:
                issues.append(Issue(start, None, "", f"More than {MAX_ROWS:,} patients: split the file."))
                break
    except csv.Error as error:
        issues.append(Issue(line, None, "", f"This line cannot be read as CSV ({error}). Check its quotes."))
    if headers is None:
        issues.append(Issue(None, None, "", "The file holds no header line."))
        return Table(encoding, delimiter, [], [], issues)
    if not rows and not issues:
        issues.append(Issue(None, None, "", "The file holds only a header line: there are no patients to import."))
    return Table(encoding, delimiter, headers, rows, issues)
