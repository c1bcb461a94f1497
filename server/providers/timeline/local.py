"""The offline timeline provider: the deterministic segmenter and concept extraction (name ``local``)."""

from __future__ import annotations

from typing import ClassVar

from config import Settings
from server.providers.base import Meter
from server.providers.timeline import segmenter
from server.providers.types import Timeline, TimelineRequest


class LocalTimeline:
    """Cuts the text into scenes of 15–25 words, each with one concept and a visual description."""

    kind: ClassVar[str] = "timeline"
    name: ClassVar[str] = "local"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fingerprint(self) -> str:
        return f"{segmenter.NAME}:{segmenter.VERSION}"   # a new planner must not reuse old plans from the cache

    def plan(self, request: TimelineRequest, meter: Meter) -> Timeline:
        return Timeline(scenes=tuple(segmenter.plan_scenes(request.text, theme=request.theme,
                                                            language=request.language)))


PROVIDER = LocalTimeline
