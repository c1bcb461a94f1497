"""Caption and title fonts per language, shipped in wheels (no system fonts, no tofu boxes).

Source Sans Pro (font-source-sans-pro) sets Latin, Greek and Cyrillic; Japanese, Chinese
and Korean use Noto Sans CJK JP Bold (noto-cjk-sans-jp-bold), whose region-specific OTF
carries the full CJK set, Hangul included. libass is given a folder holding only the
chosen face, so it can never fall back to a system font that lacks the glyphs.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

from server.digests import cached_file_sha256

CJK_LANGUAGES = frozenset({"ja", "zh", "ko"})
NO_SPACES = frozenset({"ja", "zh"})  # words are not separated by spaces when written


class FontMissing(RuntimeError):
    """The font package for a language is not installed."""

    def __init__(self, package: str, language: str):
        super().__init__(f"captions in '{language}' need the {package} package; reinstall Media Buddy")
        self.package = package
        self.language = language


@dataclass(frozen=True)
class CaptionFont:
    family: str          # the name libass looks up in the fonts folder
    path: Path
    sha256: str


def primary_language(language: str | None) -> str:
    return (language or "en").split("-")[0].lower()


@lru_cache(maxsize=8)
def caption_font(language: str | None) -> CaptionFont:
    """The bold face captions and titles use for ``language`` (BCP 47)."""
    if primary_language(language) in CJK_LANGUAGES:
        try:
            path = Path(str(files("noto_cjk_sans_jp_bold").joinpath("NotoSansCJKjp-Bold.otf")))
        except ModuleNotFoundError as error:
            raise FontMissing("noto-cjk-sans-jp-bold", primary_language(language)) from error
        family = "Noto Sans CJK JP"
    else:
        try:
            path = Path(str(files("font_source_sans_pro").joinpath("files", "SourceSansPro-Bold.ttf")))
        except ModuleNotFoundError as error:
            raise FontMissing("font-source-sans-pro", primary_language(language)) from error
        family = "Source Sans Pro"
    if not path.is_file():
        raise FontMissing(path.name, primary_language(language))
    return CaptionFont(family, path, cached_file_sha256(path))


def missing_glyphs(font: CaptionFont, text: str) -> set[str]:
    """Characters of ``text`` the font cannot draw (spaces and controls ignored)."""
    cmap = _cmap(str(font.path))
    return {ch for ch in text if not ch.isspace() and ord(ch) >= 32 and ord(ch) not in cmap}


@lru_cache(maxsize=4)
def _cmap(path: str) -> frozenset[int]:
    from fontTools.ttLib import TTFont

    with TTFont(path, lazy=True) as face:
        return frozenset(face.getBestCmap())


def fonts_folder(font: CaptionFont, cache_dir: Path) -> Path:
    """A folder holding only ``font``, for libass's ``fontsdir``."""
    folder = cache_dir / "fonts" / font.sha256[:16]
    target = folder / font.path.name
    if not target.exists():
        folder.mkdir(parents=True, exist_ok=True)
        temp = folder / f".{target.name}.tmp"
        shutil.copyfile(font.path, temp)
        temp.replace(target)
    return folder
