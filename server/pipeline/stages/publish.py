"""Publish: <slug>.mp4, .srt, .json and .jpg into the outbox, each renamed into place."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timezone
from pathlib import Path

from PIL import Image
from sqlalchemy.orm import object_session

from server.models import AssetKind, Job
from server.pipeline.ledger import job_cost
from server.pipeline.context import StageContext, temp_beside


def run(ctx: StageContext) -> None:
    job = ctx.job()
    outbox = ctx.settings.outbox_dir
    outbox.mkdir(parents=True, exist_ok=True)
    publish_job(job, outbox / job.slug)


def publish_job(job: Job, stem: Path) -> None:
    """Write the job's artefacts beside ``stem`` (``stem.mp4``, ``.srt``, ``.json``, ``.jpg``)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    by_kind = {a.kind: Path(a.path) for a in job.assets if a.scene_id is None}
    first_image = next(Path(a.path) for a in job.assets if a.kind == AssetKind.IMAGE)

    thumbnail = temp_beside(stem.with_suffix(".jpg"))
    with Image.open(first_image) as image:
        image.convert("RGB").resize((image.width // 2, image.height // 2), Image.LANCZOS).save(
            thumbnail, format="JPEG", quality=86)
    manifest = temp_beside(stem.with_suffix(".json"))
    manifest.write_text(json.dumps(manifest_for(job, stem.name), indent=2, ensure_ascii=False), encoding="utf-8")

    # The video goes last: a watcher that sees <slug>.mp4 finds its companions already there.
    _place(by_kind[AssetKind.CAPTIONS], stem.with_suffix(".srt"))
    os.replace(thumbnail, stem.with_suffix(".jpg"))
    os.replace(manifest, stem.with_suffix(".json"))
    _place(by_kind[AssetKind.VIDEO], stem.with_suffix(".mp4"))
    stem.with_suffix(".error.txt").unlink(missing_ok=True)


def _place(source: Path, target: Path) -> None:
    temp = temp_beside(target)
    shutil.copyfile(source, temp)
    with temp.open("rb") as handle:
        os.fsync(handle.fileno())
    os.replace(temp, target)


def manifest_for(job: Job, slug: str) -> dict[str, object]:
    return {
        "slug": slug,
        "title": job.title,
        "language": job.language,
        "job_id": job.id,
        "source": {"path": job.document.source_path, "sha256": job.document.sha256},
        "video": {"file": f"{slug}.mp4", "width": job.settings.get("width"), "height": job.settings.get("height"),
                  "fps": job.settings.get("fps"), "duration_ms": job.duration_ms, "theme": job.settings.get("theme")},
        "captions": f"{slug}.srt",
        "thumbnail": f"{slug}.jpg",
        "providers": providers_of(job),
        "cost": job_cost(object_session(job), job.id).as_dict(),
        "degraded": job.degraded,
        "notes": job.notes,
        "stage_seconds": job.stage_seconds,
        "scenes": [{"index": s.index, "start_ms": s.start_ms, "duration_ms": s.duration_ms, "text": s.text,
                    "concept": s.concept, "visual": s.visual} for s in job.scenes],
        "published_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


def providers_of(job: Job) -> list[str]:
    """Names of the registry's providers that made something for this job (e.g. gemini, replicate, local, piper)."""
    made_by = dict(job.settings.get("made_by") or {})
    names = {name for names in made_by.values() for name in names}
    names |= {a.provider for a in job.assets if a.kind in (AssetKind.IMAGE, AssetKind.NARRATION)}
    return sorted(names)
