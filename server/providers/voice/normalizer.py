"""Offline voice provider: rewrites text into spoken form, never into other words.

Abbreviations and symbols a TTS voice would read badly become what a person would say
("e.g." → "for example", "&" → "and", "50%" → "50 percent"); numbers stay as digits,
which the phonemiser already speaks well.
"""

from __future__ import annotations

import re

NAME = "spoken-form"

_ABBREVIATIONS = [
    (r"\be\.g\.,?", "for example,"),
    (r"\bi\.e\.,?", "that is,"),
    (r"\betc\.", "et cetera."),
    (r"\bvs\.?(?=\s)", "versus"),
    (r"\bapprox\.", "approximately"),
    (r"\bw/o\b", "without"),
    (r"\bw/(?=\s)", "with"),
    (r"\bTL;DR:?", "In short:"),
    (r"\bFAQ\b", "F.A.Q."),
]
_SYMBOLS = [
    (r"(?<=\d)\s*%", " percent"),
    (r"(?<=\d)\s*×", " times"),
    (r"\s&\s", " and "),
    (r"±", " plus or minus "),
    (r"\s*[—–]\s*", ", "),
    (r"\s*(?:->|→|=>)\s*", " to "),
    (r"(?<=\w)/(?=\w)", " or "),
    (r"[*_#`~^]+", " "),
    (r"\.{3}|…", "."),
    (r"\[|\]", ""),
]
_COMPILED = [(re.compile(p, re.I if p.startswith(r"\b") else 0), r) for p, r in _ABBREVIATIONS + _SYMBOLS]


def to_spoken_form(text: str) -> str:
    """Return ``text`` as a narrator would say it, paragraph breaks kept."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        for pattern, replacement in _COMPILED:
            paragraph = pattern.sub(replacement, paragraph)
        paragraph = re.sub(r",\s*([,.;:!?])", r"\1", paragraph)
        paragraph = re.sub(r"^\s*,\s*", "", paragraph)
        paragraph = re.sub(r"\s{2,}", " ", paragraph).strip()
        if paragraph:
            paragraphs.append(paragraph)
    return "\n\n".join(paragraphs)
