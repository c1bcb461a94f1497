"""Piper neural TTS as a narration provider (name ``piper``).

The voice is ``MEDIABUDDY_PIPER_VOICE`` or the bundled, digest-checked joe voice (see
``piper_voice``); it speaks the language its ``.onnx.json`` names.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from config import Settings
from server.errors import ProviderUnavailable
from server.providers.base import Meter
from server.providers.narration.base import narrate
from server.providers.narration.piper_voice import NAME, PiperNarrator, bundled_voice
from server.providers.types import NarrationClip, NarrationRequest


def voice_language(model: Path) -> str:
    """The primary language tag of a piper voice (``en`` for ``en_US``), from its config."""
    try:
        config = json.loads(Path(f"{model}.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ProviderUnavailable(NAME, f"the voice config {model.name}.json cannot be read: {error}") from error
    code = (config.get("language") or {}).get("code") or (config.get("espeak") or {}).get("voice") or "en"
    return str(code).replace("_", "-").split("-")[0].lower()


class PiperProvider:
    """Speaks each sentence with piper; caption cues and scene timing come from the audio."""

    kind: ClassVar[str] = "narration"
    name: ClassVar[str] = "piper"
    version: ClassVar[str] = "2"   # 2: closing quotes kept in captions
    paid: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        model = settings.piper_voice or bundled_voice()
        self._narrator = PiperNarrator(model)
        self._language = voice_language(model)

    def fingerprint(self) -> str:
        return self._narrator.identity

    def speaks(self, language: str) -> bool:
        return language.replace("_", "-").split("-")[0].lower() == self._language

    def narrate(self, request: NarrationRequest, out: Path, meter: Meter) -> NarrationClip:
        return narrate(self._narrator, request.text, out, request.pause_ms)


PROVIDER = PiperProvider
