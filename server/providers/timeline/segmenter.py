"""Offline timeline planner: deterministic scenes of 15–25 words, one concept each.

Scenes are cut where a listener would pause. The text becomes pieces (words; for Japanese
and Chinese, clause runs measured in characters) and every boundary between two pieces
has a cost: paragraph end 0, sentence end 0.5, clause punctuation or a conjunction next 3, a clause's first word next
(a subordinate, relative or complement clause, from the dependency parse) 4,
a preposition next 10, elsewhere 20 (subject and verb included), after a heading 150, inside a noun phrase 35, after a function word 40
(part-of-speech tags from ``nlp.analyse``); each of those last four, being mid-phrase,
costs MID_PHRASE (180) more, about as much as a heading inside a scene (200). Dynamic programming picks the cheapest cut into
scenes within the bounds, leaning towards the target; a heading paragraph (``## ...``)
starts a new scene and becomes its ``chapter``.

Bounds: 15–25 words, aiming at 20. Text without spaces between words (Japanese,
Chinese) counts characters instead, excluding punctuation: 40–70, aiming at 55 — about
the same six to nine seconds of speech. Only the scene where the text ends may be shorter;
a section too short to stand alone joins its neighbour rather than make a short scene.

Concepts and visual descriptions come from ``concepts.py`` (content analysis over the whole
article); ``rules.py`` checks the result and repairs what it can.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from server.providers.timeline import concepts, nlp, rules
from server.providers.timeline.rules import (MAX_CHARS, MAX_WORDS, MIN_CHARS, MIN_WORDS, TARGET_CHARS,
                                             TARGET_WORDS, Bounds, bounds_for, measure)
from server.providers.types import HEADING_MARK, SceneSpec

NAME = "segmenter"
VERSION = "4"   # 4: cuts where a clause begins (dependency parse); French and Japanese concepts scored and described through English glosses; 3: headings end with a full stop; 2: POS-tagged cuts, headings as chapters, CJK bounds, noun-phrase concepts; bump on any change
MIN_TAIL = 1
HEADING_LAST = 150.0
# A cut the validator calls mid-phrase costs about as much as a heading inside a scene (200):
# with a short section, a heading may sit inside a scene rather than a phrase be cut in two.
MID_PHRASE = 180.0
__all__ = ["MAX_WORDS", "MIN_TAIL", "MIN_WORDS", "NAME", "Bounds", "bounds_for", "measure", "plan_scenes"]

_SENTENCE_END = (".", "!", "?", "…", '."', '?"', '!"', ".”", "?”", "!”", ".)", ".'")
_CLAUSE_END = (",", ";", ":", ")", "—", "–")
_CONJUNCTIONS = rules.OPENERS   # the validator accepts a scene that ends before one of these
_FUNCTION_WORDS = frozenset("a an the of to in on at by for from with into onto about as than is are was were be "
                            "been has have had do does did will would can could should may might must shall my your "
                            "our their its his her this these those very le la les un une des du de au aux en ce "
                            "cette ces son sa ses leur leurs".split())
_ABBREVIATION = re.compile(r"^(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|No|vs|etc|e\.g|i\.e|cf)\.$", re.I)
_CJK_PUNCT_SENTENCE = "。！？!?"
_CJK_PUNCT_CLAUSE = "、，,；;：:」』）)"
_CJK_PIECE = re.compile(r"[^。！？!?、，,；;：:」』）)]*[。！？!?、，,；;：:」』）)]*")


@dataclass(frozen=True)
class _Piece:
    text: str
    start: int            # character offset in the narration text (heading marks blanked)
    weight: int
    cost_after: float
    heading: str = ""     # set on the first piece of a heading paragraph


def plan_scenes(text: str, *, theme: str = "midnight", language: str = "en") -> list[SceneSpec]:
    """Cut ``text`` into scenes, each with one concept and a visual description of it."""
    analysed = _blank_heading_marks(text)
    bounds = bounds_for(analysed, language)
    pieces = (_cjk_pieces if bounds.unit == "characters" else _word_pieces)(text, analysed, language)
    if not pieces:
        return []
    groups = _cheapest_cut(pieces, bounds)
    joiner = "" if bounds.unit == "characters" else " "
    drafts = [concepts.Draft(index=i, text=joiner.join(p.text for p in pieces[a:b]).strip(),
                             start=pieces[a].start, end=pieces[b - 1].start + len(pieces[b - 1].text),
                             chapter=pieces[a].heading)
              for i, (a, b) in enumerate(groups)]
    scenes = concepts.assign(drafts, analysed, theme=theme, language=language)
    # The same validator every planner passes: offline, repair what it flags (one concept).
    flagged = {p.scene for p in rules.check(scenes, language=language) if p.rule in ("concept", "composite", "visual")}
    return [rules.repair(s, theme=theme, language=language) if s.index in flagged else s for s in scenes]


def _blank_heading_marks(text: str) -> str:
    """The text with each heading's ``## `` replaced by spaces, so offsets stay the same."""
    out, position = [], 0
    for match in re.finditer(r"(?:^|\n\n)(" + re.escape(HEADING_MARK) + ")", text):
        out.append(text[position:match.start(1)])
        out.append(" " * len(HEADING_MARK))
        position = match.end(1)
    out.append(text[position:])
    return "".join(out)


