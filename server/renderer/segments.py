"""Segments rendered in parallel, each cached by a hash of everything that affects it.

Entries live in the pipeline's one result cache (written to a scratch folder, fsynced,
renamed into place). The key is a canonical encoding of the ``Segment`` value (stills by content digest,
motion, frame counts, the crossfade's source, the ASS text, the encoder settings and the
renderer's version), never a scene's index or a path: an edit that shifts later scenes
reuses them, and a second job over the same pictures pays nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict
from pathlib import Path

from PIL import Image

from server.pipeline.cache import ResultCache
from server.renderer import graph, process
from server.renderer.model import Segment

RENDERER_VERSION = "5"


def segment_key(segment: Segment) -> str:
    def plain(value: object) -> object:
        if isinstance(value, Path):
            return None   # paths never key the cache; digests do
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value

    blob = json.dumps([RENDERER_VERSION, plain(asdict(segment))], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


def render_segments(segments: tuple[Segment, ...], cache_dir: Path, fonts_dir: Path, workers: int,
                    cpus: int | None = None) -> tuple[list[Path], int]:
    """Render (or reuse) every segment; return their files in order and how many were rendered."""
    sizes: dict[str, tuple[int, int]] = {}
    for segment in segments:
        for cut in (segment.cut, segment.enter_from):
            if cut is not None and cut.still.sha256 not in sizes:
                with Image.open(cut.still.path) as picture:
                    sizes[cut.still.sha256] = picture.size
    threads = max(1, (cpus or os.cpu_count() or 1) // max(1, workers))
    rendered = 0

    cache = ResultCache(cache_dir)
    counting = threading.Lock()

    def one(segment: Segment) -> Path:
        nonlocal rendered
        key = segment_key(segment)

        def produce(out: Path) -> dict[str, object]:
            nonlocal rendered
            ass_file = None
            if segment.ass:
                ass_file = out.with_name("captions.ass")
                ass_file.write_text(segment.ass, encoding="utf-8")
            process.run(graph.segment_command(segment, sizes, ass_file, fonts_dir, out, threads),
                        f"a {segment.frames}-frame segment")
            if ass_file is not None:
                ass_file.unlink()
            with counting:
                rendered += 1
            return {"frames": segment.frames}

        path, _meta, _hit = cache.file("segments", key, ".mp4", produce)
        return path

    # Longest first, so a long segment does not start last and leave a core idle.
    order = sorted(range(len(segments)), key=lambda i: -segments[i].frames)
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        done = dict(zip(order, pool.map(one, [segments[i] for i in order])))
    return [done[i] for i in range(len(segments))], rendered
