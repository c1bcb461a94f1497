"""The narration provider contract and the WAV writer every narrator shares."""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Protocol

import numpy as np

from server.providers.types import Caption, NarrationClip
from server.providers.narration.captions import cues_for_sentence, split_sentences

SENTENCE_GAP_MS = 140


class Narrator(Protocol):
    """Speaks text into a WAV; ``name`` and ``identity`` key the narration cache."""

    name: str
    identity: str  # changes whenever the same text would sound different

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        """Return int16 mono samples and their sample rate for one sentence."""


def narrate(narrator: Narrator, text: str, out: Path, pause_ms: int) -> NarrationClip:
    """Speak ``text`` sentence by sentence into ``out``; caption cues come from the audio."""
    pieces: list[np.ndarray] = []
    captions: list[Caption] = []
    rate = 0
    cursor = 0
    sentences = split_sentences(text)
    for i, sentence in enumerate(sentences):
        samples, rate = narrator.speak(sentence)
        start_ms = cursor * 1000 // rate
        cursor += len(samples)
        captions.extend(cues_for_sentence(sentence, start_ms, cursor * 1000 // rate))
        pieces.append(samples)
        gap = pause_ms if i == len(sentences) - 1 else SENTENCE_GAP_MS
        silence = np.zeros(rate * gap // 1000, dtype=np.int16)
        pieces.append(silence)
        cursor += len(silence)
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    write_wav(out, audio, rate or 22050)
    return NarrationClip(path=out, duration_ms=len(audio) * 1000 // (rate or 22050), captions=tuple(captions),
                         provider=narrator.name)


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
