"""Device advisories and recalls (issue 21): which pumps a field safety notice affects, and when each affected
patient's follow-up falls due. Pure: the service reads the pumps, these rules decide.

Serial numbers arrive as regulators and manufacturers write them and as clinics copy them: "NGP 123456",
"ngp-0123456", a range "NGP100000-NGP100500", a pasted column of a spreadsheet. A serial is compared by its
normal form: upper case, without spaces, dashes, dots or slashes, and its number without leading zeros, so
"ngp 0123456" is "NGP123456". Every criterion an advisory gives must hold (models AND serials AND dates ...); a
criterion left empty does not narrow.

A pump's distribution date is not recorded here (the manufacturer's shipping date): a pump cannot be implanted
before it was distributed, so a distribution range rules out only the pumps implanted before it began; the ones
implanted after are listed, and "not affected after review" is the status for a pump the manufacturer says is not
in the lot."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from tracker.clinical.errors import DomainError

# The clinic's chosen follow-up for every affected patient (domain: what a device clinic does with a notice).
INFORM_AT_REFILL = "inform_at_refill"
CALL_WITHIN = "call_within"
CHECK_AT_REFILL = "check_at_refill"
PLAN_REPLACEMENT = "plan_replacement"
FOLLOW_UP_KINDS = {
    INFORM_AT_REFILL: "Inform the patient at the next refill",
    CALL_WITHIN: "Call the patient within N days",
    CHECK_AT_REFILL: "Check the pump at every refill",
    PLAN_REPLACEMENT: "Plan a pump replacement",
}
CALL_DAYS_MAX = 365

# A follow-up's status. Only "not yet reached" is open (a worklist reason and an e-mail item while the advisory is
# open); an explanted pump is listed for the record and never opened.
NOT_REACHED = "not_reached"
INFORMED = "informed"
CHECKED = "checked"
ACTION_TAKEN = "action_taken"
NOT_AFFECTED = "not_affected"
EXPLANTED = "explanted"
STATUSES = {
    NOT_REACHED: "Not yet reached",
    INFORMED: "Informed",
    CHECKED: "Checked",
    ACTION_TAKEN: "Action taken",
    NOT_AFFECTED: "Not affected after review",
    EXPLANTED: "Explanted: for the record",
}
CHOOSABLE = (NOT_REACHED, INFORMED, CHECKED, ACTION_TAKEN, NOT_AFFECTED)  # what staff may record
REACHED = frozenset({INFORMED, CHECKED, ACTION_TAKEN, NOT_AFFECTED})

SERIAL_MAX_ITEMS = 20000  # a pasted list or file longer than any recall
_SEPARATORS = re.compile(r"[\s\-_./]+")
_SERIAL = re.compile(r"([A-Z]*)(\d+)")
_LIST_SPLIT = re.compile(r"[\n\r,;\t]+")
_RANGE_WORDS = re.compile(r"\s*(?:–|—|\.\.|\bto\b|\bTO\b|\bTo\b)\s*")


@dataclass(frozen=True, order=True)
class SerialKey:
    """A serial's normal form: its letters and its number (None when it is not letters then digits: compared by
    its text)."""

    prefix: str
    number: int | None

    def __str__(self) -> str:
        return self.prefix if self.number is None else f"{self.prefix}{self.number}"


@dataclass(frozen=True)
class SerialRange:
    prefix: str
    low: int
    high: int

    def holds(self, key: SerialKey) -> bool:
        return key.number is not None and key.prefix == self.prefix and self.low <= key.number <= self.high

    def __str__(self) -> str:
        return f"{self.prefix}{self.low}-{self.prefix}{self.high}"


@dataclass(frozen=True)
class SerialSet:
    """The serials an advisory names: single serials and ranges (empty: serials do not narrow)."""

    serials: frozenset[SerialKey] = frozenset()
    ranges: tuple[SerialRange, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.serials or self.ranges)

    def holds(self, serial: str) -> bool:
        key = serial_key(serial)
        return key is not None and (key in self.serials or any(r.holds(key) for r in self.ranges))

    def __len__(self) -> int:
        return len(self.serials) + len(self.ranges)


def serial_key(raw: str) -> SerialKey | None:
    """ "NGP 0123456", "ngp-123456" and "NGP123456" are one key; None for text with no letter or digit."""
    cleaned = _SEPARATORS.sub("", raw.strip().upper())
    if not cleaned or not re.search(r"[A-Z0-9]", cleaned):
        return None
    match = _SERIAL.fullmatch(cleaned)
    if match:
        return SerialKey(match.group(1), int(match.group(2)))
    return SerialKey(cleaned, None)


def _as_range(text: str, prefix_of_low: str | None = None) -> SerialRange | None | str:
    """A range written "LOW-HIGH", "LOW to HIGH", "LOW..HIGH" or "LOW–HIGH" (the high end may leave out the
    letters): the SerialRange, None when the text is not a range, or a message when it is one written wrongly."""
    worded = _RANGE_WORDS.split(text)
    splits: list[tuple[str, str]] = []
    if len(worded) == 2:
        splits = [(worded[0], worded[1])]
    elif len(worded) == 1:
        # A plain dash is also written inside serials ("NGP-123456"): a split is a range only where both sides
        # are a serial with digits.
        splits = [(text[: m.start()], text[m.end() :]) for m in re.finditer(r"\s*-\s*", text)]
    else:
        return f"“{text}” is not a range: write LOW-HIGH (for example NGP100000-NGP100500)."
    ranges = []
    for left, right in splits:
        low = _SERIAL.fullmatch(_SEPARATORS.sub("", left.upper()))
        high = _SERIAL.fullmatch(_SEPARATORS.sub("", right.upper()))
        if low and high:
            ranges.append((low, high))
    if not ranges:
        return (
            f"“{text}” is not a range: write LOW-HIGH (for example NGP100000-NGP100500)." if len(worded) == 2 else None
        )
    low, high = ranges[0]
    worded_range = len(worded) == 2
    if not worded_range and len(low.group(2).lstrip("0")) != len(high.group(2).lstrip("0")) and not high.group(1):
        # "NGP 12-345678": a serial with a dash, or the range NGP12 to NGP345678? Refused rather than guessed.
        return (
            f"“{text}” is ambiguous: write a range with both ends in full (NGP100000-NGP100500), or the serial "
            "without its dash."
        )
    prefix, high_prefix = low.group(1), high.group(1) or low.group(1)
    if prefix != high_prefix:
        return f"“{text}”: both ends of a range must have the same letters ({prefix or 'none'} and {high_prefix})."
    lo, hi = int(low.group(2)), int(high.group(2))
    if lo > hi:
        return f"“{text}” runs backwards: write the lower serial first ({prefix}{hi}-{prefix}{lo})."
    return SerialRange(prefix, lo, hi)


def parse_serials(text: str, field_name: str = "serials") -> SerialSet:
    """Serials and ranges as pasted: one or more a line, separated by commas, semicolons or tabs. Anything that is
    neither (a word, a reversed range) is refused with the line it is on, so nothing is silently skipped."""
    serials: set[SerialKey] = set()
    ranges: list[SerialRange] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if number == 1 and "serial" in line.lower() and not any(ch.isdigit() for ch in line):
            continue  # a spreadsheet column pasted with its header
        for item in _LIST_SPLIT.split(line):
            item = item.strip().strip('"').strip()
            if not item:
                continue
            found = _as_range(item)
            if isinstance(found, str):
                raise DomainError(f"Line {number}: {found}", field_name)
            if found is not None:
                ranges.append(found)
                continue
            key = serial_key(item)
            if key is None or not any(ch.isdigit() for ch in item):
                raise DomainError(
                    f"Line {number}: “{item[:40]}” is not a serial number or a range (a serial has digits).",
                    field_name,
                )
            serials.add(key)
            if len(serials) + len(ranges) > SERIAL_MAX_ITEMS:
                raise DomainError(f"More than {SERIAL_MAX_ITEMS:,} serials: split the list.", field_name)
    return SerialSet(frozenset(serials), tuple(ranges))


def serials_from_file(content: bytes, field_name: str = "serial_file") -> str:
    """A manufacturer's list as uploaded (text or CSV, UTF-8 or Windows-1252), as lines for parse_serials: the
    column headed "serial" when there is one, else the first column; the header line is left out."""
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = content.decode("cp1252", errors="replace")
    rows = [row for row in csv.reader(io.StringIO(text)) if any(cell.strip() for cell in row)]
    if not rows:
        raise DomainError("The file holds no serial numbers.", field_name)
    header = [cell.strip().lower() for cell in rows[0]]
    column = next((i for i, cell in enumerate(header) if "serial" in cell), None)
    if column is not None:
        rows = rows[1:]
    else:
        column = 0
    return "\n".join(row[column].strip() if column < len(row) else "" for row in rows)


@dataclass(frozen=True)
class Criteria:
    """What an advisory affects. Dates are inclusive at both ends; None leaves that end open."""

    model_ids: frozenset[int] = frozenset()
    serials: SerialSet = field(default_factory=SerialSet)
    implanted_from: date | None = None
    implanted_to: date | None = None
    distributed_from: date | None = None
    distributed_to: date | None = None
    concentrations: frozenset[int] = frozenset()  # mcg/mL in the pump now (its last fill)
    lots: frozenset[str] = frozenset()  # a refill kit or drug lot used in any fill of the pump

    def narrows(self) -> bool:
        """An advisory must say what it affects: one criterion at least, or every pump would match."""
        return bool(
            self.model_ids
            or self.serials
            or self.implanted_from
            or self.implanted_to
            or self.distributed_from
            or self.concentrations
            or self.lots
        )


@dataclass(frozen=True)
class PumpFacts:
    pump_id: int
    patient_id: int
    model_id: int
    serial: str
    implanted_on: date
    explanted_on: date | None
    concentration: int | None = None  # its last fill's
    lots: frozenset[str] = frozenset()


def check_criteria(criteria: Criteria) -> None:
    """Refuse an advisory that names nothing, or a date range that ends before it starts."""
    if not criteria.narrows():
        raise DomainError(
            "Say what the advisory affects: pump models, serial numbers, dates, concentrations or lots.", "model_ids"
        )
    for low, high, name, words in (
        (criteria.implanted_from, criteria.implanted_to, "implanted_to", "implant"),
        (criteria.distributed_from, criteria.distributed_to, "distributed_to", "distribution"),
    ):
        if low is not None and high is not None and low > high:
            raise DomainError(f"The {words} range ends before it starts.", name)


def normal_lot(lot: str) -> str:
    return _SEPARATORS.sub("", lot.strip().upper())


def parse_lots(text: str) -> frozenset[str]:
    return frozenset(normal_lot(item) for item in _LIST_SPLIT.split(text) if normal_lot(item))


def _within(day: date, low: date | None, high: date | None) -> bool:
    return (low is None or day >= low) and (high is None or day <= high)


def affects(criteria: Criteria, pump: PumpFacts) -> bool:
    """Does the advisory affect this pump? Every criterion given must hold."""
    if criteria.model_ids and pump.model_id not in criteria.model_ids:
        return False
    if criteria.serials and not criteria.serials.holds(pump.serial):
        return False
    if not _within(pump.implanted_on, criteria.implanted_from, criteria.implanted_to):
        return False
    # Distributed before it was implanted: only a pump implanted before the range began is surely outside it.
    if criteria.distributed_from is not None and pump.implanted_on < criteria.distributed_from:
        return False
    if criteria.concentrations and pump.concentration not in criteria.concentrations:
        return False
    if criteria.lots and not (criteria.lots & {normal_lot(lot) for lot in pump.lots}):
        return False
    return True


@dataclass(frozen=True)
class Match:
    pump: PumpFacts
    in_use: bool  # False: explanted, listed for the record with no open follow-up


def matches(criteria: Criteria, pumps: Iterable[PumpFacts]) -> list[Match]:
    """Every pump the advisory affects, those in use first, each in pump order."""
    found = [Match(p, p.explanted_on is None) for p in pumps if affects(criteria, p)]
    return sorted(found, key=lambda m: (not m.in_use, m.pump.pump_id))


def initial_status(match: Match) -> str:
    return NOT_REACHED if match.in_use else EXPLANTED


def follow_up_due(kind: str, call_days: int | None, opened_on: date, refill_due: date | None) -> date:
    """When an open follow-up falls due: a call within N days of the advisory being entered; otherwise at the
    pump's next refill (its stored due date), or at once when the pump has no refill date."""
    if kind == CALL_WITHIN:
        return opened_on + timedelta(days=call_days or 0)
    return refill_due if refill_due is not None else opened_on


