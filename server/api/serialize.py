"""JSON shapes of the API's resources."""

from __future__ import annotations

from datetime import datetime, timezone

from server.extensions import db
from server.models import STAGES, Document, Job
from server.pipeline.ledger import JobCost, job_cost


def instant(moment: datetime | None) -> str | None:
    """RFC 3339 with an offset. SQLite hands back naive datetimes; every one we store is UTC."""
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)).isoformat()


def document_json(document: Document) -> dict[str, object]:
    return {"id": document.id, "sha256": document.sha256, "source_path": document.source_path,
            "size_bytes": document.size_bytes, "created_at": instant(document.created_at)}


def job_json(job: Job, *, detail: bool = False, cost: JobCost | None = None) -> dict[str, object]:
    """A job as the API shows it; ``cost`` when the caller has read it already, else read here."""
    stages = [{"name": name,
               "state": "done" if name in job.completed_stages else ("running" if job.stage == name else "pending"),
               "seconds": job.stage_seconds.get(name)} for name in STAGES]
    body: dict[str, object] = {
        "id": job.id, "document_id": job.document_id, "status": job.status.value, "stage": job.stage,
        "stages": stages, "slug": job.slug, "title": job.title, "source_path": job.document.source_path,
        "attempts": job.attempts, "degraded": job.degraded, "notes": job.notes, "duration_ms": job.duration_ms,
        "error": job.error, "created_at": instant(job.created_at), "updated_at": instant(job.updated_at),
        "finished_at": instant(job.finished_at),
        "cost": (cost or job_cost(db.session, job.id)).as_dict(),
    }
    if detail:
        body["scenes"] = [{"index": s.index, "text": s.text, "concept": s.concept, "visual": s.visual,
                           "start_ms": s.start_ms, "duration_ms": s.duration_ms} for s in job.scenes]
        body["outputs"] = {kind: f"{job.slug}.{kind}" for kind in ("mp4", "srt", "json", "jpg")} \
            if job.status.value == "succeeded" else {}
    return body
