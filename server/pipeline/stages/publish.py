"""Publish: <slug>.mp4, .srt, .json, .jpg (and .chapters.txt) into the outbox store, each stored whole."""

from __future__ import annotations

import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy.orm import object_session

from server.models import AssetKind, Job
from server.pipeline.ledger import job_cost
from server.pipeline import cancel
from server.pipeline.context import StageContext
from server.pipeline.ffmpeg import run_ffmpeg
from server.renderer.model import Chapter
from server.renderer.mux import description_list
from server.storage import FileStore, outbox_store


def run(ctx: StageContext) -> None:
    job = ctx.job()
    publish_job(job, outbox_store(ctx.settings), job.slug)


def publish_job(job: Job, store: FileStore, name: str) -> None:
    """Write the job's artefacts to ``store`` as ``<name>.mp4``, ``.srt``, ``.json``, ``.jpg`` (and
    ``.chapters.txt``), each stored whole. ``name`` is used as it is ("release-1.2" gives
    "release-1.2.mp4"): a dot in it is part of the name, never taken for a suffix."""
    if not name or "/" in name or "\\" in name:
        raise ValueError(f"refusing to publish as {name!r}: a plain file name is expected")
    by_kind = {a.kind: Path(a.path) for a in job.assets if a.scene_id is None}
    render = _render_facts(by_kind.get(AssetKind.MANIFEST))
    chapters = tuple(Chapter(int(c["start_ms"]), str(c["title"])) for c in render.get("chapters") or [])

    scratch = store.scratch(f"{name}.mp4")
    try:
        thumbnail = scratch / "thumbnail.jpg"
        _thumbnail(by_kind[AssetKind.VIDEO], render, thumbnail)
        cancel.check()  # the last moment a cancel can stop it: from here the files go out together
        # The video goes last: a watcher that sees <name>.mp4 finds its companions already there.
        store.put_file(f"{name}.srt", by_kind[AssetKind.CAPTIONS])
        store.put_file(f"{name}.jpg", thumbnail, move=True)
        if chapters:
            store.put_text(f"{name}.chapters.txt", description_list(chapters))
        else:
            store.delete(f"{name}.chapters.txt")
        store.put_text(f"{name}.json", json.dumps(manifest_for(job, name, render), indent=2, ensure_ascii=False))
        store.put_file(f"{name}.mp4", by_kind[AssetKind.VIDEO])
        store.delete(f"{name}.error.txt")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _render_facts(path: Path | None) -> dict[str, Any]:
    """What compose recorded about the render (chapters, scene times, audit); {} if none."""
    if path is None or not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def _thumbnail(video: Path, render: dict[str, Any], out: Path) -> None:
    """A real frame of the video: mid title card (the title over the first picture), else
    a second in; half size, JPEG."""
    at_ms = int(render.get("title_card_ms") or 0) * 6 // 10 or min(1000, int(render.get("duration_ms") or 0) // 2)
    frame = out.with_suffix(".png")
    run_ffmpeg(["-ss", f"{at_ms / 1000:.3f}", "-i", str(video), "-frames:v", "1", "-f", "image2", str(frame)],
               stage="publish")
    try:
        with Image.open(frame) as image:
            image.convert("RGB").resize((max(2, image.width // 2), max(2, image.height // 2)), Image.LANCZOS).save(
                out, format="JPEG", quality=88)
    finally:
        frame.unlink(missing_ok=True)


def manifest_for(job: Job, slug: str, render: dict[str, Any] | None = None) -> dict[str, object]:
    render = render or {}
    placed = {s["index"]: s for s in render.get("scenes") or []}
    return {
        "slug": slug,
        "title": job.title,
        "language": job.language,
        "job_id": job.id,
        "source": {"path": job.document.source_path, "sha256": job.document.sha256},
        "video": {"file": f"{slug}.mp4", "width": render.get("width", job.settings.get("width")),
                  "height": render.get("height", job.settings.get("height")),
                  "fps": render.get("fps", job.settings.get("fps")), "duration_ms": job.duration_ms,
                  "theme": job.settings.get("theme"), "preset": render.get("preset"), "draft": render.get("draft"),
                  "audio_bitrate": render.get("audio_bitrate"),
                  "title_card_ms": render.get("title_card_ms"), "music": render.get("music"),
                  "loudness": render.get("loudness"), "segments": render.get("segments")},
        "chapters": render.get("chapters") or [],
        "chapters_file": f"{slug}.chapters.txt" if render.get("chapters") else None,
        "readability": render.get("readability"),
        "captions": f"{slug}.srt",
        "thumbnail": f"{slug}.jpg",
        "providers": providers_of(job),
        "cost": job_cost(object_session(job), job.id).as_dict(),
        "degraded": job.degraded,
        "notes": job.notes,
        "stage_seconds": job.stage_seconds,
        # Scene times in the video (after the title card, on whole frames) where compose recorded them.
        "scenes": [{"index": s.index, "start_ms": placed.get(s.index, {}).get("start_ms", s.start_ms),
                    "duration_ms": placed.get(s.index, {}).get("duration_ms", s.duration_ms), "text": s.text,
                    "concept": s.concept, "visual": s.visual, "chapter": s.chapter or None} for s in job.scenes],
        "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def providers_of(job: Job) -> list[str]:
    """Names of the registry's providers that made something for this job (e.g. gemini, replicate, local, piper)."""
    made_by = dict(job.settings.get("made_by") or {})
    names = {name for names in made_by.values() for name in names}
    names |= {a.provider for a in job.assets if a.kind in (AssetKind.IMAGE, AssetKind.NARRATION)}
    return sorted(names)
