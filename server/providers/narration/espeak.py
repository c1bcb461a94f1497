"""Fallback narrator: espeak-ng (formant voice) from the ``espeakng-loader`` wheel, via ctypes.

No apt package is needed: the wheel ships ``libespeak-ng.so`` and its data folder. Used
when no piper voice is usable; the job then says so.
"""

from __future__ import annotations

import ctypes
import re
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from config import Settings
from server.errors import ProviderUnavailable
from server.providers.base import Meter
from server.providers.narration.base import SILENCE_LEVEL, narrate
from server.providers.narration.captions import spread_by_length
from server.providers.types import NarrationClip, NarrationRequest

NAME = "espeak-ng"
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_EVENT_END_OF_LIST, _EVENT_WORD = 0, 1


class _Event(ctypes.Structure):
    """``espeak_EVENT`` from speak_lib.h: ``text_position`` counts characters from 1, ``sample``
    is the event's position in the synthesised samples."""

    _fields_ = [("type", ctypes.c_int), ("unique_identifier", ctypes.c_uint), ("text_position", ctypes.c_int),
                ("length", ctypes.c_int), ("audio_position", ctypes.c_int), ("sample", ctypes.c_int),
                ("user_data", ctypes.c_void_p), ("id", ctypes.c_char * 8)]


_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event))
_lock = threading.Lock()
_library: tuple[ctypes.CDLL, int] | None = None


def _initialise() -> tuple[ctypes.CDLL, int]:
    global _library
    if _library is not None:
        return _library
    try:
        import espeakng_loader
    except ImportError as error:
        raise ProviderUnavailable(NAME, "the espeakng-loader package is not installed") from error
    try:
        lib = ctypes.CDLL(espeakng_loader.get_library_path())
    except OSError as error:
        raise ProviderUnavailable(NAME, f"libespeak-ng could not be loaded: {error}") from error
    data_parent = str(Path(espeakng_loader.get_data_path()).parent).encode()
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, data_parent, 0)
    if rate <= 0:
        raise ProviderUnavailable(NAME, "espeak-ng failed to initialise its data folder")
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName(b"en-us")
    lib.espeak_Synth.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                                 ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p]
    _library = (lib, rate)
    return _library


# BCP 47 primary tags whose espeak-ng voice has another name.
_VOICE_NAMES = {"en": "en-us", "zh": "cmn"}
# espeak-ng has a Japanese voice, but it reads kana only: kanji come out spelt one by one
# (measured: 16 characters of ordinary text took 8.3 s of "letter" names). Never use it.
_UNFIT = frozenset({"ja"})


def espeak_languages() -> frozenset[str]:
    """Primary language tags espeak-ng can speak from the data in its wheel."""
    import espeakng_loader

    data = Path(espeakng_loader.get_data_path())
    codes = {p.name.removesuffix("_dict") for p in data.glob("*_dict")}
    codes |= {tag for tag, voice in _VOICE_NAMES.items() if voice.split("-")[0] in codes or tag in codes}
    return frozenset(codes - _UNFIT)


class EspeakNarrator:
    """Narrator backed by the espeak-ng shared library, in one language."""

    name = NAME

    def __init__(self, language: str = "en") -> None:
        self._lib, self._rate = _initialise()
        self.language = language.replace("_", "-").split("-")[0].lower()
        self._voice = _VOICE_NAMES.get(self.language, self.language).encode()
        self.identity = f"espeak-ng:{self._voice.decode()}:3"   # 3: words it says as one share their timing

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        samples, rate, _ = self.speak_timed(sentence)
        return samples, rate

    def speak_timed(self, sentence: str) -> tuple[np.ndarray, int, list[tuple[int, int]] | None]:
        """Samples, rate and each written word's (start, end) sample, from espeak-ng's own word
        events (``espeakEVENT_WORD``, delivered to the synth callback with their sample position)."""
        collected: list[np.ndarray] = []
        starts: list[tuple[int, int]] = []   # (character position from 1, sample)

        def on_audio(wav, count, events):  # noqa: ANN001 - ctypes callback signature
            if count > 0 and wav:
                collected.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            i = 0
            while events and events[i].type != _EVENT_END_OF_LIST:
                if events[i].type == _EVENT_WORD:
                    starts.append((events[i].text_position, events[i].sample))
                i += 1
            return 0

        callback = _CALLBACK(on_audio)
        data = sentence.encode("utf-8") + b"\0"
        with _lock:  # espeak-ng keeps global state: the voice is set for each sentence
            if self._lib.espeak_SetVoiceByName(self._voice) != 0:
                raise ProviderUnavailable(NAME, f"espeak-ng has no voice {self._voice.decode()!r}")
            self._lib.espeak_SetSynthCallback(callback)
            status = self._lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
        if status != 0:
            raise ProviderUnavailable(NAME, f"espeak_Synth failed with status {status}")
        samples = (np.concatenate(collected) if collected else np.zeros(0, np.int16)).astype(np.int16)
        return samples, self._rate, word_spans(sentence, starts, samples)


