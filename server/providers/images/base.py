"""The image provider contract: one scene in, one picture file out."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from server.providers.base import Meter, Provider
from server.providers.types import ImageRequest, ImageResult


class ImageProvider(Provider, Protocol):
    def draw(self, request: ImageRequest, out: Path, meter: Meter) -> ImageResult:
        """Write the scene's picture to ``out`` (PNG or JPEG, about the requested size)."""
