"""Fallback narrator: espeak-ng (formant voice) from the ``espeakng-loader`` wheel, via ctypes.

No apt package is needed: the wheel ships ``libespeak-ng.so`` and its data folder. Used
when no piper voice is usable; the job then says so.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path
from typing import ClassVar

import numpy as np

from config import Settings
from server.errors import ProviderUnavailable
from server.providers.base import Meter
from server.providers.narration.base import narrate
from server.providers.types import NarrationClip, NarrationRequest

NAME = "espeak-ng"
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_CHARS_UTF8 = 1
_CALLBACK = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
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
        self.identity = f"espeak-ng:{self._voice.decode()}:1"

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        collected: list[np.ndarray] = []

        def on_audio(wav, count, _events):  # noqa: ANN001 - ctypes callback signature
            if count > 0 and wav:
                collected.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
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
        samples = np.concatenate(collected) if collected else np.zeros(0, np.int16)
        return samples.astype(np.int16), self._rate


class EspeakProvider:
    """espeak-ng as a narration provider (name ``espeak``): always installed, robotic, many languages."""

    kind: ClassVar[str] = "narration"
    name: ClassVar[str] = "espeak"
    version: ClassVar[str] = "2"
    paid: ClassVar[bool] = False
    last_resort: ClassVar[bool] = True  # robotic: a job it narrates for want of a natural voice is degraded

    def __init__(self, settings: Settings) -> None:
        EspeakNarrator()  # declines here if the library cannot load
        self._languages = espeak_languages()

    def fingerprint(self) -> str:
        return "espeak-ng:1"  # the voice (per language) is part of the request's key

    def speaks(self, language: str) -> bool:
        return language.replace("_", "-").split("-")[0].lower() in self._languages

    def narrate(self, request: NarrationRequest, out: Path, meter: Meter) -> NarrationClip:
        return narrate(EspeakNarrator(request.language), request.text, out, request.pause_ms)


PROVIDER = EspeakProvider
