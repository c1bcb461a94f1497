"""Theme palettes and fonts shared by the scene images and the burned-in captions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from PIL import ImageFont


@dataclass(frozen=True)
class Palette:
    top: tuple[int, int, int]
    bottom: tuple[int, int, int]
    accent: tuple[int, int, int]
    text: tuple[int, int, int]
    muted: tuple[int, int, int]


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


PALETTES: dict[str, Palette] = {
    "midnight": Palette(_rgb("#0f172a"), _rgb("#23205a"), _rgb("#f59e0b"), _rgb("#f8fafc"), _rgb("#94a3b8")),
    "paper": Palette(_rgb("#fbf7ef"), _rgb("#eadfc8"), _rgb("#c2410c"), _rgb("#1f2937"), _rgb("#6b7280")),
    "forest": Palette(_rgb("#0b2b26"), _rgb("#1d4a3f"), _rgb("#a3e635"), _rgb("#ecfdf5"), _rgb("#9fbfb0")),
    "sunset": Palette(_rgb("#2a0f1f"), _rgb("#8a3413"), _rgb("#fbbf24"), _rgb("#fff7ed"), _rgb("#fdba74")),
    "ocean": Palette(_rgb("#042f2e"), _rgb("#0c4a6e"), _rgb("#5eead4"), _rgb("#f0fdfa"), _rgb("#99f6e4")),
}

_FONT_FILES = {"black": "SourceSansPro-Black.ttf", "bold": "SourceSansPro-Bold.ttf",
               "semibold": "SourceSansPro-Semibold.ttf", "regular": "SourceSansPro-Regular.ttf"}


def font_path(weight: str) -> Path:
    """Path of a Source Sans Pro face shipped by the font-source-sans-pro wheel."""
    return Path(str(files("font_source_sans_pro").joinpath("files", _FONT_FILES[weight])))


@lru_cache(maxsize=64)
def font(weight: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(font_path(weight)), size)


def wrap(text: str, face: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Greedy word wrap by rendered width; a single over-long word gets a line of its own."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}".strip()
        if not current or face.getlength(candidate) <= max_width:
            current = candidate
        else:
            lines.append(current)
            current = word
    if current:
        lines.append(current)
    return lines
