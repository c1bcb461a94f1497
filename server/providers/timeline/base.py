"""The timeline provider contract: spoken text in, scenes of 15–25 words with one concept each out."""

from __future__ import annotations

from typing import Protocol

from server.providers.base import Meter, Provider
from server.providers.types import Timeline, TimelineRequest


class TimelineProvider(Provider, Protocol):
    def plan(self, request: TimelineRequest, meter: Meter) -> Timeline:
        """Cut the text into scenes; every scene's text, in order, is the whole text."""
