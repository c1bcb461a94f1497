"""Sentence splitting and caption cues timed from the synthesised audio.

Narrators synthesise a scene sentence by sentence, so each sentence's start and end come
from the audio itself. Inside a sentence, cues of at most ``MAX_CAPTION_WORDS`` words
share its time in proportion to their length in characters.
"""

from __future__ import annotations

import re

from server.providers.types import Caption

MAX_CAPTION_WORDS = 7
# A sentence ends at . ! ? or … and the closing quotes and brackets after it, before the
# next one's capital (or digit, or opening quote). The closers belong to the sentence that
# ends: they were once part of the separator, and a caption showed "Light the lamp before
# the storm. with its closing quote gone.
_SENTENCE_END = re.compile(r"[.!?…][\"'”’)]*(?=\s+[\"“'(]?[A-Z0-9À-Ý])")


def split_sentences(text: str) -> list[str]:
    """Split at sentence ends; text without one is one sentence. Every character but the
    whitespace between sentences is kept."""
    text = text.strip()
    sentences, start = [], 0
    for end in _SENTENCE_END.finditer(text):
        sentences.append(text[start:end.end()])
        start = end.end()
    sentences.append(text[start:])
    return [s.strip() for s in sentences if s.strip()]


def chunk_words(sentence: str, limit: int = MAX_CAPTION_WORDS) -> list[str]:
    """Cut a sentence into caption chunks of up to ``limit`` words, preferring punctuation."""
    words = sentence.split()
    if len(words) <= limit:
        return [sentence]
    count = -(-len(words) // limit)  # ceil: the fewest chunks that respect the limit
    size = -(-len(words) // count)
    chunks, start = [], 0
    while start < len(words):
        end = min(len(words), start + size)
        # Move the cut back to a comma if one is close, so a cue ends where the voice pauses.
        for probe in range(end, max(start + 2, end - 3), -1):
            if words[probe - 1].endswith((",", ";", ":")) and len(words) - probe != 1:
                end = probe
                break
        if len(words) - end == 1:
            end = len(words)  # never leave a lone word for the last cue
        chunks.append(" ".join(words[start:end]))
        start = end
    return chunks


def cues_for_sentence(sentence: str, start_ms: int, end_ms: int) -> list[Caption]:
    """Spread ``sentence``'s chunks over [start_ms, end_ms] by character length."""
    chunks = chunk_words(sentence)
    total = sum(len(c) for c in chunks) or 1
    cues, cursor = [], float(start_ms)
    for chunk in chunks:
        span = (end_ms - start_ms) * len(chunk) / total
        cues.append(Caption(int(round(cursor)), int(round(cursor + span)), chunk))
        cursor += span
    return cues


def spread_by_length(tokens: list[str], start: int, end: int) -> list[tuple[int, int]]:
    """Share [start, end) among the tokens by their length in characters."""
    total = sum(len(t) for t in tokens) or 1
    spans, cursor = [], float(start)
    for token in tokens:
        width = (end - start) * len(token) / total
        spans.append((round(cursor), round(cursor + width)))
        cursor += width
    return spans
