"""How a segment is drawn: the ffmpeg command line for one ``Segment``.

Every per-frame operation happens inside ffmpeg, and as little as possible per frame
(measured with ``bench/profile_segment.py``; figures in the README's "The video"):

- the still is decoded, scaled, blurred and dimmed once, converted once to yuv420p and
  kept in the cache (``PreparedStill``): both segments that show it (its own and the
  next one's crossfade) read that, and an ffmpeg that only loops a frame needs about
  50 MB less than one that also holds the scaler's buffers;
- the pan is an exact whole-pixel crop whose position is an expression of the frame
  number. A crop of a yuv420p picture can only start on an even pixel without moving the
  colour planes by half a step, so an odd-speed pan is cut from *two* yuv420p copies of
  the still side by side, the second shifted by one pixel along the pan (made once, in
  4:4:4): even positions crop the first copy, odd ones the second, always at an even
  offset. A crop is only a pointer move, so a frame costs nothing until libass and x264
  see it; converting a 4:4:4 crop to 4:2:0 on every frame used to cost as much as a
  third of the encode;
- the crossfade is the previous cut, faded out in its alpha plane for the fade's few
  frames, overlaid on this one (``xfade`` processes every frame of the segment, fade
  or not: about 5 ms each at 1080x1920, a quarter of the encode);
- captions and the title are one ASS document burned in by libass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from server.renderer.model import Cut, Encoding, Segment


@dataclass(frozen=True)
class PanPath:
    """Where a cut's crop window sits on each frame, as ffmpeg expressions of ``n``
    (exact pixel positions in a ``scaled_width`` x ``scaled_height`` still)."""

    scaled_width: int
    scaled_height: int
    x: str
    y: str


def _even(value: int) -> int:
    return value - value % 2


def pan_path(cut: Cut, encoding: Encoding, image_size: tuple[int, int], offset: int = 0) -> PanPath:
    """The crop path of ``cut``, starting ``offset`` frames into it.

    The still is scaled once to cover the frame plus the pan's whole travel. A pan longer
    than ``max_travel`` of the frame turns back (a triangle path) rather than zooming in
    further, so a long scene never fills the frame with a few blown-up pixels. The scaled
    size and every still axis's position are even (see the module docstring).
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
    sw, sh = sw + sw % 2, sh + sh % 2
    k = f"(n+{offset})" if span <= limit else f"({limit}-abs({limit}-mod(n+{offset},{2 * limit})))"

    def axis(d: int, scaled: int, size: int) -> str:
        if d == 0:
            return str(_even((scaled - size) // 2))
        start = 0 if d > 0 else abs(d) * steps
        centre = _even((scaled - size - abs(d) * steps) // 2)  # centre the pan's travel in the spare room
        return f"{start + centre}+{d}*{k}"

    return PanPath(sw, sh, axis(dx, sw, w), axis(dy, sh, h))


@dataclass(frozen=True)
class PreparedStill:
    """A still made ready to pan, once for both segments that show it (its own, and the
    next one's crossfade): scaled to ``width`` x ``height``, blurred and dimmed, converted
    to yuv420p, with its phase copies stacked beside (``odd_y``) and below (``odd_x``) it.
    Its fields are its cache key; the file is a one-frame lossless video (MagicYUV: no
    colour conversion, a few MB, decoded in milliseconds)."""

    sha256: str
    blur: int
    dim: float
    width: int
    height: int
    odd_x: bool
    odd_y: bool


def prepared_still(cut: Cut, encoding: Encoding, image_size: tuple[int, int]) -> PreparedStill:
    path = pan_path(cut, encoding, image_size)
    return PreparedStill(cut.still.sha256, cut.still.blur, cut.still.dim, path.scaled_width, path.scaled_height,
                         cut.motion.dx % 2 == 1, cut.motion.dy % 2 == 1)   # Python's % is 0 or 1 for negatives too


def prepare_command(source: Path, still: PreparedStill, out: Path) -> list[str]:
    """ffmpeg arguments (after the binary) that write ``still`` made from ``source`` to ``out`` (.mkv)."""
    sw, sh = still.width, still.height
    once = [f"scale={sw + still.odd_x}:{sh + still.odd_y}:flags=lanczos"]
    if still.blur:
        once.append(f"gblur=sigma={still.blur}")
    if still.dim:
        keep = 1 - still.dim
        once.append(f"colorchannelmixer=rr={keep:.3f}:gg={keep:.3f}:bb={keep:.3f}")
    once.append("format=yuv444p")
    # The phase copies: (shift x, shift y) of each; copy (sx, sy) sits at (sw * sy, sh * sx),
    # a y-phase to the right, an x-phase below.
    shifts = [(sx, sy) for sy in range(1 + still.odd_y) for sx in range(1 + still.odd_x)]
    graph = f"[0:v]{','.join(once)}"
    if len(shifts) > 1:
        graph += f",split={len(shifts)}" + "".join(f"[s{i}]" for i in range(len(shifts)))
        for i, (sx, sy) in enumerate(shifts):
            graph += f";[s{i}]crop={sw}:{sh}:{sx}:{sy},format=yuv420p[c{i}]"
        graph += ";" + "".join(f"[c{i}]" for i in range(len(shifts))) + \
            f"xstack=inputs={len(shifts)}:layout={'|'.join(f'{sw * sy}_{sh * sx}' for sx, sy in shifts)}[out]"
    else:
        graph += f",crop={sw}:{sh}:0:0,format=yuv420p[out]"
    return ["-i", str(source), "-filter_complex", graph, "-filter_complex_threads", "1", "-map", "[out]",
            "-frames:v", "1", "-c:v", "magicyuv", "-threads", "1", "-f", "matroska", str(out)]


def _cut_chain(label_in: str, cut: Cut, encoding: Encoding, image_size: tuple[int, int], frames: int,
               offset: int, label_out: str, fade_out: int = 0) -> str:
    """The filters that turn the prepared still at ``label_in`` into ``frames`` frames of
    ``cut`` in motion; with ``fade_out``, the frames carry an alpha plane fading from
    opaque to clear."""
    path = pan_path(cut, encoding, image_size, offset)
    sw, sh = path.scaled_width, path.scaled_height
    odd_x, odd_y = cut.motion.dx % 2 == 1, cut.motion.dy % 2 == 1
    px, py = f"({path.x})", f"({path.y})"
    x = f"{px}-mod({px},2)" + (f"+{sw}*mod({py},2)" if odd_y else "")
    y = f"{py}-mod({py},2)" + (f"+{sh}*mod({px},2)" if odd_x else "")
    steps = ["loop=loop=-1:size=1:start=0", f"settb=1/{encoding.fps}", "setpts=N",
             f"crop={encoding.width}:{encoding.height}:x='{x}':y='{y}':exact=1", f"trim=end_frame={frames}"]
    if fade_out:
        steps += ["format=yuva420p", f"fade=t=out:s=0:n={fade_out}:alpha=1"]
    return f"[{label_in}]{','.join(steps)}[{label_out}]"


def segment_graph(segment: Segment, image_sizes: dict[str, tuple[int, int]], prepared: dict[PreparedStill, Path],
                  ass_file: Path | None, fonts_dir: Path) -> tuple[list[str], str, str]:
    """(input arguments, filtergraph, output label) that draw ``segment``'s frames from
    its cuts' prepared stills (``prepared``: file of each ``prepared_still``)."""
    enc = segment.encoding
    cut, before = segment.cut, segment.enter_from
    size = image_sizes[cut.still.sha256]
    # -r: the prepared still is one frame with no rate of its own; the output's rate is this.
    args = ["-r", str(enc.fps), "-i", str(prepared[prepared_still(cut, enc, size)])]
    chains = [_cut_chain("0:v", cut, enc, size, segment.frames, segment.start, "cur")]
    last = "cur"
    fade = segment.transition.frames if before is not None else 0
    if fade:
        size = image_sizes[before.still.sha256]
        args += ["-r", str(enc.fps), "-i", str(prepared[prepared_still(before, enc, size)])]
        if segment.transition.kind == "fade":
            chains.append(_cut_chain("1:v", before, enc, size, fade, before.frames, "prev", fade_out=fade))
            chains.append("[cur][prev]overlay=eof_action=pass:format=yuv420[x]")
        else:   # xfade's other transitions (wipes, slides): dearer per frame, but no plan uses them yet
            chains.append(_cut_chain("1:v", before, enc, size, fade, before.frames, "prev"))
            chains.append(f"[prev][cur]xfade=transition={segment.transition.kind}:duration={fade / enc.fps:.6f}"
                          f":offset=0[x]")
        last = "x"
    if ass_file is not None:
        chains.append(f"[{last}]ass=filename='{_escape(ass_file)}':fontsdir='{_escape(fonts_dir)}'[v]")
        last = "v"
    return args, ";".join(chains), last


def segment_command(segment: Segment, image_sizes: dict[str, tuple[int, int]], prepared: dict[PreparedStill, Path],
                    ass_file: Path | None, fonts_dir: Path, out: Path, threads: int) -> list[str]:
    """ffmpeg arguments (after the binary) that render ``segment`` into ``out``."""
    inputs, filters, last = segment_graph(segment, image_sizes, prepared, ass_file, fonts_dir)
    return [*inputs, "-filter_complex", filters, "-map", f"[{last}]", "-frames:v", str(segment.frames),
            "-filter_complex_threads", "1", *encoder_args(segment.encoding, threads), "-an", "-f", "mp4", str(out)]


def encoder_args(enc: Encoding, threads: int) -> list[str]:
    """x264 settings shared by every segment: High profile, yuv420p, a keyframe at each
    segment's start (a fresh encode), so the concat demuxer can join them by copying."""
    # A short lookahead and one B-frame keep a 1080x1920 segment's ffmpeg near 200 MB instead
    # of about 240 MB (x264's veryfast defaults), 20% faster, files about 14% smaller on
    # a pan, 0.6 dB less SSIM (bench/encoder_presets.py, README "Encoder defaults"): two
    # run side by side.
    return ["-c:v", "libx264", "-preset", enc.preset, "-crf", str(enc.crf), "-profile:v", "high",
            "-x264-params", "rc-lookahead=5:sync-lookahead=0:bframes=1",
            "-pix_fmt", "yuv420p", "-threads", str(threads), "-g", str(enc.fps * 4),
            "-r", str(enc.fps), "-video_track_timescale", str(enc.fps * 1000)]


def _escape(path: Path) -> str:
    """A path inside a filtergraph option: backslash, quote and colon escaped."""
    return str(path).replace("\\", "\\\\").replace("'", r"\'").replace(":", r"\:")
