"""Readability audit: each caption's contrast against the frames it is burned into (WCAG 2 ratio).

For every phrase, the frames at its start, middle and end are drawn for the audit exactly
where the video puts them: the cut (or both cuts, inside a crossfade) that is on screen
at that frame, scaled as the segment scales it and cropped where the pan's own crop
expression puts it on that frame number (``graph.pan_path``), blurred and dimmed as the
title card is. Only the area the phrase's lines cover (its measured line widths, two
lines at most, the outline around them) is read, never the whole picture. Both caption
colours (the text and the highlighted word) are held to 4.5:1 against the 90th
percentile of the luminance there, since a bright patch behind light letters is what
makes them hard to read.

A phrase that falls short gets a dark backing box, the lightest that reaches 4.5:1 on
every sampled frame, and only that phrase: a box is a fix, not the look. The figures
(each phrase's plain and final minimum ratio, its box) go into the manifest.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageFont

from server.pipeline.cache import ResultCache, digest
from server.memory import trim_heap
from server.pipeline.cancel import carry
from server.renderer.graph import pan_path
from server.renderer.model import CaptionLook, Cut, Encoding, Phrase, TitleCard

WCAG_MIN = 4.5
BOX_RGB = (8, 10, 20)
BOX_OPACITIES = (0.0, 0.55, 0.7, 0.85, 0.95)
LINE_HEIGHT = 1.25      # libass's line advance for Source Sans / Noto CJK, in font sizes
KEPT_PICTURES = 3
AUDIT_VERSION = "1"   # bump when the audit's method changes: cached figures are then not reused
AUDIT_SCALE = 2         # frames are drawn at half size for the audit: percentiles do not need every pixel


@dataclass(frozen=True)
class CueContrast:
    index: int
    start_ms: int
    plain_ratio: float       # the worst of the sampled frames, caption colours on the bare frame
    final_ratio: float       # the same with the chosen backing
    box_opacity: float


@dataclass(frozen=True)
class Audit:
    cues: tuple[CueContrast, ...]
    frames_sampled: int
    title_ratio: float | None = None   # the title card's white title on the middle frame of the card

    @property
    def min_ratio(self) -> float:
        return min((c.final_ratio for c in self.cues), default=21.0)

    @property
    def boxed(self) -> int:
        return sum(1 for c in self.cues if c.box_opacity > 0)

    def as_dict(self) -> dict[str, object]:
        return {"standard": f"WCAG 2 contrast >= {WCAG_MIN}",
                "method": "caption area of the frames at each phrase's start, middle and end",
                "frames_sampled": self.frames_sampled, "min_ratio": round(self.min_ratio, 2),
                "min_plain_ratio": round(min((c.plain_ratio for c in self.cues), default=21.0), 2),
                "cues_boxed": self.boxed,
                "title_ratio": round(self.title_ratio, 2) if self.title_ratio is not None else None,
                "cues": [{"index": c.index, "start_ms": c.start_ms, "plain_ratio": round(c.plain_ratio, 2),
                          "final_ratio": round(c.final_ratio, 2), "box_opacity": c.box_opacity}
                         for c in self.cues]}


def _linear(srgb: np.ndarray) -> np.ndarray:
    c = srgb / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def luminance(rgb: np.ndarray) -> np.ndarray:
    lin = _linear(rgb.astype(np.float64))
    return lin[..., 0] * 0.2126 + lin[..., 1] * 0.7152 + lin[..., 2] * 0.0722


def ratio(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


@dataclass(frozen=True)
class Placed:
    """A cut where the video shows it: its first frame in video time, and the crossfade
    (frames) that enters it from the cut before."""

    cut: Cut
    start: int
    fade: int


class FrameDrawer:
    """Frames of the video without captions, drawn for the audit at the frames asked for."""

    def __init__(self, placed: list[Placed], encoding: Encoding):
        self.placed = placed
        self.encoding = encoding
        # Phrases come in time order and a frame shows at most two cuts: a few scaled pictures
        # are kept, never the whole video's (memory must not grow with its length).
        self._scaled: OrderedDict[tuple[str, int, float], tuple[Image.Image, tuple[int, int]]] = OrderedDict()

    def _picture(self, cut: Cut) -> tuple[Image.Image, tuple[int, int]]:
        key = (cut.still.sha256, cut.still.blur, cut.still.dim)
        if key not in self._scaled:
            with Image.open(cut.still.path) as source:
                size = source.size
                path = pan_path(cut, self.encoding, size)
                picture = source.convert("RGB").resize(
                    (path.scaled_width // AUDIT_SCALE, path.scaled_height // AUDIT_SCALE), Image.Resampling.BOX)
            if cut.still.blur:
                picture = picture.filter(ImageFilter.GaussianBlur(cut.still.blur / AUDIT_SCALE))
            if cut.still.dim:
                picture = Image.fromarray((np.asarray(picture) * (1 - cut.still.dim)).astype(np.uint8))
            self._scaled[key] = (picture, size)
            while len(self._scaled) > KEPT_PICTURES:
                self._scaled.popitem(last=False)
        self._scaled.move_to_end(key)
        return self._scaled[key]

    def _cut_frame(self, cut: Cut, n: int) -> np.ndarray:
        picture, size = self._picture(cut)
        path = pan_path(cut, self.encoding, size)
        x, y = _at(path.x, n), _at(path.y, n)
        w, h = self.encoding.width // AUDIT_SCALE, self.encoding.height // AUDIT_SCALE
        return np.asarray(picture.crop((x // AUDIT_SCALE, y // AUDIT_SCALE, x // AUDIT_SCALE + w,
                                        y // AUDIT_SCALE + h)))

    def placed_at(self, frame: int) -> int:
        """The index of the cut on screen at video frame ``frame`` (inside a crossfade: the one entered)."""
        for i, placed in enumerate(self.placed):
            if placed.start <= frame < placed.start + placed.cut.frames or i + 1 == len(self.placed):
                return i
        raise ValueError(f"frame {frame} is outside the video")

    def frames(self, frame: int) -> list[np.ndarray]:
        """What is on screen at video frame ``frame``: one picture, or both sides of a crossfade
        (the audit takes the worse, so it holds at every step of the fade)."""
        i = self.placed_at(frame)
        placed = self.placed[i]
        n = min(frame - placed.start, placed.cut.frames - 1)
        shown = [self._cut_frame(placed.cut, n)]
        if i and n < placed.fade:
            before = self.placed[i - 1]
            shown.append(self._cut_frame(before.cut, before.cut.frames + n))
        return shown


def _at(expression: str, n: int) -> int:
    """A crop position from ``graph.pan_path``'s expression (digits, n, + - *, abs, mod: our own text)."""
    allowed = set("0123456789n+-*(), ") | set("absmod")
    if not set(expression) <= allowed:
        raise ValueError(f"unexpected pan expression {expression!r}")
    return int(eval(expression, {"__builtins__": {}}, {"n": n, "abs": abs,  # noqa: S307 - checked above
                                                        "mod": lambda a, b: a % b}))


