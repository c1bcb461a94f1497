"""Readability audit: caption contrast against what lies behind it (WCAG 2 ratio).

Measured once per scene on the picture's caption band (widened by the pan's travel), at
the 90th percentile of luminance, since a bright patch behind white letters is what makes
them hard to read. When the plain outlined text falls short of 4.5:1 on any scene, every
caption gets a dark backing box, the lightest that reaches 4.5:1 everywhere (one look for
the whole video, not a box that comes and goes). The figures go into the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

WCAG_MIN = 4.5
BOX_RGB = (8, 10, 20)
BOX_OPACITIES = (0.0, 0.55, 0.7, 0.85, 0.95)


@dataclass(frozen=True)
class SceneContrast:
    scene: int
    background_luminance: float   # 90th percentile of the band's relative luminance
    plain_ratio: float            # caption colour against the bare picture
    final_ratio: float            # against the picture behind the chosen backing


@dataclass(frozen=True)
class Audit:
    box_opacity: float
    scenes: tuple[SceneContrast, ...]

    @property
    def min_ratio(self) -> float:
        return min((s.final_ratio for s in self.scenes), default=21.0)

    def as_dict(self) -> dict[str, object]:
        return {"standard": f"WCAG 2 contrast >= {WCAG_MIN}", "backing_box_opacity": self.box_opacity,
                "min_ratio": round(self.min_ratio, 2),
                "scenes": [{"index": s.scene, "background_luminance": round(s.background_luminance, 4),
                            "plain_ratio": round(s.plain_ratio, 2), "final_ratio": round(s.final_ratio, 2)}
                           for s in self.scenes]}


def _linear(srgb: np.ndarray) -> np.ndarray:
    c = srgb / 255.0
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def luminance(rgb: np.ndarray) -> np.ndarray:
    lin = _linear(rgb.astype(np.float64))
    return lin[..., 0] * 0.2126 + lin[..., 1] * 0.7152 + lin[..., 2] * 0.0722


def ratio(a: float, b: float) -> float:
    hi, lo = max(a, b), min(a, b)
    return (hi + 0.05) / (lo + 0.05)


def band_pixels(image: Path, box: tuple[float, float, float, float]) -> np.ndarray:
    """The picture's pixels inside ``box`` (fractions of width and height: left, top, right, bottom)."""
    with Image.open(image) as picture:
        rgb = picture.convert("RGB")
        w, h = rgb.size
        left, top, right, bottom = box
        crop = rgb.crop((int(left * w), int(top * h), int(right * w), int(bottom * h)))
        crop.thumbnail((400, 400))   # enough samples for a percentile, a fraction of the work
        return np.asarray(crop)


def audit(images: list[Path], band: tuple[float, float, float, float], text_rgb: tuple[int, int, int]) -> Audit:
    text_l = float(luminance(np.array(text_rgb, dtype=np.float64)))
    bands = [band_pixels(path, band) for path in images]
    chosen = BOX_OPACITIES[-1]
    for opacity in BOX_OPACITIES:
        if all(_ratio_behind(pixels, text_l, opacity) >= WCAG_MIN for pixels in bands):
            chosen = opacity
            break
    scenes = tuple(SceneContrast(i, float(np.percentile(luminance(pixels), 90)),
                                 _ratio_behind(pixels, text_l, 0.0), _ratio_behind(pixels, text_l, chosen))
                   for i, pixels in enumerate(bands))
    return Audit(chosen, scenes)


def _ratio_behind(pixels: np.ndarray, text_l: float, opacity: float) -> float:
    """Contrast of the text against the band behind a box of ``opacity`` (libass blends in sRGB)."""
    blended = pixels.astype(np.float64) * (1 - opacity) + np.array(BOX_RGB, dtype=np.float64) * opacity
    lum = luminance(blended)
    # The worse side: bright patches hurt light text, dark patches hurt dark text.
    worst = np.percentile(lum, 90) if text_l > 0.5 else np.percentile(lum, 10)
    return ratio(text_l, float(worst))
