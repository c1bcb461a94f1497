"""The offline voice provider: the spoken-form normaliser, no rewrite (name ``local``)."""

from __future__ import annotations

from typing import ClassVar

from config import Settings
from server.providers.base import Meter
from server.providers.types import VoiceRequest, VoiceResult
from server.providers.voice import normalizer


class LocalVoice:
    """Makes the text speakable (numbers, dates, units...) without changing its words' author."""

    kind: ClassVar[str] = "voice"
    name: ClassVar[str] = "local"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fingerprint(self) -> str:
        return normalizer.NAME

    def rewrite(self, request: VoiceRequest, meter: Meter) -> VoiceResult:
        return VoiceResult(text=normalizer.to_spoken_form(request.text), rewritten=False)


PROVIDER = LocalVoice
