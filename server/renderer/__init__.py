"""The renderer: a ``VideoPlan`` (what to show, ``model``) rendered by ffmpeg (how, ``graph``).

``plan.plan_video`` turns scenes into a plan; ``render_video`` renders its segments in
parallel (cached by content), the soundtrack in cached chunks, and joins them without
re-encoding.
No frame ever passes through Python.
"""

from __future__ import annotations

import os
import time
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from server.pipeline.cancel import carry
from server.renderer import audio, mux
from server.renderer.model import AudioMix, VideoPlan
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
    mix = plan.audio
    sound = _Soundtrack(mix, cache_dir, work_dir, soundtrack)
    # The segments run on a pool of ``workers`` threads, so the peak memory is this process,
    # ``workers`` segment ffmpeg (~200 MB each at 1080x1920) and the sound's one ffmpeg
    # (~36 MB) whatever the video's length. The sound has its own thread: its loudness
    # analysis, then its chunks, beside the segments, so an edit's one new chunk is not
    # queued behind its segments; chunks still waiting when the segments are done are
    # shared out to the pool. A sound thread that encodes every chunk itself before the
    # segments are done also joins and measures the soundtrack then, off the critical path.
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool, ThreadPoolExecutor(max_workers=1) as own:
        first = own.submit(carry(sound.run))
        try:
            segments, rendered = render_segments(plan.segments, cache_dir, plan.fonts_dir, workers, pool=pool)
        except BaseException:
            sound.abandon()   # the video failed: no more sound is worth making
            raise
        t_video = time.perf_counter() - clock
        started = time.perf_counter()
        sound.analysed.wait()
        helpers = [pool.submit(carry(sound.encode_waiting)) for _ in range(max(1, workers))]
        for future in (first, *helpers):
            future.result()
        level = sound.level
        if sound.measured is None:
            audio.join([piece.path for piece in sound.pieces()], soundtrack)
            final = pool.submit(carry(audio.output_loudness), level, sound.pieces(), soundtrack, cache_dir)
        else:
            final = Future()
            final.set_result(sound.measured)
        t_encode = time.perf_counter() - started
        metadata = work_dir / "chapters.ffmeta"
        metadata.write_text(mux.ffmetadata(plan.chapters, mix.duration_ms, plan.title), encoding="utf-8")
        temp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.mp4")
        try:
            mux.join(segments, soundtrack, metadata, temp)
            loudness = audio.figures(level, final.result())
            os.replace(temp, out)
        finally:
            temp.unlink(missing_ok=True)
    return RenderResult(out, rendered, len(segments) - rendered, loudness,
                        {"segments": round(t_video, 3), "audio": round(sound.seconds, 3),
                         "join": round(time.perf_counter() - clock - t_video - t_encode, 3)})


class _Soundtrack:
    """The sound's work: the loudness analysis, then each piece's encode, taken one at a time
    from a shared list by whichever thread is free (the sound's own, then the pool's)."""

    def __init__(self, mix: AudioMix, cache_dir: Path, work_dir: Path, out: Path):
        self.mix, self.cache_dir, self.work_dir, self.out = mix, cache_dir, work_dir, out
        self.level: audio.Level | None = None
        self.measured: tuple[float, float] | None = None   # set once ``out`` is joined and measured here
        self.analysed = threading.Event()
        self.seconds = 0.0
        self._pieces = list(enumerate(audio.pieces(mix)))
        self._count = len(self._pieces)
        self._files: dict[int, audio.Encoded] = {}
        self._lock = threading.Lock()

    def run(self) -> None:
        started = time.perf_counter()
        try:
            self.level = audio.analyse(self.mix, self.cache_dir)
        finally:
            self.analysed.set()
            self._add(time.perf_counter() - started)
        self.encode_waiting()
        with self._lock:
            every_chunk = self.level is not None and len(self._files) == self._count
        if every_chunk:   # no other thread took a chunk: nothing else can still be encoding
            started = time.perf_counter()
            audio.join([piece.path for piece in self.pieces()], self.out)
            self.measured = audio.output_loudness(self.level, self.pieces(), self.out, self.cache_dir)
            self._add(time.perf_counter() - started)

    def encode_waiting(self) -> None:
        while self.level is not None:
            with self._lock:
                if not self._pieces:
                    return
                index, piece = self._pieces.pop(0)
            started = time.perf_counter()
            self._files[index] = audio.encode(self.mix, piece, self.level, self.cache_dir, self.work_dir)
            self._add(time.perf_counter() - started)

    def abandon(self) -> None:
        with self._lock:
            self._pieces.clear()

    def pieces(self) -> list[audio.Encoded]:
        return [self._files[i] for i in sorted(self._files)]

    def _add(self, seconds: float) -> None:
        with self._lock:
            self.seconds += seconds