def _paragraphs(text: str):  # noqa: ANN202 - yields (start offset, paragraph text, heading or "")
    for match in re.finditer(r"(?:(?!\n\n).|\n(?!\n))+", text, re.S):
        paragraph = match.group(0)
        stripped = paragraph.strip()
        if not stripped:
            continue
        offset = match.start() + (len(paragraph) - len(paragraph.lstrip()))
        if stripped.startswith(HEADING_MARK):
            heading = stripped[len(HEADING_MARK):].strip()
            yield offset + len(HEADING_MARK), heading, heading.rstrip(".:!?")
        else:
            yield offset, stripped, ""


def _word_pieces(text: str, analysed: str, language: str) -> list[_Piece]:
    tags = _tags_by_offset(analysed, language)
    clauses = nlp.clause_starts(nlp.analyse(analysed, language))
    pieces: list[_Piece] = []
    for offset, paragraph, heading in _paragraphs(text):
        words = [(offset + m.start(), m.group(0)) for m in re.finditer(r"\S+", paragraph)]
        for i, (start, word) in enumerate(words):
            following = words[i + 1] if i + 1 < len(words) else None
            cost = 0.0 if following is None else _cost_between(word, start, following[1], following[0], tags,
                                                               nlp.tagger_for(language) == "fr")
            if following is not None and following[0] in clauses and cost > 4.0:
                cost = 4.0   # a clause of its own begins next ("…important | to ask first"): a listener's pause
            elif cost >= 10.0:
                cost += MID_PHRASE   # no sentence, clause or conjunction here: mid-phrase
            if following is None and heading:
                cost = HEADING_LAST   # a heading opens a scene; it never ends one
                if not word.endswith((".", "!", "?", ":", "…")):
                    word += "."       # spoken as its own sentence, not run into the text after it
            pieces.append(_Piece(word, start, 1, cost, heading if i == 0 else ""))
    return pieces


def _tags_by_offset(analysed: str, language: str) -> dict[int, str]:
    """POS tag of the token at each character offset where one starts."""
    return {token.start: token.pos for token in nlp.analyse(analysed, language)}


def _cost_between(word: str, start: int, following: str, following_start: int, tags: dict[int, str],
                  french: bool = False) -> float:
    nxt = following.lstrip("\"“'(")
    if word.endswith(_SENTENCE_END) and not _ABBREVIATION.match(word) and nxt[:1] and (nxt[0].isupper() or nxt[0].isdigit()):
        return 0.5
    if word.endswith(_CLAUSE_END) or following in ("—", "–"):
        return 3.0
    bare = word.lower().strip(",.;:\"'“”()")
    next_bare = following.lower().strip(",.;:\"'“”()")
    here = tags.get(start + len(word) - len(word.lstrip("\"“'(")), "")
    there = tags.get(following_start + len(following) - len(following.lstrip("\"“'(")), "")
    if bare in _FUNCTION_WORDS or here in ("DET", "ADP", "AUX", "PART", "CCONJ", "SCONJ"):
        return 40.0   # "…the Response to | that request": never after a preposition or an article
    if next_bare in _CONJUNCTIONS and bare not in rules.OPENER_LEADS \
            and (next_bare not in rules.AMBIGUOUS_OPENERS or there in ("SCONJ", "CCONJ", "PRON")):
        return 3.0
    if here in ("ADJ", "NUM") and there in ("NOUN", "PROPN", "ADJ") or here == "PROPN" and there == "PROPN" \
            or here == "NOUN" and there == "NOUN":
        return 35.0
    if there == "ADP":
        # English prepositions open a phrase a listener can wait for; French "de", "du", "des"
        # bind nouns together ("le moteur de rendu du navigateur").
        return 25.0 if french else 10.0
    return 20.0


