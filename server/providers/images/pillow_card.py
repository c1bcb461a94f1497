"""Offline image provider: the scene's concept shown as a picture, rendered locally with Pillow.

The picture is an icon matched to the concept by meaning (``icons.match``: Font Awesome
Free, CC BY 4.0), set in a badge at the centre of a themed gradient; the concept's name sits
small beneath it, so the picture carries the idea and the words support it. A repeated
concept varies: the badge style and, where another icon fits almost as well, the icon
rotate with the scene. The top carries the article's title and the scene counter in small
type; the lower third stays quiet, because captions are burned in there.
"""

from __future__ import annotations

import hashlib
import io
import math
import re
from functools import lru_cache
from importlib.resources import files
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from server.providers.images import icons
from server.renderer.style import pan_hidden_margins
from server.providers.images.theme import PALETTES, Palette, font, wrap
from server.providers.types import ImageStyle, SceneSpec

NAME = "pillow-card"
VERSION = "6"  # 6: own words keep a technology mark, modifiers of a compound are not borrowed; 5: a repeated concept keeps its icon unless another is as good; no picture from a name; 4: masthead and counter inside the pan-safe area; 3: weather, lighthouse and logbook tags; 2: an icon picture instead of the concept set as a word; bump when the look changes

FALLBACK_ICON = icons.FALLBACK      # an idea, for a concept no icon pictures
_CAPTION_ZONE = 0.64                # below this fraction of the height, captions are burned in


def render(scene: SceneSpec, style: ImageStyle, out: Path) -> None:
    """Draw ``scene`` as a PNG at ``out``."""
    palette = PALETTES[style.theme]
    w, h = style.width, style.height
    seed = int.from_bytes(hashlib.sha256(scene.concept.lower().encode()).digest()[:8], "big")
    canvas = _gradient(w, h, palette.top, palette.bottom).convert("RGBA")
    motif = _motif(w, h, palette.accent, seed)
    motif.putalpha(_fade_above_captions(motif.getchannel("A"), h))
    canvas.alpha_composite(motif)

    draw = ImageDraw.Draw(canvas)
    unit = min(w, h)
    # The video pans across the card and some frames leave its edges out: the masthead and
    # the counter sit inside what every frame of the longest pan shows, with room to spare.
    hidden_x, hidden_y = pan_hidden_margins(w, h)
    margin = max(int(unit * 0.09), math.ceil(hidden_x * w + unit * 0.03))
    top = max(int(h * 0.07), math.ceil(hidden_y * h + unit * 0.03))

    label = font("bold", max(12, int(unit * 0.03)))
    counter = f"{scene.index + 1:02d} / {style.scene_count:02d}"
    draw.text((w - margin, top), counter, font=label, fill=palette.accent, anchor="ra")

    masthead = face_for(style.title, "semibold", max(14, int(unit * 0.034)))
    title_width = w - 2 * margin - int(label.getlength(counter)) - margin // 2
    title_lines = wrap_any(style.title.upper(), masthead, title_width)[:2]
    y = top
    for line in title_lines:
        draw.text((margin, y), line, font=masthead, fill=palette.muted)
        y += int(masthead.size * 1.25)

    _draw_picture(canvas, scene, palette, top=max(y, top) + int(unit * 0.05))
    canvas.convert("RGB").save(out, format="PNG", optimize=False, compress_level=3)


# Candidates this close to the best are equally good pictures (one word's tags differ by 0.3):
# a repeated concept may rotate among them. A weaker second would change the meaning ("GitHub
# Flow" drawn as water), so beyond that the composition varies (the badge), never the icon.
_TIE = 0.35


