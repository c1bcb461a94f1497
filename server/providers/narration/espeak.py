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


class EspeakNarrator:
    """Narrator backed by the espeak-ng shared library."""

    name = NAME
    identity = "espeak-ng:en-us:1"

    def __init__(self) -> None:
        self._lib, self._rate = _initialise()

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        collected: list[np.ndarray] = []

        def on_audio(wav, count, _events):  # noqa: ANN001 - ctypes callback signature
            if count > 0 and wav:
                collected.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
            return 0

        callback = _CALLBACK(on_audio)
        data = sentence.encode("utf-8") + b"\0"
        with _lock:  # espeak-ng keeps global state
            self._lib.espeak_SetSynthCallback(callback)
            status = self._lib.espeak_Synth(data, len(data), 0, 0, 0, _CHARS_UTF8, None, None)
            self._lib.espeak_Synchronize()
        if status != 0:
            raise ProviderUnavailable(NAME, f"espeak_Synth failed with status {status}")
        samples = np.concatenate(collected) if collected else np.zeros(0, np.int16)
        return samples.astype(np.int16), self._rate


class EspeakProvider:
    """espeak-ng as a narration provider (name ``espeak``): always installed, robotic, English here."""

    kind: ClassVar[str] = "narration"
    name: ClassVar[str] = "espeak"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self._narrator = EspeakNarrator()

    def fingerprint(self) -> str:
        return self._narrator.identity

    def speaks(self, language: str) -> bool:
        return language.replace("_", "-").split("-")[0].lower() == "en"  # the voice is set to en-us at start

    def narrate(self, request: NarrationRequest, out: Path, meter: Meter) -> NarrationClip:
        return narrate(self._narrator, request.text, out, request.pause_ms)


PROVIDER = EspeakProvider
