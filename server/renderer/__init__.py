"""The renderer: a ``VideoPlan`` (what to show, ``model``) rendered by ffmpeg (how, ``graph``).

``plan.plan_video`` turns scenes into a plan; ``render_video`` renders its segments in
parallel (cached by content), the soundtrack once, and joins them without re-encoding.
No frame ever passes through Python.
"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from server.pipeline.cancel import carry
from server.renderer import audio, mux
from server.renderer.model import VideoPlan
from server.renderer.segments import render_segments


@dataclass(frozen=True)
class RenderResult:
    video: Path
    segments_rendered: int
    segments_reused: int
    loudness: dict[str, float]
    seconds: dict[str, float]


def render_video(plan: VideoPlan, out: Path, cache_dir: Path, work_dir: Path, workers: int) -> RenderResult:
    """Render ``plan`` into ``out`` (written to a temporary name, then renamed)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    clock = time.perf_counter()
    soundtrack = work_dir / "soundtrack.m4a"
    # The soundtrack takes the first of the workers' places and the segments the others, then
    # all: at most ``workers`` ffmpeg run at once, so the peak memory is this process and
    # ``workers`` ffmpeg whatever the video's length (a third process beside two segments
    # took a 16-minute render to 598 MB, measured).
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        sound = pool.submit(carry(_timed), audio.render_audio, plan.audio, soundtrack)
        segments, rendered = render_segments(plan.segments, cache_dir, plan.fonts_dir, workers, pool=pool)
        t_video = time.perf_counter() - clock
        loudness, t_audio = sound.result()
    metadata = work_dir / "chapters.ffmeta"
    metadata.write_text(mux.ffmetadata(plan.chapters, plan.audio.duration_ms, plan.title), encoding="utf-8")
    temp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.mp4")
    try:
        mux.join(segments, soundtrack, metadata, temp)
        os.replace(temp, out)
    finally:
        temp.unlink(missing_ok=True)
    return RenderResult(out, rendered, len(segments) - rendered, loudness,
                        {"segments": round(t_video, 3), "audio": round(t_audio, 3),
                         "join": round(time.perf_counter() - clock - max(t_video, t_audio), 3)})


def _timed(function, *args):  # noqa: ANN001, ANN002, ANN202
    started = time.perf_counter()
    return function(*args), time.perf_counter() - started
