"""Captions and the title card as ASS subtitles, burned in by libass inside ffmpeg.

Each caption phrase becomes one event per word: the same two lines every time, with the
word being spoken drawn in the highlight colour. libass only redraws when the event
changes, so a word-by-word highlight costs next to nothing per frame. Events are written
per segment in that segment's own time, clipped to its window.
"""

from __future__ import annotations

from server.renderer.model import CaptionLook, Phrase, TitleCard
from server.renderer.readability import BOX_OPACITIES, BOX_RGB


def _colour(rgb: tuple[int, int, int], alpha: float = 0.0) -> str:
    """ASS colour ``&HAABBGGRR`` (alpha 0 is opaque)."""
    r, g, b = rgb
    return f"&H{round(alpha * 255):02X}{b:02X}{g:02X}{r:02X}"


def _time(ms: int) -> str:
    cs = max(0, round(ms / 10))
    h, rest = divmod(cs, 360000)
    m, rest = divmod(rest, 6000)
    s, cs = divmod(rest, 100)
    return f"{h}:{m:02d}:{s:02d}.{cs:02d}"


def _text(value: str) -> str:
    """Text for an ASS event: braces and backslashes would be read as override tags."""
    return value.replace("\\", "\u29f5").replace("{", "(").replace("}", ")").replace("\n", " ")


def header(width: int, height: int, look: CaptionLook | None, title: TitleCard | None) -> str:
    fields = ("Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, "
              "Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, "
              "Alignment, MarginL, MarginR, MarginV, Encoding")
    styles = []
    if look is not None:
        styles.append(_caption_style("Caption", look, look.box_opacity))
        # A box for each opacity the readability audit may ask of a phrase.
        styles += [_caption_style(box_style(o), look, o) for o in BOX_OPACITIES if o > 0]
    if title is not None:
        styles.append(
            f"Style: Title,{title.font_family},{title.font_size},{_colour((255, 255, 255))},{_colour((255, 255, 255))},"
            f"{_colour((0, 0, 0), 0.2)},{_colour((0, 0, 0), 0.5)},-1,0,0,0,100,100,0,0,1,"
            f"{max(2, title.font_size // 18)},{max(2, title.font_size // 20)},5,{width // 10},{width // 10},0,1")
    return ("[Script Info]\nScriptType: v4.00+\nWrapStyle: 2\nScaledBorderAndShadow: yes\n"
            f"PlayResX: {width}\nPlayResY: {height}\n\n[V4+ Styles]\n{fields}\n" + "\n".join(styles) +
            "\n\n[Events]\nFormat: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text\n")


def _title_rule(width: int, height: int, title: TitleCard) -> str:
    """A short bar in the accent colour under the title (an ASS drawing), fading with it."""
    count = title.title.count("\n") + 1
    below = height // 2 + round(count * 1.25 * title.font_size / 2) + round(title.font_size * 0.35)
    bar_w, bar_h = round(width * 0.16), max(4, round(title.font_size * 0.09))
    accent = _colour(title.accent_rgb)
    return (f"{{\\fad(250,300)\\an8\\pos({width // 2},{below})\\bord0\\shad0\\1c{accent}\\p1}}"
            f"m 0 0 l {bar_w} 0 l {bar_w} {bar_h} l 0 {bar_h}{{\\p0}}")


def box_style(opacity: float) -> str:
    return f"CaptionBox{round(opacity * 100)}" if opacity > 0 else "Caption"


def _caption_style(name: str, look: CaptionLook, opacity: float) -> str:
    boxed = opacity > 0
    # BorderStyle 4 (libass) draws one box in BackColour behind the whole event, so the
    # per-word colour changes leave no seams; the letters keep their outline on top.
    back = _colour(BOX_RGB, 1 - opacity) if boxed else _colour((0, 0, 0), 0.45)
    return (f"Style: {name},{look.font_family},{look.font_size},{_colour(look.text_rgb)},{_colour(look.text_rgb)},"
            f"{_colour((0, 0, 0))},{back},-1,0,0,0,100,100,0,0,{4 if boxed else 1},"
            f"{look.outline},{look.outline if boxed else max(1, look.outline // 2)},2,{look.margin_h},"
            f"{look.margin_h},{look.margin_v},1")


def phrase_events(phrase: Phrase, look: CaptionLook, joiner: str = " ") -> list[tuple[int, int, str]]:
    """(start_ms, end_ms, ASS text) per word: the phrase with that word highlighted."""
    words = phrase.words
    events = []
    on, off = "{\\1c" + _colour(look.highlight_rgb) + "}", "{\\1c" + _colour(look.text_rgb) + "}"
    for i, word in enumerate(words):
        start = phrase.start_ms if i == 0 else word.start_ms
        end = words[i + 1].start_ms if i + 1 < len(words) else phrase.end_ms
        if end <= start:
            continue
        lines, k = [], 0
        for line in phrase.lines:
            parts = []
            for w in line:
                parts.append(f"{on}{_text(w.text)}{off}" if k == i else _text(w.text))
                k += 1
            lines.append(joiner.join(parts))
        events.append((start, end, "\\N".join(lines)))
    return events


def document(width: int, height: int, look: CaptionLook | None, phrases: tuple[Phrase, ...],
             title: TitleCard | None, window: tuple[int, int], joiner: str = " ") -> str:
    """The ASS document for the segment covering ``window`` (video ms, end exclusive);
    empty when nothing is on screen in it."""
    lo, hi = window
    lines = []
    if title is not None and lo < title.end_ms:
        end = min(hi, title.end_ms) - lo
        lines.append(f"Dialogue: 1,{_time(0)},{_time(end)},Title,,0,0,0,,{{\\fad(250,300)}}"
                     + "\\N".join(_text(line) for line in title.title.split("\n")))
        lines.append(f"Dialogue: 1,{_time(0)},{_time(end)},Title,,0,0,0,,{_title_rule(width, height, title)}")
    if look is not None:
        for phrase in phrases:
            if phrase.end_ms <= lo or phrase.start_ms >= hi:
                continue
            for start, end, text in phrase_events(phrase, look, joiner):
                start, end = max(start, lo), min(end, hi)
                if end > start:
                    lines.append(f"Dialogue: 0,{_time(start - lo)},{_time(end - lo)},"
                                 f"{box_style(max(phrase.box_opacity, look.box_opacity))},,0,0,0,,{text}")
    if not lines:
        return ""
    return header(width, height, look, title) + "\n".join(lines) + "\n"
