"""The offline image provider: a scene card drawn with Pillow (name ``local``)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from config import Settings
from server.providers.base import Meter
from server.providers.images import icons, pillow_card
from server.providers.types import ImageRequest, ImageResult


class LocalImages:
    """Draws each scene's picture locally; free, so never metered."""

    kind: ClassVar[str] = "images"
    name: ClassVar[str] = "local"
    version: ClassVar[str] = "1"
    paid: ClassVar[bool] = False
    file_suffix: ClassVar[str] = ".png"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def fingerprint(self) -> str:
        return f"{pillow_card.NAME}:{pillow_card.VERSION}:icons{icons.VERSION}"   # the card draws the icon chosen here

    def cache_parts(self, request: ImageRequest) -> tuple[object, ...]:
        # The card prints "03 / 12", so unlike a remote picture it depends on the scene's position.
        return (request.scene.index, request.style.scene_count)

    def draw(self, request: ImageRequest, out: Path, meter: Meter) -> ImageResult:
        pillow_card.render(request.scene, request.style, out)
        return ImageResult(path=out)


PROVIDER = LocalImages