def word_spans(sentence: str, starts: list[tuple[int, int]], samples: np.ndarray) -> list[tuple[int, int]] | None:
    """Each whitespace-separated word's (start, end) sample from espeak's word events.

    A written word starts at its first event (espeak gives "25" two, "twenty" and "five").
    espeak says some pairs as one word with one event ("of the", "do not": two of three
    English test sentences had one): a word without an event is said with the word before
    it, and the two share that spoken word's span in proportion to their length. A spoken
    word ends where the next starts, less the silence before it (or at the last sample above
    the noise floor, for the sentence's last word). None when no word has an event, or
    the events go backwards (the caller then shares the voiced span by length).
    """
    tokens = [(m.start() + 1, m.end()) for m in re.finditer(r"\S+", sentence)]   # 1-based, inclusive end
    if not tokens or not starts:
        return None
    firsts: list[int | None] = []
    for first, last in tokens:
        inside = [sample for position, sample in starts if first <= position <= last]
        firsts.append(min(inside) if inside else None)
    known = [sample for sample in firsts if sample is not None]
    if not known or any(b < a for a, b in zip(known, known[1:])):
        return None
    groups: list[list[int]] = []   # token indices said as one word: one with an event, then those without
    for index, sample in enumerate(firsts):
        if sample is not None and groups and firsts[groups[0][0]] is None:
            groups[0].append(index)   # words before the first event go with the first word that has one
            firsts[groups[0][0]] = sample
        elif sample is not None or not groups:
            groups.append([index])
        else:
            groups[-1].append(index)
    loud = np.abs(samples.astype(np.int32)) > SILENCE_LEVEL
    group_starts = [firsts[group[0]] for group in groups]
    spans: list[tuple[int, int]] = []
    for group, start, limit in zip(groups, group_starts, [*group_starts[1:], len(samples)]):
        voiced = np.flatnonzero(loud[start:limit])
        end = start + int(voiced[-1]) + 1 if len(voiced) else max(start + 1, limit)
        said = [sentence[tokens[i][0] - 1:tokens[i][1]] for i in group]
        spans += [(a, max(a + 1, b)) for a, b in spread_by_length(said, start, end)]
    return spans


class EspeakProvider:
    """espeak-ng as a narration provider (name ``espeak``): always installed, robotic, many languages."""

    kind: ClassVar[str] = "narration"
    name: ClassVar[str] = "espeak"
    version: ClassVar[str] = "4"   # 4: closing quotes kept in captions
    paid: ClassVar[bool] = False
    last_resort: ClassVar[bool] = True  # robotic: a job it narrates for want of a natural voice is degraded

    def __init__(self, settings: Settings) -> None:
        EspeakNarrator()  # declines here if the library cannot load
        self._languages = espeak_languages()

    def fingerprint(self) -> str:
        return "espeak-ng:3"  # 3: words espeak says as one share its timing; the voice (per language) is in the request's key

    def speaks(self, language: str) -> bool:
        return language.replace("_", "-").split("-")[0].lower() in self._languages

    def narrate(self, request: NarrationRequest, out: Path, meter: Meter) -> NarrationClip:
        return narrate(EspeakNarrator(request.language), request.text, out, request.pause_ms)


PROVIDER = EspeakProvider