def caption_area(phrase: Phrase, look: CaptionLook, face: ImageFont.FreeTypeFont, width: int, height: int,
                 joiner: str) -> tuple[int, int, int, int]:
    """The box (pixels: left, top, right, bottom) the phrase's lines and outline cover."""
    widest = max(face.getlength(joiner.join(w.text for w in line)) for line in phrase.lines)
    pad = look.outline * 2
    bottom = height - look.margin_v + pad
    top = bottom - round(len(phrase.lines) * LINE_HEIGHT * look.font_size) - 2 * pad
    left = max(0, round((width - widest) / 2) - pad)
    return left, max(0, top), min(width, round((width + widest) / 2) + pad), min(height, bottom)


def audit(phrases: tuple[Phrase, ...], placed: list[Placed], encoding: Encoding, look: CaptionLook,
          font_path: Path, joiner: str, colours: tuple[tuple[int, int, int], ...],
          title: TitleCard | None = None, cache: ResultCache | None = None,
          font_key: str = "") -> tuple[Audit, tuple[float, ...]]:
    """Each phrase's contrast on its sampled frames, the box opacity each phrase needs, and
    the title's contrast on the title card's middle frame. With ``cache`` (and the font's
    digest in ``font_key``), each cut's figures are kept and reused."""
    face = ImageFont.truetype(str(font_path), look.font_size)
    drawer = FrameDrawer(placed, encoding)
    title_ratio = None
    title_job = None   # (key, measure) when the title's figure is not cached
    if title is not None and title.frames:
        def title_contrast() -> float:
            title_face = ImageFont.truetype(str(font_path), title.font_size)
            lines = title.title.split("\n")
            widest = max(title_face.getlength(line) for line in lines)
            tall = len(lines) * LINE_HEIGHT * title.font_size
            w, h = encoding.width, encoding.height
            left, top = round((w - widest) / 2) // AUDIT_SCALE, round((h - tall) / 2) // AUDIT_SCALE
            right, bottom = round((w + widest) / 2) // AUDIT_SCALE, round((h + tall) / 2) // AUDIT_SCALE
            white = float(luminance(np.array((255, 255, 255), dtype=np.float64)))
            return min(_ratios_behind(shown[top:bottom, left:right], (white,), 0.0)[0]
                       for shown in drawer.frames(title.frames // 2))

        # Cached like a cut's figures: by the card and what lies behind its middle frame.
        at = drawer.placed_at(title.frames // 2)
        behind = placed[at]
        key = digest("readability-title", AUDIT_VERSION, title, behind.cut, behind.fade,
                     placed[at - 1].cut if at else None, title.frames // 2 - behind.start, encoding, font_key)
        title_ratio = cache.load_json("readability", key) if cache is not None else None
        if title_ratio is None:
            title_job = (key, title_contrast)
    text_l = [float(luminance(np.array(c, dtype=np.float64))) for c in colours]
    fps = encoding.fps
    # Phrases are measured per cut, and a cut's figures are cached by what the viewer sees
    # there (its picture and motion, the crossfade into it, its phrases' words and frames
    # counted from the cut's start), never by its place: an edit re-audits its own scene.
    groups: dict[int, list[tuple[int, tuple[int, ...]]]] = {}
    for index, phrase in enumerate(phrases):
        first, last = phrase.start_ms * fps // 1000, max(phrase.start_ms, phrase.end_ms - 1) * fps // 1000
        at = drawer.placed_at(first)
        start = placed[at].start
        groups.setdefault(at, []).append((index, tuple(f - start for f in sorted({first, (first + last) // 2, last}))))

    def produce(here: Placed, members: list[tuple[int, tuple[int, ...]]], drawer: FrameDrawer) -> list[list[float]]:
        out = []
        for index, frames in members:
            left, top, right, bottom = (v // AUDIT_SCALE for v in caption_area(
                phrases[index], look, face, encoding.width, encoding.height, joiner))
            areas = [shown[top:bottom, left:right] for f in frames for shown in drawer.frames(here.start + f)]

            worst: dict[float, float] = {}   # box opacity -> the phrase's lowest ratio with it

            def at_least(opacity: float) -> bool:
                if opacity not in worst:
                    worst[opacity] = min(min(_ratios_behind(area, text_l, opacity)) for area in areas)
                return worst[opacity] >= WCAG_MIN

            chosen = next((o for o in BOX_OPACITIES if at_least(o)), BOX_OPACITIES[-1])
            out.append([worst[0.0], worst[chosen], chosen])
        return out

    keys = {}
    for at, members in groups.items():
        here = placed[at]
        before = placed[at - 1].cut if at and here.fade else None
        keys[at] = digest("readability", AUDIT_VERSION, here.cut, here.fade, before, encoding, look, font_key, joiner,
                          colours, [([[w.text for w in line] for line in phrases[index].lines], frames)
                                    for index, frames in members])
    values = {at: cache.load_json("readability", keys[at]) if cache is not None else None for at in groups}
    missing = [at for at in groups if values[at] is None]
    # The missing cuts are measured on every core: decoding the pictures (most of the
    # audit's time, and Pillow lets go of the GIL for it) happens before any ffmpeg starts.
    # Each thread takes a run of neighbouring cuts with a drawer of its own, so a picture
    # shown by two of them (a crossfade) is mostly decoded once.
    runs = max(1, min(os.cpu_count() or 1, len(missing)))

    def measure(run: list[int]) -> None:
        own = FrameDrawer(placed, encoding)
        for at in run:
            values[at] = produce(placed[at], groups[at], own)
            if cache is not None:
                cache.store_json("readability", keys[at], values[at])

    if missing or title_job:
        with ThreadPoolExecutor(max_workers=runs) as pool:
            title_figure = pool.submit(carry(title_job[1])) if title_job else None
            list(pool.map(carry(measure), [missing[len(missing) * k // runs:len(missing) * (k + 1) // runs]
                                           for k in range(runs)]))
            if title_job:
                title_ratio = title_figure.result()
                if cache is not None:
                    cache.store_json("readability", title_job[0], title_ratio)
        # The threads decoded pictures in malloc arenas of their own, which keep the freed
        # memory (30-50 MB) through the render that follows, beside its ffmpeg processes.
        trim_heap()
    measured: dict[int, tuple[float, float, float]] = {}
    for at, members in groups.items():
        for (index, _frames), (plain, final, chosen) in zip(members, values[at], strict=True):
            measured[index] = (plain, final, chosen)
    cues = [CueContrast(i, phrase.start_ms, *measured[i]) for i, phrase in enumerate(phrases)]
    sampled = sum(len(frames) for members in groups.values() for _i, frames in members)
    return Audit(tuple(cues), sampled, title_ratio), tuple(c.box_opacity for c in cues)


_LINEAR = _linear(np.arange(256, dtype=np.float64))   # sRGB byte -> linear light
# Each channel's share of the luminance by byte value: a pixel's luminance is three lookups
# summed, in the order (and so to the bit) of ``luminance``.
_SHARES = [_LINEAR * 0.2126, _LINEAR * 0.7152, _LINEAR * 0.0722]


def _ratios_behind(pixels: np.ndarray, text_ls: list[float] | tuple[float, ...], opacity: float) -> list[float]:
    """Contrast of each caption colour (by its luminance) against the area behind a box of
    ``opacity`` (libass blends in sRGB, and the frame is 8-bit, so the blend is rounded and
    linearised by table)."""
    blended = pixels
    if opacity:
        blended = np.rint(pixels.astype(np.float32) * (1 - opacity) + np.array(BOX_RGB, np.float32) * opacity
                          ).astype(np.uint8)
    lum = _SHARES[0][blended[..., 0]] + _SHARES[1][blended[..., 1]] + _SHARES[2][blended[..., 2]]
    # The worse side: bright patches hurt light text, dark patches hurt dark text.
    dark, bright = np.percentile(lum, [10, 90])
    return [ratio(text_l, float(bright if text_l > 0.5 else dark)) for text_l in text_ls]