def check_follow_up(kind: str | None, call_days: int | None) -> None:
    if kind not in FOLLOW_UP_KINDS:
        raise DomainError("Choose the clinic's follow-up.", "follow_up")
    if kind == CALL_WITHIN and (call_days is None or not 0 <= call_days <= CALL_DAYS_MAX):
        raise DomainError(f"Say within how many days to call (0 to {CALL_DAYS_MAX}).", "call_days")


@dataclass(frozen=True)
class Progress:
    reached: int
    total: int  # pumps in use when listed (explanted ones are for the record)

    def __str__(self) -> str:
        return f"reached {self.reached} of {self.total}"


def for_the_record(status: str, pump_explanted: bool) -> bool:
    """A follow-up is for the record only when its pump was explanted when listed, or has been since: a patient
    whose pump is out is no longer one to reach (and is off the worklist, which reads pumps in use)."""
    return status == EXPLANTED or pump_explanted


def follow_up_words(kind: str, call_days: int | None) -> str:
    """ "Call the patient within 7 days": the follow-up kind's words with its N filled in."""
    return FOLLOW_UP_KINDS[kind].replace("N days", f"{call_days} days")


def said_at_refill(kind: str, status: str) -> bool:
    """Whether the refill form names this follow-up (of an open advisory, pump in use): every one not yet reached
    (the visit is the moment to inform), and a "check at every refill" until action is taken or the pump is found
    not affected: a check recorded at one refill is due again at the next."""
    if status == NOT_REACHED:
        return True
    return kind == CHECK_AT_REFILL and status in (INFORMED, CHECKED)


def progress(statuses: Sequence[str]) -> Progress:
    """Reached n of N over the pumps in use (statuses of pumps explanted since: EXPLANTED, see for_the_record)."""
    counted = [s for s in statuses if s != EXPLANTED]
    return Progress(sum(1 for s in counted if s in REACHED), len(counted))
