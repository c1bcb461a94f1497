"""Compose: the job's scenes rendered into an MP4 with the house style, plus the .srt.

This stage only gathers what the renderer needs (pictures, speech, word timings, chapter
headings, the job's settings) and records what came out; ``server.renderer`` decides what
the video looks like and ffmpeg draws it. The render's facts (chapters, where each scene
landed, the readability audit, loudness, cache reuse) are kept as the job's ``manifest``
asset for publish.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

from server.errors import StageError
from server.models import AssetKind, Scene
from server.pipeline.context import StageContext, replace_asset
from server.pipeline.srt import phrases_srt
from server.providers.images.theme import PALETTES
from server.renderer import render_video
from server.renderer.audio import BITRATE, DRAFT_BITRATE, lay_out
from server.renderer.fonts import NO_SPACES, FontMissing, caption_font, fonts_folder, missing_glyphs, primary_language
from server.renderer.model import Encoding, Word
from server.renderer.music import MusicProblem, choose_music
from server.renderer.plan import HouseStyle, SceneInput, plan_video
from server.renderer.process import RenderFailed

log = logging.getLogger("mediabuddy.pipeline")


def run(ctx: StageContext) -> None:
    job = ctx.job()
    settings = ctx.settings
    render = ctx.render_settings()
    ctx.work_dir.mkdir(parents=True, exist_ok=True)
    images = {a.scene_id: a for a in job.assets if a.kind == AssetKind.IMAGE}
    voices = {a.scene_id: a for a in job.assets if a.kind == AssetKind.NARRATION}
    missing = [s.index for s in job.scenes if s.id not in images or s.id not in voices]
    if missing:
        raise StageError("compose", f"scenes {missing} have no picture or narration", retryable=False,
                         hint="retry the job: the images and narration stages will make them again")
    draft = settings.render_draft or bool(job.settings.get("draft_render"))
    encoding = _encoding(render.width, render.height, render.fps, settings.render_preset, settings.render_crf, draft)
    try:
        font = caption_font(job.language)
    except FontMissing as error:
        raise StageError("compose", str(error), retryable=False) from error
    notes = list(job.notes)
    lacking = missing_glyphs(font, "".join(s.text for s in job.scenes) + (job.title or ""))
    if lacking:
        notes.append(f"the caption font has no glyph for {''.join(sorted(lacking))[:20]!r}; those characters "
                     f"show as boxes")
    try:
        music = choose_music(settings.music_dir, job.settings.get("music"), job.slug)
    except MusicProblem as error:
        notes.append(str(error))
        music = None
    house = HouseStyle(encoding, highlight_rgb=PALETTES[render.theme].accent,
                       title_ms=round(settings.title_seconds * 1000), crossfade_ms=settings.crossfade_ms,
                       music=music, music_gain_db=settings.music_gain_db, captions=settings.burn_captions,
                       audio_bitrate=DRAFT_BITRATE if draft else BITRATE)
    scenes = [SceneInput(Path(images[s.id].path), images[s.id].sha256, Path(voices[s.id].path), _words(s, job.language),
                         s.chapter or "") for s in job.scenes]
    narration = ctx.work_dir / "narration.wav"
    plan, layout = plan_video(scenes, job.title or "", job.language, house, font,
                                      fonts_folder(font, ctx.cache_dir), narration, ctx.cache_dir)
    lay_out(plan.audio)
    video = ctx.work_dir / "video.rendering.mp4"  # stored as video.mp4 below, once whole
    try:
        try:
            result = render_video(plan, video, ctx.cache_dir, ctx.work_dir, settings.render_workers)
        except RenderFailed as error:
            if music is None or not error.what.startswith("the soundtrack") or error.killed:
                raise
            # A music file ffmpeg cannot read must not cost the video: render without it (the
            # segments are cached by now, so this is the soundtrack and the join only).
            notes.append(f"the music {music.name} could not be mixed ({error.tail.splitlines()[-1] if error.tail else error}); "
                         f"the video has no music")
            music = None
            plan = replace(plan, audio=replace(plan.audio, music=None))
            result = render_video(plan, video, ctx.cache_dir, ctx.work_dir, settings.render_workers)
    except RenderFailed as error:
        hint = ("lower MEDIABUDDY_RENDER_WORKERS or set MEDIABUDDY_RENDER_DRAFT=true, then retry the job"
                if error.killed else "")
        raise StageError("compose", str(error), retryable=error.retryable, hint=hint) from error
    log.info("job %s: %d segment(s) rendered, %d reused", job.id, result.segments_rendered, result.segments_reused)

    video = ctx.put_asset_file("video.mp4", video)
    captions = ctx.put_asset_text("captions.srt", phrases_srt(layout.phrases, layout.joiner))
    facts = {
        "width": encoding.width, "height": encoding.height, "fps": encoding.fps, "preset": encoding.preset,
        "crf": encoding.crf, "draft": draft, "audio_bitrate": plan.audio.bitrate,
        "duration_ms": layout.duration_ms, "title_card_ms": layout.title_ms,
        "chapters": [{"start_ms": c.start_ms, "title": c.title} for c in plan.chapters],
        "scenes": [{"index": s.index, "start_ms": start, "duration_ms": length}
                   for s, start, length in zip(job.scenes, layout.scene_starts_ms, layout.scene_durations_ms)],
        "readability": layout.audit.as_dict() if layout.audit else None,
        "loudness": {"integrated_lufs": result.loudness.get("output_i"), "true_peak_dbtp": result.loudness.get("output_tp"),
                     "integrated_lufs_before": result.loudness.get("input_i"), "gain_db": result.loudness.get("gain_db"),
                     "limited": result.loudness.get("limited"), "target_lufs": plan.audio.loudness_lufs,
                     "true_peak_target_dbtp": plan.audio.true_peak_db},
        "music": music.name if music else None,
        "segments": {"rendered": result.segments_rendered, "reused": result.segments_reused},
        "render_seconds": result.seconds,
    }
    manifest = ctx.put_asset_text("render.json", json.dumps(facts, indent=2, ensure_ascii=False))
    job.notes = notes
    job.duration_ms = layout.duration_ms
    for kind, path in ((AssetKind.VIDEO, video), (AssetKind.CAPTIONS, captions), (AssetKind.MANIFEST, manifest)):
        replace_asset(job.id, None, kind, path, "ffmpeg", layout.duration_ms)


def _encoding(width: int, height: int, fps: int, preset: str, crf: int, draft: bool) -> Encoding:
    if draft:   # half the size (kept even) and the fastest preset: a preview, not the final
        return Encoding(width // 4 * 2, height // 4 * 2, fps, "ultrafast", crf)
    return Encoding(width, height, fps, preset, crf)


def _words(scene: Scene, language: str | None) -> tuple[Word, ...]:
    """The scene's words in ms from its audio's start: the narrator's own timings where it
    gave them, else each caption cue's time shared out by the words' lengths."""
    words: list[Word] = []
    for cue in scene.captions or []:
        timed = cue.get("words") or []
        if timed:
            words += [Word(int(w["start_ms"]), int(w["end_ms"]), str(w["text"])) for w in timed]
            continue
        text = str(cue["text"])
        parts = list(text.replace(" ", "")) if primary_language(language) in NO_SPACES else text.split()
        start, end = int(cue["start_ms"]), int(cue["end_ms"])
        total = sum(len(p) for p in parts) or 1
        cursor = float(start)
        for part in parts:
            span = (end - start) * len(part) / total
            words.append(Word(round(cursor), round(cursor + span), part))
            cursor += span
    return tuple(words)