def choose_icon(scene: SceneSpec) -> str:
    """The icon for the scene: the best match for its concept, rotating only among equally good ones.

    A concept with no icon is pictured by its own words' lemmas ("stacked" → a stack), then by a
    common noun the scene says; never by a word of a person's name ("Forest Anderson" is not a
    tree). When nothing fits, a neutral light bulb (an idea) rather than a misleading picture.
    """
    words = scene.concept.replace("-", " ").split()
    found = [m for m in icons.match([w.lower() for w in words], proper=scene.concept[:1].isupper())
             if m[0] >= icons.GOOD_MATCH]
    if not found:
        found = _fallback(scene)
    if not found:
        return FALLBACK_ICON
    best = found[0][0]
    equal = [key for score, key in found[:3] if score >= best - _TIE]
    return equal[scene.index % len(equal)]


def _fallback(scene: SceneSpec) -> list[tuple[float, str]]:
    """Icons for a concept no icon matches: its own words' lemmas, else the scene's common nouns."""
    from server.providers.timeline import nlp   # the tagger loads only when a concept needs help

    tokens = nlp.analyse(scene.text)
    concept = scene.concept.lower()
    # spaCy marks the concept's span in the scene: a person's name is no picture of anything.
    person = any(t.entity == "PERSON" and t.text.lower() in concept.split() for t in tokens)
    if not person:
        # The concept's own word may be a well-known technology written in lower case ("github"):
        # its mark; any other word is no brand ("stacked" is not Stack Exchange).
        own = [m for t in nlp.analyse(concept) if t.pos in ("NOUN", "PROPN", "VERB", "ADJ")
               for m in icons.match([t.lemma.lower()], proper=icons.well_known_brand(t.text))[:1]
               if m[0] >= icons.GOOD_MATCH]
        if own:
            return sorted(own, key=lambda m: -m[0])[:1]
    best: tuple[float, str] = (0.0, "")
    for token in tokens:
        # Common nouns only: a proper noun or a name ("Windows" in a list of systems, "Forest
        # Anderson") is a brand or a person, not the scene's idea.
        # And a head noun only: "error" in "error handling" is not what the scene talks about.
        if token.pos == "NOUN" and not token.entity and token.dep != "compound":
            found = icons.match([token.lemma.lower()])
            if found and found[0][0] > best[0]:
                best = found[0]
    return [best] if best[1] and best[0] >= icons.GOOD_MATCH else []


