"""Gemini speech: a scene's text read by one of Gemini's prebuilt voices (paid, optional).

The speech model answers raw 16-bit little-endian mono PCM at 24 kHz, which is wrapped in
a WAV header here. Gemini gives no word timings: they are found in the audio's pauses
(``pauses.align_by_pauses``), and the caption cues carry them. One request carries at most ``MAX_SPEECH_CHARS``
characters, far under the model's 8,192-input-token limit even for CJK text; longer text
is split at sentence ends and the pieces joined with a short gap.
"""

from __future__ import annotations

import wave
from pathlib import Path
from typing import ClassVar

import numpy as np

from config import GEMINI_VOICES, Settings
from server.errors import ProviderError
from server.providers.base import Meter
from server.providers.clients.gemini import MAX_SPEECH_CHARS, GeminiClient
from server.providers.narration.base import timed_cues
from server.providers.narration.captions import cues_for_sentence, split_sentences
from server.providers.narration.pauses import align_by_pauses
from server.providers.types import Caption, NarrationClip, NarrationRequest, WordTiming

# The languages Gemini's speech models are documented to read (24 locales; primary BCP 47 tags).
LANGUAGES = frozenset({"ar", "bn", "de", "en", "es", "fr", "hi", "id", "it", "ja", "ko", "mr", "nl", "pl", "pt",
                       "ro", "ru", "ta", "te", "th", "tr", "uk", "vi"})
PIECE_GAP_MS = 140


class GeminiNarrator:
    """``NarrationProvider`` for Gemini speech; declines (``NotConfigured``) without a key."""

    kind: ClassVar[str] = "narration"
    name: ClassVar[str] = "gemini"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = True

    def __init__(self, settings: Settings) -> None:
        GeminiClient(settings)  # raises NotConfigured now, not at the first scene
        self.settings = settings

    def fingerprint(self) -> str:
        return f"{self.settings.gemini_tts_model}:{self.settings.gemini_tts_voice}"

    def voice_for(self, request: NarrationRequest) -> str:
        """The request's voice when it names a Gemini voice (a job may name another narrator's), else ours."""
        asked = request.voice.strip().capitalize()
        return asked if asked in GEMINI_VOICES else self.settings.gemini_tts_voice

    def speaks(self, language: str) -> bool:
        return language.split("-")[0].lower() in LANGUAGES

    def narrate(self, request: NarrationRequest, out: Path, meter: Meter) -> NarrationClip:
        pieces = speech_pieces(request.text)
        if not pieces:
            raise ProviderError(self.name, "no text to speak", permanent=True)
        pcm, rate = bytearray(), 0
        with GeminiClient(self.settings) as gemini:
            for i, piece in enumerate(pieces):
                reply = gemini.synthesize_speech(piece, meter=meter, voice=self.voice_for(request))
                if rate and reply.rate != rate:
                    raise ProviderError(self.name, f"speech came back at {reply.rate} Hz after {rate} Hz")
                rate = reply.rate
                pcm += reply.pcm
                gap = request.pause_ms if i == len(pieces) - 1 else PIECE_GAP_MS
                pcm += bytes(2 * (rate * gap // 1000))
        write_wav(out, bytes(pcm), rate)
        duration_ms = len(pcm) // 2 * 1000 // rate
        spoken_ms = max(1, duration_ms - request.pause_ms)
        words = align_by_pauses(request.text, np.frombuffer(bytes(pcm), "<i2")[:rate * spoken_ms // 1000], rate)
        timed = timed_captions(request.text, words)
        return NarrationClip(path=out, duration_ms=duration_ms, captions=timed or spread_captions(request.text, spoken_ms),
                             provider=self.name, words=tuple(words) if timed else ())


def speech_pieces(text: str, limit: int = MAX_SPEECH_CHARS) -> list[str]:
    """``text`` in pieces of at most ``limit`` characters, cut at sentence ends (mid-sentence only
    when one sentence alone is longer)."""
    pieces: list[str] = []
    current = ""
    for sentence in split_sentences(text):
        while len(sentence) > limit:  # a sentence too long on its own: cut at the last space before the limit
            cut = sentence.rfind(" ", 0, limit)
            cut = cut if cut > 0 else limit
            if current:
                pieces.append(current)
                current = ""
            pieces.append(sentence[:cut].strip())
            sentence = sentence[cut:].strip()
        if current and len(current) + 1 + len(sentence) > limit:
            pieces.append(current)
            current = ""
        current = f"{current} {sentence}".strip()
    if current:
        pieces.append(current)
    return [p for p in pieces if p]


def timed_captions(text: str, words: list[WordTiming]) -> tuple[Caption, ...]:
    """The sentences' caption cues, each timed by its words; () when the words do not match the sentences."""
    sentences = split_sentences(text)
    if not words or sum(len(s.split()) for s in sentences) != len(words):
        return ()
    cues: list[Caption] = []
    k = 0
    for sentence in sentences:
        mine = words[k:k + len(sentence.split())]
        k += len(mine)
        cues.extend(timed_cues(sentence, mine, mine[0].start_ms, mine[-1].end_ms))
    return tuple(cues)


def spread_captions(text: str, spoken_ms: int) -> tuple[Caption, ...]:
    """Caption cues over ``spoken_ms``, each sentence's share in proportion to its length."""
    sentences = split_sentences(text)
    total = sum(len(s) for s in sentences) or 1
    cues: list[Caption] = []
    cursor = 0.0
    for sentence in sentences:
        span = spoken_ms * len(sentence) / total
        cues.extend(cues_for_sentence(sentence, int(round(cursor)), int(round(cursor + span))))
        cursor += span
    return tuple(cues)


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    """Mono 16-bit little-endian PCM into a WAV file, written beside and renamed into place."""
    temporary = path.with_name(f".{path.name}.part")
    with wave.open(str(temporary), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(rate)
        handle.writeframes(pcm)
    temporary.replace(path)


PROVIDER = GeminiNarrator
