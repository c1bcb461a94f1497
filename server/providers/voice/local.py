"""The offline voice provider: the spoken-form normaliser, no rewrite (name ``local``).

With an author's style profile it steers what can be steered without rewriting: a
sentence far longer than the author ever writes (over 1.5× their 90th-percentile length)
is split where the article itself pauses (a semicolon or a dash), so the narration keeps
the author's breath.
"""

from __future__ import annotations

import re
from typing import ClassVar

from config import Settings
from server.providers.base import Meter
from server.providers.types import VoiceRequest, VoiceResult
from server.providers.voice import normalizer


class LocalVoice:
    """Makes the text speakable (numbers, dates, units...) without changing its words' author."""

    kind: ClassVar[str] = "voice"
    name: ClassVar[str] = "local"
    version: ClassVar[str] = "2"
    paid: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fingerprint(self) -> str:
        return normalizer.NAME

    def rewrite(self, request: VoiceRequest, meter: Meter) -> VoiceResult:
        text = normalizer.to_spoken_form(request.text, request.language)
        if request.sentence_limit:
            text = split_long_sentences(text, int(request.sentence_limit * 1.5))
        return VoiceResult(text=text, rewritten=False)


_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PAUSE = re.compile(r"\s*(?:;|\s—\s|—|\s–\s)\s*")


def split_long_sentences(text: str, limit: int) -> str:
    """Split sentences of more than ``limit`` words at their semicolons and dashes."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        if paragraph.startswith("## "):
            paragraphs.append(paragraph)
            continue
        sentences = []
        for sentence in _SENTENCE.split(paragraph):
            pieces = _PAUSE.split(sentence)
            if len(sentence.split()) <= limit or len(pieces) == 1 or min(len(p.split()) for p in pieces) < 4:
                sentences.append(sentence)
                continue
            end = sentence[-1] if sentence[-1] in ".!?" else "."
            pieces[-1] = pieces[-1].rstrip(".!?")
            sentences.extend(f"{p[0].upper()}{p[1:]}{end}" for p in pieces)
        paragraphs.append(" ".join(sentences))
    return "\n\n".join(paragraphs)


PROVIDER = LocalVoice
