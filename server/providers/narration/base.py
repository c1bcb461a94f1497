"""The narration provider contract and the WAV writer every narrator shares.

Word timings: a narrator that can say when each word was spoken (piper, from its
phoneme alignments) offers ``speak_timed``; for one that cannot, each sentence's words are
placed at the pauses in its audio (``pauses.align_by_pauses``, as for Gemini's speech) and
share the voiced spans between pauses in proportion to their length.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import Protocol

import numpy as np

from server.providers.types import Caption, NarrationClip, WordTiming
from server.providers.narration.captions import chunk_words, cues_for_sentence, split_sentences, spread_by_length
from server.providers.narration.pauses import align_by_pauses

SENTENCE_GAP_MS = 140
SILENCE_LEVEL = 300   # int16 amplitude below which audio counts as silence when trimming


class Narrator(Protocol):
    """Speaks text into a WAV; ``name`` and ``identity`` key the narration cache."""

    name: str
    identity: str  # changes whenever the same text would sound different

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        """Return int16 mono samples and their sample rate for one sentence."""


# A narrator may also offer ``speak_timed(sentence) -> (samples, rate, spans)`` where spans are
# ``(start_sample, end_sample)`` per whitespace-separated word of ``sentence``, or None when
# its own alignment did not match the words.


def narrate(narrator: Narrator, text: str, out: Path, pause_ms: int) -> NarrationClip:
    """Speak ``text`` sentence by sentence into ``out``; caption cues come from the audio."""
    pieces: list[np.ndarray] = []
    captions: list[Caption] = []
    rate = 0
    cursor = 0
    sentences = split_sentences(text)
    words: list[WordTiming] = []
    timed = getattr(narrator, "speak_timed", None)
    for i, sentence in enumerate(sentences):
        spans = None
        if timed is not None:
            samples, rate, spans = timed(sentence)
        else:
            samples, rate = narrator.speak(sentence)
        start_ms = cursor * 1000 // rate
        tokens = sentence.split()
        if spans is None or len(spans) != len(tokens):
            # No timings from the narrator (or not one per written word): the words are
            # placed at the pauses in the sentence's own audio, as for Gemini's speech.
            spans = [(w.start_ms * rate // 1000, w.end_ms * rate // 1000)
                     for w in align_by_pauses(sentence, samples, rate)] or spread_by_length(tokens, *_voiced(samples))
        sentence_words = [WordTiming((cursor + a) * 1000 // rate, (cursor + b) * 1000 // rate, t)
                          for (a, b), t in zip(spans, tokens)]
        words += sentence_words
        cursor += len(samples)
        captions.extend(timed_cues(sentence, sentence_words, start_ms, cursor * 1000 // rate))
        pieces.append(samples)
        gap = pause_ms if i == len(sentences) - 1 else SENTENCE_GAP_MS
        silence = np.zeros(rate * gap // 1000, dtype=np.int16)
        pieces.append(silence)
        cursor += len(silence)
    audio = np.concatenate(pieces) if pieces else np.zeros(0, np.int16)
    write_wav(out, audio, rate or 22050)
    return NarrationClip(path=out, duration_ms=len(audio) * 1000 // (rate or 22050), captions=tuple(captions),
                         provider=narrator.name, words=tuple(words))


def _voiced(samples: np.ndarray) -> tuple[int, int]:
    """First and last sample above the silence level (the whole clip if none is)."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_LEVEL)
    return (int(loud[0]), int(loud[-1]) + 1) if len(loud) else (0, len(samples))


def timed_cues(sentence: str, words: list[WordTiming], start_ms: int, end_ms: int) -> list[Caption]:
    """The sentence's caption chunks, each timed by its own words and carrying them."""
    chunks = chunk_words(sentence)
    if sum(len(c.split()) for c in chunks) != len(words) or not words:
        return cues_for_sentence(sentence, start_ms, end_ms)
    cues, k = [], 0
    for chunk in chunks:
        mine = tuple(words[k:k + len(chunk.split())])
        k += len(mine)
        cues.append(Caption(mine[0].start_ms, mine[-1].end_ms, chunk, mine))
    return cues


def write_wav(path: Path, samples: np.ndarray, rate: int) -> None:
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(samples.astype("<i2").tobytes())
