"""Burned-in captions: a caption cue drawn over its scene image, in the lower third."""

from __future__ import annotations

from PIL import Image, ImageDraw

from server.providers.images.theme import PALETTES, font, wrap

STYLE_VERSION = "1"


def caption_frame(scene_image: Image.Image, text: str, theme: str) -> Image.Image:
    """Return a copy of ``scene_image`` with ``text`` set in a rounded, translucent box."""
    frame = scene_image.convert("RGBA")
    w, h = frame.size
    unit = min(w, h)
    face = font("bold", max(16, int(unit * 0.064)))
    max_width = int(w * 0.82)
    lines = wrap(text, face, max_width)[:3]
    line_height = int(face.size * 1.22)
    pad_x, pad_y = int(unit * 0.045), int(unit * 0.03)
    text_width = max(int(face.getlength(line)) for line in lines)
    box_w, box_h = text_width + 2 * pad_x, line_height * len(lines) + 2 * pad_y
    left = (w - box_w) // 2
    top = int(h * 0.76) - box_h // 2 if h > w else int(h * 0.80) - box_h // 2
    overlay = Image.new("RGBA", frame.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    draw.rounded_rectangle((left, top, left + box_w, top + box_h), radius=int(unit * 0.03), fill=(8, 10, 20, 185))
    accent = PALETTES[theme].accent
    draw.rounded_rectangle((left, top + box_h - max(4, unit // 160), left + box_w, top + box_h),
                           radius=max(2, unit // 320), fill=(*accent, 230))
    for i, line in enumerate(lines):
        draw.text((w // 2, top + pad_y + i * line_height), line, font=face, fill=(255, 255, 255, 255), anchor="ma")
    frame.alpha_composite(overlay)
    return frame.convert("RGB")
