"""Narration: speech per scene; scene timing comes from the audio, not from estimates."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from server.models import AssetKind
from server.pipeline.context import StageContext, replace_asset, temp_beside
from server.providers.types import Caption, NarrationClip
from server.providers.narration.base import narrate
from server.providers.registry import choose_narrator


def run(ctx: StageContext) -> None:
    job = ctx.job()
    choice = choose_narrator(ctx.settings)
    narrator = choice.provider
    if choice.degraded:
        job.degraded = True
        job.notes = [*job.notes, *choice.declined]
    pause = ctx.settings.scene_pause_ms
    start = 0
    for scene in job.scenes:
        clip = _cached_clip(ctx, narrator, scene.text, pause)
        scene.start_ms = start
        scene.duration_ms = clip.duration_ms
        scene.captions = [asdict(c) for c in clip.captions]
        start += clip.duration_ms
        replace_asset(job.id, scene.id, AssetKind.NARRATION, clip.path, clip.provider, clip.duration_ms)
    job.duration_ms = start


def _cached_clip(ctx: StageContext, narrator, text: str, pause_ms: int) -> NarrationClip:  # noqa: ANN001
    wav = ctx.cached("narration", narrator.identity, pause_ms, text, suffix=".wav")
    sidecar = wav.with_suffix(".json")
    if wav.exists() and sidecar.exists():
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        return NarrationClip(path=wav, duration_ms=meta["duration_ms"], provider=meta["provider"],
                             captions=tuple(Caption(**c) for c in meta["captions"]))
    temp = temp_beside(wav)
    clip = narrate(narrator, text, temp, pause_ms)
    os.replace(temp, wav)
    meta = {"duration_ms": clip.duration_ms, "provider": clip.provider, "captions": [asdict(c) for c in clip.captions]}
    temp_meta = temp_beside(sidecar)
    temp_meta.write_text(json.dumps(meta), encoding="utf-8")
    os.replace(temp_meta, sidecar)
    return NarrationClip(path=Path(wav), duration_ms=clip.duration_ms, captions=clip.captions, provider=clip.provider)
