"""Offline image provider: a designed scene card rendered locally with Pillow.

The scene's concept is the hero: set large in Source Sans Pro Black over a themed
gradient, with a geometric motif chosen from the concept's hash so neighbouring scenes
differ. The lower third stays quiet, because captions are burned in there.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from server.providers.types import ImageStyle, SceneSpec
from server.providers.images.theme import PALETTES, font, wrap

NAME = "pillow-card"
VERSION = "1"  # bump when the look changes, so cached images are redrawn


def render(scene: SceneSpec, style: ImageStyle, out: Path) -> None:
    """Draw ``scene`` as a PNG at ``out``."""
    palette = PALETTES[style.theme]
    w, h = style.width, style.height
    seed = int.from_bytes(hashlib.sha256(scene.concept.lower().encode()).digest()[:8], "big")
    canvas = _gradient(w, h, palette.top, palette.bottom).convert("RGBA")
    canvas.alpha_composite(_motif(w, h, palette.accent, seed))

    draw = ImageDraw.Draw(canvas)
    unit = min(w, h)
    margin = int(unit * 0.09)

    label = font("bold", max(12, int(unit * 0.03)))
    counter = f"{scene.index + 1:02d} / {style.scene_count:02d}"
    draw.text((w - margin, int(h * 0.07)), counter, font=label, fill=palette.accent, anchor="ra")

    masthead = font("semibold", max(14, int(unit * 0.034)))
    title_width = w - 2 * margin - int(label.getlength(counter)) - margin // 2
    title_lines = wrap(style.title.upper(), masthead, title_width)[:2]
    y = int(h * 0.07)
    for line in title_lines:
        draw.text((margin, y), line, font=masthead, fill=palette.muted)
        y += int(masthead.size * 1.25)

    _draw_concept(draw, scene.concept, w, h, margin, palette)
    canvas.convert("RGB").save(out, format="PNG", optimize=False, compress_level=3)


def _draw_concept(draw: ImageDraw.ImageDraw, concept: str, w: int, h: int, margin: int, palette) -> None:  # noqa: ANN001
    """Set the concept as large as fits in two lines, centred in the upper two-thirds."""
    text = concept[:1].upper() + concept[1:]
    max_width = w - 2 * margin
    size = int(min(w, h) * 0.2)
    while size > 24:
        face = font("black", size)
        lines = wrap(text, face, max_width)
        if len(lines) <= 2 and all(face.getlength(line) <= max_width for line in lines):
            break
        size = int(size * 0.9)
    face = font("black", size)
    lines = wrap(text, face, max_width)[:3]
    line_height = int(size * 1.02)
    block = line_height * len(lines)
    top = int(h * 0.42) - block // 2
    bar_w, bar_h = int(min(w, h) * 0.16), max(6, int(min(w, h) * 0.014))
    draw.rounded_rectangle((margin, top - bar_h * 4, margin + bar_w, top - bar_h * 3), radius=bar_h // 2,
                           fill=palette.accent)
    for i, line in enumerate(lines):
        draw.text((margin, top + i * line_height), line, font=face, fill=palette.text)


def _gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    colours = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    # A soft light from the upper right keeps large flat areas from looking dead.
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    glow = np.exp(-(((xx - w * 0.85) / (w * 0.7)) ** 2 + ((yy - h * 0.15) / (h * 0.45)) ** 2))[..., None]
    colours = colours + glow * 28.0
    # Mode RGB follows from the array's shape and dtype (Pillow 11.3 deprecates passing it).
    return Image.fromarray(np.clip(np.broadcast_to(colours, (h, w, 3)), 0, 255).astype(np.uint8))


def _motif(w: int, h: int, accent: tuple[int, int, int], seed: int) -> Image.Image:
    """One of four geometric motifs, placed by the seed, faint enough to sit behind type."""
    layer = Image.new("RGBA", (w, h), (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    unit = min(w, h)
    kind = seed % 4
    cx = int(w * (0.55 + ((seed >> 8) % 30) / 100))
    cy = int(h * (0.25 + ((seed >> 16) % 20) / 100))
    colour = (*accent, 70)
    if kind == 0:  # concentric rings
        for i in range(6):
            r = int(unit * (0.12 + 0.09 * i))
            draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(*accent, 80 - i * 11), width=max(2, unit // 180))
    elif kind == 1:  # dot grid
        step = unit // 14
        for gx in range(-4, 5):
            for gy in range(-4, 5):
                if gx * gx + gy * gy <= 18:
                    r = max(3, unit // 110)
                    x, y = cx + gx * step, cy + gy * step
                    draw.ellipse((x - r, y - r, x + r, y + r), fill=(*accent, 90))
    elif kind == 2:  # a large disc with an orbit
        r = int(unit * 0.3)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(*accent, 38))
        r2 = int(r * 1.45)
        draw.ellipse((cx - r2, cy - r2, cx + r2, cy + r2), outline=colour, width=max(2, unit // 200))
    else:  # diagonal bands
        for i in range(5):
            offset = int(unit * 0.11 * i)
            angle = math.radians(-28)
            dx, dy = math.cos(angle) * w * 1.5, math.sin(angle) * w * 1.5
            draw.line((cx - dx, cy - dy + offset, cx + dx, cy + dy + offset), fill=(*accent, 60 - i * 9),
                      width=max(4, unit // 60))
    return layer.filter(ImageFilter.GaussianBlur(radius=max(1, unit // 400)))
