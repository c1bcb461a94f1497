"""The voice provider contract: text in, the text as it will be spoken out (maybe rewritten)."""

from __future__ import annotations

from typing import Protocol

from server.providers.base import Meter, Provider
from server.providers.types import VoiceRequest, VoiceResult


class VoiceProvider(Provider, Protocol):
    def rewrite(self, request: VoiceRequest, meter: Meter) -> VoiceResult:
        """Return speakable text; a local provider normalises it and says it did not rewrite."""