def _draw_picture(canvas: Image.Image, scene: SceneSpec, palette: Palette, *, top: int) -> None:
    """A badge holding the concept's icon, centred, with the concept named small beneath it."""
    w, h = canvas.size
    unit = min(w, h)
    bottom = int(h * _CAPTION_ZONE)
    name_face = face_for(scene.concept, "semibold", max(14, int(unit * 0.05)))
    name_lines = wrap_any(_display(scene.concept), name_face, int(w * 0.8))[:2]
    name_height = int(name_face.size * 1.2) * len(name_lines)
    gap = int(unit * 0.04)
    radius = int(min(unit * 0.28, (bottom - top - name_height - gap) / 2))
    block = 2 * radius + gap + name_height
    cy = top + (bottom - top - block) // 2 + radius
    cx = w // 2
    variant = (scene.index + int.from_bytes(hashlib.sha256(scene.concept.lower().encode()).digest()[:1], "big")) % 3

    badge = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(badge)
    if variant == 0:    # a solid accent disc, the icon cut out in the background colour
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(*palette.accent, 245))
        ink = palette.top
    elif variant == 1:  # a glowing ring, the icon in the accent colour
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), fill=(*palette.accent, 40))
        draw.ellipse((cx - radius, cy - radius, cx + radius, cy + radius), outline=(*palette.accent, 230),
                     width=max(3, unit // 90))
        ink = palette.accent
    else:               # a rounded tile, the icon in the text colour
        r = int(radius * 0.92)
        draw.rounded_rectangle((cx - r, cy - r, cx + r, cy + r), radius=r // 3, fill=(*palette.text, 34),
                               outline=(*palette.text, 150), width=max(2, unit // 160))
        ink = palette.text
    # The glow is blurred in a box around the badge only: a full-frame blur costs most of a second.
    reach = int(radius * 1.25)
    blur = max(2, radius // 4)
    box = reach + 3 * blur
    glow = Image.new("RGBA", (2 * box, 2 * box), (*palette.accent, 0))
    ImageDraw.Draw(glow).ellipse((box - reach, box - reach, box + reach, box + reach), fill=(*palette.accent, 60))
    canvas.alpha_composite(glow.filter(ImageFilter.GaussianBlur(radius=blur)), (cx - box, cy - box))
    canvas.alpha_composite(badge)

    key = choose_icon(scene)
    size = int(radius * 1.05)
    picture = Image.open(io.BytesIO(icons.rasterise(key, size, "#%02x%02x%02x" % ink))).convert("RGBA")
    canvas.alpha_composite(picture, (cx - picture.width // 2, cy - picture.height // 2))

    draw = ImageDraw.Draw(canvas)
    y = cy + radius + gap
    for line in name_lines:
        draw.text((cx, y), line, font=name_face, fill=palette.text, anchor="ma")
        y += int(name_face.size * 1.2)


_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uff00-\uffef]")


def face_for(text: str, weight: str, size: int) -> ImageFont.FreeTypeFont:
    """Source Sans Pro, or Noto Sans CJK (the captions' wheel) for Japanese, Chinese or Korean text,
    so a Japanese title or concept is never drawn as empty boxes."""
    if _CJK.search(text):
        cjk = _cjk_font(size)
        if cjk is not None:
            return cjk
    return font(weight, size)


@lru_cache(maxsize=16)
def _cjk_font(size: int) -> ImageFont.FreeTypeFont | None:
    try:
        path = files("noto_cjk_sans_jp_bold").joinpath("NotoSansCJKjp-Bold.otf")
    except ModuleNotFoundError:
        return None
    return ImageFont.truetype(str(path), size) if path.is_file() else None


def wrap_any(text: str, face: ImageFont.FreeTypeFont, max_width: int) -> list[str]:
    """Word wrap; text without spaces (Japanese, Chinese) wraps between characters."""
    if " " in text.strip() or not _CJK.search(text):
        return wrap(text, face, max_width)
    lines, current = [], ""
    for character in text:
        if current and face.getlength(current + character) > max_width:
            lines.append(current)
            current = ""
        current += character
    return lines + ([current] if current else [])


def _fade_above_captions(alpha: Image.Image, h: int) -> Image.Image:
    """The motif at three fifths strength, fading out before the captions' zone begins."""
    fade = np.clip((h * (_CAPTION_ZONE - 0.02) - np.arange(h, dtype=np.float32)) / (h * 0.18), 0.0, 1.0) * 0.6
    return Image.fromarray((np.asarray(alpha, dtype=np.float32) * fade[:, None]).astype(np.uint8))  # 2-D uint8: mode L


def _display(concept: str) -> str:
    return concept[:1].upper() + concept[1:]


def _gradient(w: int, h: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> Image.Image:
    """A vertical gradient with a soft light from the upper right, computed at a quarter size
    and scaled up (it has no detail to lose; full size cost a third of a second per card)."""
    sw, sh = max(2, w // 4), max(2, h // 4)
    t = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None, None]
    colours = (1 - t) * np.array(top, np.float32) + t * np.array(bottom, np.float32)
    # A soft light from the upper right keeps large flat areas from looking dead.
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32)
    glow = np.exp(-(((xx - sw * 0.85) / (sw * 0.7)) ** 2 + ((yy - sh * 0.15) / (sh * 0.45)) ** 2))[..., None]
    colours = colours + glow * 28.0
    # Mode RGB follows from the array's shape and dtype (Pillow 11.3 deprecates passing it).
    small = Image.fromarray(np.clip(np.broadcast_to(colours, (sh, sw, 3)), 0, 255).astype(np.uint8))
    return small.resize((w, h), Image.Resampling.BILINEAR)


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
    return layer
