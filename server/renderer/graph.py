"""How a segment is drawn: the ffmpeg command line for one ``Segment``.

Every per-frame operation happens inside ffmpeg: the still is decoded, scaled, blurred
and dimmed once, then looped; the pan is an exact integer crop whose position is an
expression of the frame number (whole pixels per frame, in 4:4:4 so the chroma planes
move with the luma instead of in two-pixel steps); the crossfade is ``xfade``; captions
and the title are one ASS document burned in by libass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from server.renderer.model import Cut, Encoding, Segment


@dataclass(frozen=True)
class PanPath:
    """Where a cut's crop window sits on each frame, as ffmpeg expressions of ``n``."""

    scaled_width: int
    scaled_height: int
    x: str
    y: str


def pan_path(cut: Cut, encoding: Encoding, image_size: tuple[int, int], offset: int = 0) -> PanPath:
    """The crop path of ``cut``, starting ``offset`` frames into it.

    The still is scaled once to cover the frame plus the pan's whole travel. A pan longer
    than ``max_travel`` of the frame turns back (a triangle path) rather than zooming in
    further, so a long scene never fills the frame with a few blown-up pixels.
    """
    w, h = encoding.width, encoding.height
    dx, dy = cut.motion.dx, cut.motion.dy
    speed = max(abs(dx), abs(dy), 1)
    span = max(1, cut.travel_frames - 1)
    limit = max(1, int(cut.motion.max_travel * (w if abs(dx) >= abs(dy) else h)) // speed)
    steps = min(span, limit)
    need_w, need_h = w + abs(dx) * steps, h + abs(dy) * steps
    iw, ih = image_size
    scale = max(need_w / iw, need_h / ih)
    sw, sh = max(need_w, math.ceil(iw * scale)), max(need_h, math.ceil(ih * scale))
    k = f"(n+{offset})" if span <= limit else f"({limit}-abs({limit}-mod(n+{offset},{2 * limit})))"

    def axis(d: int, scaled: int, size: int) -> str:
        if d == 0:
            return str((scaled - size) // 2)
        start = 0 if d > 0 else abs(d) * steps
        centre = (scaled - size - abs(d) * steps) // 2  # centre the pan's travel in the spare room
        return f"{start + centre}+{d}*{k}"

    return PanPath(sw, sh, axis(dx, sw, w), axis(dy, sh, h))


def _cut_chain(label_in: str, cut: Cut, encoding: Encoding, image_size: tuple[int, int], frames: int,
               offset: int, label_out: str) -> str:
    path = pan_path(cut, encoding, image_size, offset)
    steps = [f"scale={path.scaled_width}:{path.scaled_height}:flags=lanczos"]
    if cut.still.blur:
        steps.append(f"gblur=sigma={cut.still.blur}")
    if cut.still.dim:
        keep = 1 - cut.still.dim
        steps.append(f"colorchannelmixer=rr={keep:.3f}:gg={keep:.3f}:bb={keep:.3f}")
    steps += ["format=yuv444p", "loop=loop=-1:size=1:start=0", "setpts=N",
              f"crop={encoding.width}:{encoding.height}:x='{path.x}':y='{path.y}':exact=1",
              "format=yuv420p", f"trim=end_frame={frames}"]
    return f"[{label_in}]{','.join(steps)}[{label_out}]"


def segment_command(segment: Segment, image_sizes: dict[str, tuple[int, int]], ass_file: Path | None,
                    fonts_dir: Path, out: Path, threads: int) -> list[str]:
    """ffmpeg arguments (after the binary) that render ``segment`` into ``out``."""
    enc = segment.encoding
    cut, before = segment.cut, segment.enter_from
    args = ["-framerate", str(enc.fps), "-i", str(cut.still.path)]
    chains = [_cut_chain("0:v", cut, enc, image_sizes[cut.still.sha256], cut.frames, 0, "cur")]
    last = "cur"
    fade = segment.transition.frames if before is not None else 0
    if fade:
        args += ["-framerate", str(enc.fps), "-i", str(before.still.path)]
        chains.append(_cut_chain("1:v", before, enc, image_sizes[before.still.sha256], fade, before.frames, "prev"))
        chains.append(f"[prev][cur]xfade=transition={segment.transition.kind}:duration={fade / enc.fps:.6f}:offset=0[x]")
        last = "x"
    if ass_file is not None:
        chains.append(f"[{last}]ass=filename='{_escape(ass_file)}':fontsdir='{_escape(fonts_dir)}'[v]")
        last = "v"
    return [*args, "-filter_complex", ";".join(chains), "-map", f"[{last}]", "-frames:v", str(cut.frames),
            "-filter_complex_threads", "1", *encoder_args(enc, threads), "-an", "-f", "mp4", str(out)]


def encoder_args(enc: Encoding, threads: int) -> list[str]:
    """x264 settings shared by every segment: High profile, yuv420p, a keyframe at each
    segment's start (a fresh encode), so the concat demuxer can join them by copying."""
    # A short lookahead and one B-frame keep a 1080x1920 segment's ffmpeg near 207 MB instead
    # of 265 MB (measured), a little faster, files about 8% larger: two run side by side.
    return ["-c:v", "libx264", "-preset", enc.preset, "-crf", str(enc.crf), "-profile:v", "high",
            "-x264-params", "rc-lookahead=5:sync-lookahead=0:bframes=1",
            "-pix_fmt", "yuv420p", "-threads", str(threads), "-g", str(enc.fps * 4),
            "-r", str(enc.fps), "-video_track_timescale", str(enc.fps * 1000)]


def _escape(path: Path) -> str:
    """A path inside a filtergraph option: backslash, quote and colon escaped."""
    return str(path).replace("\\", "\\\\").replace("'", r"\'").replace(":", r"\:")
