"""Offline timeline provider: deterministic scenes of 15–25 words, one concept each.

Scenes are cut where a listener would pause. Every word boundary has a cost (paragraph
end 0, sentence end 0.5, clause 3, elsewhere 12, after a function word 30) and dynamic
programming picks the cheapest cut into groups of 15–25 words, leaning towards 20. Only a
final remainder may be shorter (8–14 words), and a text of under 15 words is one scene.

Each scene's concept is its most distinctive keyword or repeated two-word phrase (term
frequency in the scene times inverse frequency across scenes); its visual description is
one complete sentence about that single concept.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from server.providers.types import SceneSpec

NAME = "segmenter"
MIN_WORDS, MAX_WORDS, TARGET_WORDS, MIN_TAIL = 15, 25, 20, 8

_STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before being below between
    both but by can could did do does doing down during each few for from further had has have having he her here hers
    herself him himself his how however i if in into is it its itself just let like may me might more most much must my
    myself no nor not now of off on once only or other our ours ourselves out over own same she should so some such than
    that the their theirs them themselves then there these they this those through to too under until up upon us very
    was we were what when where which while who whom why will with within without would you your yours yourself
    yourselves thing things way ways make makes made get gets got use used using one two many lot lots really even still
    well new good first last able every something someone anything nothing often since though whether another around
    across cannot can't don't doesn't isn't it's we're they're you're i'm there's that's let's need needs want wants
    going go goes know knows see seen say says said take takes come comes look looks give gives find finds work works""".split()
)
_CONJUNCTIONS = frozenset("and but or which because while so when where although though whereas unless until".split())
_ABBREVIATION = re.compile(r"^(?:[A-Z]|Mr|Mrs|Ms|Dr|St|Jr|Sr|No|vs)\.$")
_WORD = re.compile(r"[A-Za-zÀ-ÿ][A-Za-zÀ-ÿ'’\-]*[A-Za-zÀ-ÿ]")
_BACKDROPS = {"midnight": "deep navy", "paper": "warm cream", "forest": "dark moss green",
              "sunset": "dusky amber", "ocean": "deep teal"}


@dataclass(frozen=True)
class _Word:
    text: str
    cost_after: float


def plan_scenes(text: str, theme: str = "midnight") -> tuple[SceneSpec, ...]:
    """Cut ``text`` into scenes and give each one concept and a visual description."""
    words = _words_with_costs(text)
    if not words:
        return ()
    groups = _cheapest_cut(words)
    texts = [" ".join(w.text for w in words[start:end]) for start, end in groups]
    concepts = _concepts(texts)
    backdrop = _BACKDROPS.get(theme, "plain dark")
    return tuple(
        SceneSpec(index=i, text=scene_text, concept=concept, visual=describe(concept, backdrop))
        for i, (scene_text, concept) in enumerate(zip(texts, concepts))
    )


def describe(concept: str, backdrop: str) -> str:
    """One complete sentence about one concept: subject, setting, style and light."""
    return (f"A single bold symbolic illustration of {concept}, centered on a plain {backdrop} background, "
            f"drawn in a clean flat graphic style under soft even studio light.")


def _words_with_costs(text: str) -> list[_Word]:
    words: list[_Word] = []
    paragraphs = [p.split() for p in text.split("\n\n") if p.strip()]
    for paragraph in paragraphs:
        for i, token in enumerate(paragraph):
            following = paragraph[i + 1] if i + 1 < len(paragraph) else ""
            if not following:
                cost = 0.0
            elif token.endswith((".", "!", "?", '."', '?"', '!"', ".”", "?”")) and not _ABBREVIATION.match(token) \
                    and (following[0].isupper() or following[0] in "\"“'(0123456789"):
                cost = 0.5
            elif token.endswith((",", ";", ":", ")")) or following.lower() in _CONJUNCTIONS:
                cost = 3.0
            elif token.lower().strip(",.") in _STOPWORDS and len(token) <= 4:
                cost = 30.0
            else:
                cost = 12.0
            words.append(_Word(token, cost))
    return words


def _cheapest_cut(words: list[_Word]) -> list[tuple[int, int]]:
    """Dynamic programming over cut points; returns (start, end) word ranges."""
    n = len(words)
    if n < MIN_WORDS:
        return [(0, n)]
    best = [math.inf] * (n + 1)
    nxt = [n] * (n + 1)
    best[n] = 0.0
    for start in range(n - 1, -1, -1):
        for size in range(MIN_TAIL, MAX_WORDS + 1):
            end = start + size
            if end > n:
                break
            is_tail = end == n
            if size < MIN_WORDS and not is_tail:
                continue
            cost = best[end] + words[end - 1].cost_after + 0.15 * abs(size - TARGET_WORDS)
            if size < MIN_WORDS:
                cost += 25.0
            if cost < best[start]:
                best[start], nxt[start] = cost, end
    groups, start = [], 0
    while start < n:
        groups.append((start, nxt[start]))
        start = nxt[start]
    return groups


def _candidates(text: str) -> list[str]:
    return [w.strip("'’-") for w in _WORD.findall(text)]


def _concepts(texts: list[str]) -> list[str]:
    scene_terms = [[w for w in _candidates(t) if w.lower() not in _STOPWORDS and len(w) >= 3 and "'" not in w and "’" not in w]
                   for t in texts]
    document_frequency: Counter[str] = Counter()
    bigram_counts: Counter[str] = Counter()
    for terms, text in zip(scene_terms, texts):
        document_frequency.update({t.lower() for t in terms})
        tokens = _candidates(text)
        for a, b in zip(tokens, tokens[1:]):
            if a.lower() not in _STOPWORDS and b.lower() not in _STOPWORDS and len(a) > 2 and len(b) > 2:
                bigram_counts[f"{a.lower()} {b.lower()}"] += 1
    total = len(texts)
    lowercase_seen = {w for terms in scene_terms for w in terms if w.islower()}
    concepts = []
    for terms, text in zip(scene_terms, texts):
        if not terms:
            concepts.append("an open notebook")
            continue
        counts = Counter(t.lower() for t in terms)
        surface = {t.lower(): (t.lower() if t.lower() in lowercase_seen else t) for t in terms}

        def score(term: str) -> float:
            idf = math.log((1 + total) / (1 + document_frequency[term])) + 1.0
            proper = 0.6 if surface[term][:1].isupper() else 0.0
            return counts[term] * idf + proper + min(len(term), 12) / 12

        first_seen = {t.lower(): -i for i, t in reversed(list(enumerate(terms)))}
        best_term = max(counts, key=lambda t: (score(t), first_seen[t]))
        best_score, choice = score(best_term), surface[best_term]
        tokens = _candidates(text)
        for a, b in zip(tokens, tokens[1:]):
            key = f"{a.lower()} {b.lower()}"
            if bigram_counts[key] >= 2 and a.lower() in counts and b.lower() in counts:
                bigram_score = 0.8 * (score(a.lower()) + score(b.lower()))
                if bigram_score > best_score:
                    best_score, choice = bigram_score, f"{surface[a.lower()]} {surface[b.lower()]}"
        concepts.append(choice)
    return concepts
