"""JSON shapes of the API's resources."""

from __future__ import annotations

from sqlalchemy.orm import object_session

from server.models import STAGES, Document, Job
from server.pipeline.ledger import job_cost


def document_json(document: Document) -> dict[str, object]:
    return {"id": document.id, "sha256": document.sha256, "source_path": document.source_path,
            "size_bytes": document.size_bytes, "created_at": document.created_at.isoformat()}


def job_json(job: Job, *, detail: bool = False) -> dict[str, object]:
    stages = [{"name": name,
               "state": "done" if name in job.completed_stages else ("running" if job.stage == name else "pending"),
               "seconds": job.stage_seconds.get(name)} for name in STAGES]
    body: dict[str, object] = {
        "id": job.id, "document_id": job.document_id, "status": job.status.value, "stage": job.stage,
        "stages": stages, "slug": job.slug, "title": job.title, "source_path": job.document.source_path,
        "attempts": job.attempts, "degraded": job.degraded, "notes": job.notes, "duration_ms": job.duration_ms,
        "error": job.error, "created_at": job.created_at.isoformat(), "updated_at": job.updated_at.isoformat(),
        "finished_at": job.finished_at.isoformat() if job.finished_at else None,
        "cost": job_cost(object_session(job), job.id).as_dict(),
    }
    if detail:
        body["scenes"] = [{"index": s.index, "text": s.text, "concept": s.concept, "visual": s.visual,
                           "start_ms": s.start_ms, "duration_ms": s.duration_ms} for s in job.scenes]
        body["outputs"] = {kind: f"{job.slug}.{kind}" for kind in ("mp4", "srt", "json", "jpg")} \
            if job.status.value == "succeeded" else {}
    return body
