"""The narration provider contract: one scene's text in, a WAV with word timings out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from server.providers.base import Meter, Provider
from server.providers.types import NarrationClip, NarrationRequest


class NarrationProvider(Provider, Protocol):
    def speaks(self, language: str) -> bool:
        """Whether this provider has a voice for ``language`` (BCP 47 primary tag, e.g. ``en``, ``ja``)."""

    def narrate(self, request: NarrationRequest, out: Path, meter: Meter) -> NarrationClip:
        """Speak the text into a mono 16-bit WAV at ``out``, with word timings where known."""
