"""Narration: speech per scene from the first narrator that speaks the job's language.

Scene timing comes from the audio, not from estimates.
"""

from __future__ import annotations

from dataclasses import asdict

from server.models import AssetKind
from server.memory import return_freed_memory
from server.pipeline import cancel
from server.pipeline.context import StageContext, replace_asset
from server.providers.registry import Made, ProviderChain
from server.providers.types import NarrationRequest


def run(ctx: StageContext) -> None:
    job = ctx.job()
    language = job.language or "en"
    voice = str(job.settings.get("voice") or "")
    pause = ctx.settings.scene_pause_ms
    texts = [(s.id, s.text) for s in job.scenes]
    chain = ctx.providers("narration", language=language)
    # Speak everything before writing anything: the ledger commits on its own connection.
    requests = [(scene_id, NarrationRequest(text=text, language=language, voice=voice, pause_ms=pause))
                for scene_id, text in texts]
    clips = [(scene_id, _spoken(chain, request)) for scene_id, request in requests]
    notes = []
    used = {made.provider for _, made in clips}
    if len(used) > 1:
        # One voice reads the whole video (and one sample rate reaches compose): the scenes the
        # preferred narrator did speak are spoken again by the fallback it ended up on.
        fallback = max(used, key=chain.position)
        clips = [(scene_id, _spoken(chain, request, starting_with=fallback)) for scene_id, request in requests]
        notes.append(f"every scene is spoken by {fallback}, so the voice does not change mid-video")
    final = {made.provider for _, made in clips}
    robotic = {c.name for c in chain.candidates if getattr(c.provider, "last_resort", False)} & final
    if robotic and chain.info:  # the natural voices were skipped because none speaks the language
        notes.append(f"no natural voice for {language!r} is installed, so {', '.join(sorted(robotic))}'s robotic "
                     f"voice reads it. To fix: set GEMINI_API_KEY (Gemini speech) or MEDIABUDDY_PIPER_VOICE to "
                     f"a piper voice for {language!r}")
    return_freed_memory()   # what in-process speech freed, before the render's ffmpeg processes start
    ctx.record_providers(chain, *notes)
    job = ctx.job()
    job.degraded = job.degraded or bool(robotic and chain.info)
    scenes = {s.id: s for s in job.scenes}
    start = 0
    for scene_id, made in clips:
        clip, scene = made.value, scenes[scene_id]
        scene.start_ms = start
        scene.duration_ms = clip.duration_ms
        scene.captions = [asdict(c) for c in clip.captions]
        start += clip.duration_ms
        replace_asset(job.id, scene_id, AssetKind.NARRATION, clip.path, made.provider, clip.duration_ms)
    job.duration_ms = start


def _spoken(chain: ProviderChain, request: NarrationRequest, **options: str) -> Made:
    """One scene's speech; a cancel of the job stops the stage before the next scene (speech runs in-process)."""
    cancel.check()
    return chain.make(request, **options)
