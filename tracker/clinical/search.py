"""What a patient search box's text asks for: the words a patient's name or MRN must hold.

One rule for the header's search and the patient list's filter: every word typed must be found (case-insensitive,
anywhere) in the patient's first name, last name or MRN. So the order of the words does not matter ("Castillo,
Lisa", "Lisa Castillo"), a part is enough ("castil"), and an MRN is found with or without its "MRN" prefix. A whole
MRN typed (or scanned from a wristband) opens that patient even where it is part of a longer one ("MRN862" and
"MRN8620417").
"""

from __future__ import annotations

import re

MAX_WORDS = 6  # more than a full name and an MRN: the rest are ignored (each word is one more condition)
# Commas, semicolons, slashes and any white space separate words; hyphens and apostrophes stay (Smith-Jones, O'Neil).
_SEPARATORS = re.compile(r"[\s,;/]+")
# "MRN" (with ":", "#", "-" or "." after it, or nothing) before a digit is the label, not part of the number:
# "MRN 862", "MRN: 862", "mrn#862" and "MRN862" all look for 862, which also finds a stored "MRN862".
_MRN_LABEL = re.compile(r"\bmrn\s*[:#.-]?\s*(?=\d)")


def search_words(text: str) -> tuple[str, ...]:
    """The distinct words of a search, lower-cased, in the order typed, at most MAX_WORDS; () for nothing to find."""
    # lower(), not casefold(): the databases' lower() keeps "ß", so a casefolded "ss" would miss "Strauß".
    unlabelled = _MRN_LABEL.sub(" ", text.lower())
    words = [w for w in _SEPARATORS.split(unlabelled) if w.strip("-'.")]
    return tuple(dict.fromkeys(words))[:MAX_WORDS]


def mrn_key(mrn: str) -> str:
    """An MRN as it is stored to be matched (Patient.mrn_key): trimmed and case-folded, so "mrn862 " is MRN862."""
    return mrn.strip().casefold()


def exact_mrn_keys(text: str) -> tuple[str, ...]:
    """The stored MRN keys a search names whole: as typed, and with or without its "MRN" label ("MRN 862" ->
    mrn862, 862); () where the text is more than one word (a name, or a name and an MRN)."""
    words = search_words(text)
    if len(words) != 1:
        return ()
    return tuple(dict.fromkeys(mrn_key(key) for key in (text, words[0], "mrn" + words[0])))
