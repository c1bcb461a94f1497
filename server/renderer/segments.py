"""Segments rendered in parallel, each cached by a hash of everything that affects it.

Entries live in the pipeline's one result cache (``server.pipeline.cache.cached_file``:
written to a scratch folder, fsynced, renamed into place). A segment's key is the
canonical encoding of its ``Segment`` value (stills by content digest, motion, frame
counts, the crossfade's source, the ASS text, the encoder settings) and the renderer's
version, never a scene's index or a path: an edit that shifts later scenes reuses them,
and a second job over the same pictures pays nothing.

Rendering runs in two rounds on the same pool: first each still is prepared once
(``graph.PreparedStill``, cached the same way), then the segments loop and crop them.
"""

from __future__ import annotations

import os
import threading
from concurrent.futures import Executor, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path

from PIL import Image

from server.pipeline.cache import ResultCache, cached_file, digest
from server.pipeline.cancel import carry
from server.renderer import graph, process
from server.renderer.model import Segment

RENDERER_VERSION = "7"


def render_segments(segments: tuple[Segment, ...], cache_dir: Path, fonts_dir: Path, workers: int,
                    cpus: int | None = None, pool: Executor | None = None) -> tuple[list[Path], int]:
    """Render (or reuse) every segment; return their files in order and how many were rendered.

    ``pool``: the caller's pool of ``workers`` threads (shared with its other ffmpeg work),
    else one of its own."""
    sizes: dict[str, tuple[int, int]] = {}
    sources: dict[str, Path] = {}
    for segment in segments:
        for cut in (segment.cut, segment.enter_from):
            if cut is not None and cut.still.sha256 not in sizes:
                with Image.open(cut.still.path) as picture:
                    sizes[cut.still.sha256] = picture.size
                sources[cut.still.sha256] = cut.still.path
    rendered = 0
    counting = threading.Lock()

    cache = ResultCache(cache_dir)
    missing = [s for s in segments if cache.entry("segments", digest("segments", RENDERER_VERSION, s), ".mp4") is None]
    # One encoder thread per segment when there are enough segments to keep every core busy
    # (threads share a frame's work less well than processes share segments); an edit's few
    # segments get every core each, or the last long one would run on one core alone.
    cores = cpus or os.cpu_count() or 1
    threads = max(1, cores // max(1, workers)) if len(missing) >= 2 * max(1, workers) else cores
    stills: dict[graph.PreparedStill, None] = {}   # ordered, unique: only what the missing segments show
    for segment in missing:
        for cut in (segment.cut, segment.enter_from if segment.transition.frames else None):
            if cut is not None:
                stills[graph.prepared_still(cut, segment.encoding, sizes[cut.still.sha256])] = None

    def prepare(still: graph.PreparedStill) -> Path:
        return cached_file(cache_dir, "stills", (RENDERER_VERSION, still), ".mkv",
                           lambda out: process.run(graph.prepare_command(sources[still.sha256], still, out),
                                                   "a scene picture (scaling it once)"))

    def one(segment: Segment, prepared: dict[graph.PreparedStill, Path]) -> Path:
        def produce(out: Path) -> None:
            nonlocal rendered
            ass_file = None
            if segment.ass:
                ass_file = out.with_name("captions.ass")
                ass_file.write_text(segment.ass, encoding="utf-8")
            process.run(graph.segment_command(segment, sizes, prepared, ass_file, fonts_dir, out, threads),
                        f"a {segment.frames}-frame segment")
            if ass_file is not None:
                ass_file.unlink()
            with counting:
                rendered += 1

        return cached_file(cache_dir, "segments", (RENDERER_VERSION, segment), ".mp4", produce)

    # Longest first, so a long segment does not start last and leave a core idle.
    order = sorted(range(len(segments)), key=lambda i: -segments[i].frames)
    with ExitStack() as stack:
        if pool is None:
            pool = stack.enter_context(ThreadPoolExecutor(max_workers=max(1, workers)))
        prepared = dict(zip(stills, pool.map(carry(prepare), stills)))
        done = dict(zip(order, pool.map(carry(lambda i: one(segments[i], prepared)), order)))
    return [done[i] for i in range(len(segments))], rendered