def _cjk_pieces(text: str, analysed: str, language: str) -> list[_Piece]:
    """Clause runs of Japanese or Chinese text; a run longer than a scene is cut at word ends."""
    bounds = Bounds(MIN_CHARS, MAX_CHARS, TARGET_CHARS, "characters")
    pieces: list[_Piece] = []
    for offset, paragraph, heading in _paragraphs(text):
        runs = [(offset + m.start(), m.group(0)) for m in _CJK_PIECE.finditer(paragraph) if m.group(0)]
        first = True
        for start, run in runs:
            for part_start, part in _split_long_run(start, run, bounds.high, language):
                end = part.rstrip()
                if end.endswith(tuple(_CJK_PUNCT_SENTENCE)):
                    cost = 0.5
                elif end.endswith(tuple(_CJK_PUNCT_CLAUSE)):
                    cost = 3.0
                else:
                    cost = 12.0
                pieces.append(_Piece(part, part_start, measure(part, bounds), cost, heading if first else ""))
                first = False
        if pieces:
            last = pieces[-1]
            text_ = last.text
            if heading and not text_.rstrip().endswith(tuple(_CJK_PUNCT_SENTENCE + _CJK_PUNCT_CLAUSE)):
                text_ = text_.rstrip() + "。"   # a heading is its own sentence: "雨の日の図書館。雨の日に…"
            # A heading opens a scene and never ends one, as in spaced languages.
            pieces[-1] = _Piece(text_, last.start, last.weight, HEADING_LAST if heading else 0.0, last.heading)
    return pieces


def _split_long_run(start: int, run: str, high: int, language: str) -> list[tuple[int, str]]:
    """Split a clause run longer than ``high`` characters between words (tagger tokens)."""
    unit = Bounds(0, high, 0, "characters")
    if measure(run, unit) <= high:
        return [(start, run)]
    parts: list[tuple[int, str]] = []
    begin, size = 0, 0
    for token in nlp.analyse(run, language):
        size += measure(token.text, unit)
        # Cut after a particle or auxiliary (the end of a Japanese phrase) once half a scene is full.
        if size >= high // 3 and token.pos in ("ADP", "AUX", "PUNCT", "SCONJ"):
            parts.append((start + begin, run[begin:token.end]))
            begin, size = token.end, 0
    if begin < len(run):
        parts.append((start + begin, run[begin:]))
    return parts

def _cheapest_cut(pieces: list[_Piece], bounds: Bounds) -> list[tuple[int, int]]:
    """Dynamic programming over cut points; returns (start, end) piece ranges.

    Hard rule: no scene is longer than ``bounds.high`` (unless one piece alone is). Soft
    rules, by penalty: a scene shorter than ``bounds.low`` anywhere but at the end (400),
    a heading inside a scene rather than at its start (200), a short final scene (25).
    So a section too short to stand alone joins a neighbour instead of making a short scene.
    """
    n = len(pieces)
    total = sum(p.weight for p in pieces)
    if total <= bounds.high:
        return [(0, n)]
    best = [math.inf] * (n + 1)
    nxt = [n] * (n + 1)
    best[n] = 0.0
    for start in range(n - 1, -1, -1):
        weight, headings = 0, 0
        for end in range(start + 1, n + 1):
            weight += pieces[end - 1].weight
            if weight > bounds.high and end > start + 1:
                break
            if end - 1 > start and pieces[end - 1].heading:
                headings += 1
            cost = best[end] + pieces[end - 1].cost_after + 0.15 * abs(weight - bounds.target) + 200.0 * headings
            if weight < bounds.low:
                cost += 25.0 if end == n else 400.0
            if cost < best[start]:
                best[start], nxt[start] = cost, end
    groups, start = [], 0
    while start < n:
        groups.append((start, nxt[start]))
        start = nxt[start]
    return groups
