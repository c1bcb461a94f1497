"""Compose: scene images + narration + burned-in captions → MP4 (H.264 + AAC) and an .srt.

Each scene becomes an independent video segment: its caption frames are stills shown for
exact frame counts, encoded by ffmpeg (no per-frame trip through Python), cached by
content and rendered in parallel. Segments are joined without re-encoding and muxed with
the narration, which is encoded once.
"""

from __future__ import annotations

import os
import tempfile
import wave
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from server.models import Asset, AssetKind, Scene
from server.pipeline.caption_overlay import STYLE_VERSION, caption_frame
from server.pipeline.context import StageContext, replace_asset, temp_beside
from server.pipeline.ffmpeg import run_ffmpeg
from server.pipeline.srt import srt_document

ENCODER_VERSION = "1"


@dataclass(frozen=True)
class Shot:
    """One still of a segment: the caption shown (or none) and for how many frames."""

    caption: str | None
    frames: int


@dataclass(frozen=True)
class SegmentPlan:
    image: Path
    image_sha256: str
    shots: tuple[Shot, ...]
    theme: str
    fps: int

    @property
    def frames(self) -> int:
        return sum(s.frames for s in self.shots)


def run(ctx: StageContext) -> None:
    job = ctx.job()
    render = ctx.render_settings()
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    images = {a.scene_id: a for a in job.assets if a.kind == AssetKind.IMAGE}
    voices = {a.scene_id: a for a in job.assets if a.kind == AssetKind.NARRATION}
    plans = [_plan(scene, images[scene.id], render.fps, render.theme) for scene in job.scenes]

    with ThreadPoolExecutor(max_workers=ctx.settings.render_workers) as pool:
        segments = list(pool.map(lambda plan: _segment(ctx, plan), plans))

    narration = ctx.work_dir / "narration.wav"
    _concatenate_wavs([Path(voices[s.id].path) for s in job.scenes], narration)
    listing = ctx.work_dir / "segments.txt"
    listing.write_text("".join(f"file '{_escape(p)}'\n" for p in segments), encoding="utf-8")
    video = ctx.work_dir / "video.mp4"
    temp = temp_beside(video)
    run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-i", str(narration),
                "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy",
                "-af", "volume=0.92,aresample=48000", "-c:a", "aac", "-b:a", "160k",
                "-movflags", "+faststart", "-f", "mp4", str(temp)])
    os.replace(temp, video)

    captions = ctx.work_dir / "captions.srt"
    captions.write_text(srt_document(job.scenes), encoding="utf-8")
    for kind, path in ((AssetKind.VIDEO, video), (AssetKind.CAPTIONS, captions)):
        replace_asset(job.id, None, kind, path, "ffmpeg", job.duration_ms)


def _plan(scene: Scene, image: Asset, fps: int, theme: str) -> SegmentPlan:
    """Turn a scene's caption cues into stills with frame counts taken from global time."""

    def frame_at(ms: int) -> int:
        return round((scene.start_ms + ms) * fps / 1000)

    end_ms = scene.duration_ms
    shots: list[Shot] = []
    cursor = 0
    for cue in scene.captions or []:
        start, stop = int(cue["start_ms"]), min(int(cue["end_ms"]), end_ms)
        if start > cursor:
            shots.append(Shot(None, frame_at(start) - frame_at(cursor)))
        shots.append(Shot(str(cue["text"]), frame_at(stop) - frame_at(max(start, cursor))))
        cursor = max(cursor, stop)
    if cursor < end_ms:
        shots.append(Shot(None, frame_at(end_ms) - frame_at(cursor)))
    merged: list[Shot] = []
    for shot in shots:
        if shot.frames <= 0:
            continue
        if merged and merged[-1].caption == shot.caption:
            merged[-1] = Shot(shot.caption, merged[-1].frames + shot.frames)
        else:
            merged.append(shot)
    return SegmentPlan(Path(image.path), image.sha256, tuple(merged) or (Shot(None, 1),), theme, fps)


def _segment(ctx: StageContext, plan: SegmentPlan) -> Path:
    target = ctx.cached("segments", ENCODER_VERSION, STYLE_VERSION, plan, suffix=".mp4")
    if target.exists():
        return target
    with tempfile.TemporaryDirectory(dir=ctx.work_dir, prefix="segment-") as scratch:
        folder = Path(scratch)
        base = Image.open(plan.image).convert("RGB")
        lines = []
        for i, shot in enumerate(plan.shots):
            still = folder / f"{i:03d}.png"
            (caption_frame(base, shot.caption, plan.theme) if shot.caption else base).save(still, compress_level=1)
            lines.append(f"file '{_escape(still)}'\nduration {shot.frames / plan.fps:.6f}\n")
        lines.append(f"file '{_escape(folder / f'{len(plan.shots) - 1:03d}.png')}'\n")  # concat drops the last duration
        listing = folder / "stills.txt"
        listing.write_text("".join(lines), encoding="utf-8")
        temp = temp_beside(target)
        run_ffmpeg(["-f", "concat", "-safe", "0", "-i", str(listing), "-frames:v", str(plan.frames),
                    "-vf", f"fps={plan.fps},format=yuv420p", "-c:v", "libx264", "-preset", "veryfast",
                    "-tune", "stillimage", "-crf", "22", "-r", str(plan.fps), "-video_track_timescale", "90000",
                    "-an", "-f", "mp4", str(temp)])
        os.replace(temp, target)
    return target


def _concatenate_wavs(parts: list[Path], out: Path) -> None:
    """Join the scenes' WAVs (a few MB each) into one track for the single AAC encode."""
    with wave.open(str(out), "wb") as writer:
        for i, part in enumerate(parts):
            with wave.open(str(part), "rb") as reader:
                if i == 0:
                    writer.setparams(reader.getparams())
                elif reader.getframerate() != writer.getframerate():
                    raise ValueError(f"{part.name} has a different sample rate from the first scene")
                writer.writeframes(reader.readframes(reader.getnframes()))


def _escape(path: Path) -> str:
    return str(path).replace("'", r"'\''")
