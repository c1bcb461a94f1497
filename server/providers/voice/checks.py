"""Checks a rewritten narration must pass before it replaces the author's text.

A rewrite may change how things are said, never what is claimed: every number and every
named entity in the rewrite must occur in the source; the length stays within bounds; no
markdown survives; the headings (chapters) are the source's, in order.
"""

from __future__ import annotations

import re

from server.providers.types import split_sections

_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CAPITALISED = re.compile(r"\b[A-Z][a-zA-Z'’\-]*[a-z][a-zA-Z'’\-]*\b|\b[A-Z]{2,}\b")
_SENTENCE_START = re.compile(r"(?:^|[.!?:;]\s+|[\"“(]\s*)$")
_MARKDOWN = (("`", "a backtick"), ("](", "a link"), ("**", "bold markers"), ("http://", "a URL"),
             ("https://", "a URL"), ("<", "an HTML tag"), ("|", "a table"), ("\n- ", "a list bullet"),
             ("\n* ", "a list bullet"), ("{{", "a template tag"))
# Words that are capitalised for grammar, not because they name something.
_GRAMMAR = frozenset("I I'm I've I'd I'll OK TV".split())


def numbers(text: str) -> set[str]:
    """The numbers in ``text``, with thousands separators dropped (1,500 and 1500 are one)."""
    return {n.replace(",", "") for n in _NUMBER.findall(text)}


def named_entities(text: str) -> set[str]:
    """Capitalised words that are not at a sentence start: names of people, places, products."""
    found = set()
    for match in _CAPITALISED.finditer(text):
        before = text[max(0, match.start() - 3):match.start()]
        if _SENTENCE_START.search(before) or match.start() == 0 or text[match.start() - 1] == "\n":
            continue
        if match.group() not in _GRAMMAR:
            found.add(match.group())
    return found


def problems(source: str, rewrite: str, *, min_ratio: float = 0.5, max_words: int | None = None) -> list[str]:
    """What is wrong with ``rewrite`` as a narration of ``source`` (empty: it may be used)."""
    found: list[str] = []
    source_lower = source.lower()
    invented_numbers = sorted(numbers(rewrite) - numbers(source))
    if invented_numbers:
        found.append(f"numbers that are not in the article: {', '.join(invented_numbers[:8])}")
    invented_names = sorted(n for n in named_entities(rewrite) if n.lower() not in source_lower)
    if invented_names:
        found.append(f"names that are not in the article: {', '.join(invented_names[:8])}")
    source_words, rewrite_words = len(source.split()), len(rewrite.split())
    upper = max_words if max_words is not None else int(source_words * 1.2) + 10
    lower = min(int(source_words * min_ratio), int(upper * 0.6))
    if rewrite_words > upper:
        found.append(f"{rewrite_words} words, more than the {upper} allowed")
    if rewrite_words < lower:
        found.append(f"{rewrite_words} words, fewer than {lower}: too much of the article was left out")
    marks = sorted({name for token, name in _MARKDOWN if token in f"\n{rewrite}"})
    if marks:
        found.append(f"markup a narrator would read aloud: {', '.join(marks)}")
    source_headings = [h for h, _ in split_sections(source) if h]
    rewrite_headings = [h for h, _ in split_sections(rewrite) if h]
    if source_headings != rewrite_headings:
        found.append("the section headings must stay exactly as they are, in the same order")
    return found
