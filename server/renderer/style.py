"""The house style: which way each picture moves, how captions are cut and set.

Sizes are fractions of the frame's short side, so 9:16, 16:9, 1:1 and 4:5 (and the
half-size draft) all read the same on a phone: captions sit in the lower third, above the
bottom strip that phone apps cover, below the picture's centre, at most two lines.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from PIL import ImageFont

from server.renderer.model import CaptionLook, Motion, Phrase, Word

# Alternate directions so consecutive pictures never drift the same way.
_PATHS = ((0, -1), (1, 0), (0, 1), (-1, 0))
MAX_PHRASE_WORDS = 8
PHRASE_HOLD_MS = 400      # a phrase stays this long after its last word, unless the next one starts
PHRASE_GAP_MS = 650       # a pause this long starts a new phrase
_SENTENCE_ENDS = (".", "!", "?", "…", "。", "！", "？")


def motion_for(index: int, width: int, height: int) -> Motion:
    """A slow pan, one pixel per frame at 1080p (two at 4K), along the frame's long side
    (up and down in portrait, sideways in landscape), where a pan can travel furthest
    before it has to turn back."""
    speed = max(1, round(min(width, height) / 1080))
    if height > width:
        dx, dy = 0, (-1 if index % 2 == 0 else 1)
    elif width > height:
        dx, dy = (1 if index % 2 == 0 else -1), 0
    else:
        dx, dy = _PATHS[index % len(_PATHS)]
    return Motion(dx * speed, dy * speed)


def caption_look(width: int, height: int, family: str, text_rgb: tuple[int, int, int],
                 highlight_rgb: tuple[int, int, int], box_opacity: float) -> CaptionLook:
    unit = min(width, height)
    size = max(14, round(unit * 0.064))
    portrait = height > width
    # Bottom of the caption block: 27% up from the bottom in portrait (clear of the app's
    # buttons and description), 9% in landscape.
    margin_v = round(height * (0.27 if portrait else 0.09))
    return CaptionLook(font_family=family, font_size=size, text_rgb=text_rgb, highlight_rgb=highlight_rgb,
                       outline=max(2, round(size * 0.09)), margin_v=margin_v,
                       margin_h=round(width * (0.08 if portrait else 0.15)), box_opacity=box_opacity)


@lru_cache(maxsize=8)
def _face(path: str, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(path, size)


def phrases(words: list[Word], until_ms: int, look: CaptionLook, font_path: Path, width: int,
            joiner: str = " ") -> tuple[Phrase, ...]:
    """Cut one scene's words into phrases of at most two lines that fit the frame.

    A phrase ends at a sentence end, at a clause mark once it has a few words, at a pause,
    or when a third line would be needed. The last one is held no later than ``until_ms``
    (the scene's end), so a scene's captions depend on that scene alone.
    """
    face = _face(str(font_path), look.font_size)
    room = width - 2 * look.margin_h - 2 * look.outline

    def fits(line: list[Word]) -> bool:
        return face.getlength(joiner.join(w.text for w in line)) <= room

    out: list[Phrase] = []
    lines: list[list[Word]] = [[]]
    most = MAX_PHRASE_WORDS if joiner else 2 * MAX_PHRASE_WORDS   # CJK "words" are single characters

    def close() -> None:
        kept = [tuple(line) for line in lines if line]
        if kept:
            out.append(Phrase(tuple(kept), kept[0][0].start_ms, kept[-1][-1].end_ms))
        lines[:] = [[]]

    # Words left until the sentence ends: a phrase never stops to leave one or two behind.
    left = [0] * len(words)
    remaining = 0
    for i in range(len(words) - 1, -1, -1):
        remaining = 0 if words[i].text.endswith(_SENTENCE_ENDS) else remaining + 1
        left[i] = remaining
    for i, word in enumerate(words):
        count = sum(len(line) for line in lines)
        previous = lines[-1][-1] if lines[-1] else None
        if count and ((count >= most and left[i] > 1)
                      or (previous is not None and word.start_ms - previous.end_ms >= PHRASE_GAP_MS)):
            close()
        if lines[-1] and not fits([*lines[-1], word]):
            if len(lines) == 2:
                close()
            else:
                lines.append([])
        lines[-1].append(word)
        count = sum(len(line) for line in lines)
        if word.text.endswith(_SENTENCE_ENDS) or (
                count >= 4 and word.text.endswith((",", ";", ":", "、", "，"))):
            close()
    close()
    # Hold each phrase a little after its last word, never into the next one.
    held = []
    for i, phrase in enumerate(out):
        limit = out[i + 1].start_ms if i + 1 < len(out) else until_ms
        held.append(Phrase(phrase.lines, phrase.start_ms, max(phrase.end_ms, min(phrase.end_ms + PHRASE_HOLD_MS, limit))))
    return tuple(held)


def wrap_title(title: str, font_path: Path, size: int, width: int, max_lines: int = 4) -> str:
    """The title broken into lines that fit ``width`` (newline-separated)."""
    face = _face(str(font_path), size)
    spaced = " " in title.strip()
    units = title.split() if spaced else list(title.strip())
    joiner = " " if spaced else ""
    lines: list[str] = []
    current = ""
    for unit in units:
        candidate = f"{current}{joiner}{unit}" if current else unit
        if current and face.getlength(candidate) > width:
            lines.append(current)
            current = unit
        else:
            current = candidate
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        lines[-1] = lines[-1].rstrip(".,;: ") + "…"
    return "\n".join(lines)
