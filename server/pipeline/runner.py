"""Runs a job's stages in order, committing after each, so a restart resumes where it stopped."""

from __future__ import annotations

import importlib
import logging
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from flask import Flask

from server import settings_of
from server.errors import InvalidDocument, StageError
from server.extensions import db
from server.models import STAGES, Job, JobStatus
from server.pipeline.context import StageContext, temp_beside

log = logging.getLogger("mediabuddy.pipeline")


class JobFailed(Exception):
    """Raised so the queue retries the job; carries whether a retry can help."""

    def __init__(self, job_id: int, message: str, retryable: bool):
        super().__init__(message)
        self.job_id = job_id
        self.retryable = retryable


def run_job(app: Flask, job_id: int, *, final_attempt: bool = True, stages: tuple[str, ...] = STAGES) -> None:
    """Run every unfinished stage of ``job_id``. On failure, record it; on the final attempt
    mark the job failed and leave ``<slug>.error.txt`` in the outbox."""
    settings = settings_of(app)
    with app.app_context():
        job = db.session.get(Job, job_id)
        if job is None:
            log.warning("job %s vanished before it ran; nothing to do", job_id)
            return
        if job.status == JobStatus.SUCCEEDED:
            return
        job.status, job.attempts, job.error = JobStatus.RUNNING, job.attempts + 1, None
        db.session.commit()
        ctx = StageContext(job_id=job_id, settings=settings, work_dir=settings.var_dir / "jobs" / str(job_id),
                           cache_dir=settings.var_dir / "cache")
        stage = "?"
        try:
            for stage in stages:
                if stage in job.completed_stages:
                    continue
                job.stage = stage
                db.session.commit()
                started = time.perf_counter()
                importlib.import_module(f"server.pipeline.stages.{stage}").run(ctx)
                job = ctx.job()
                job.completed_stages = [*job.completed_stages, stage]
                job.stage_seconds = {**job.stage_seconds, stage: round(time.perf_counter() - started, 3)}
                db.session.commit()
                log.info("job %s: %s done in %.2f s", job_id, stage, job.stage_seconds[stage])
        except Exception as error:  # every failure is recorded on the job, then re-raised for the queue
            db.session.rollback()
            retryable = not isinstance(error, InvalidDocument) and getattr(error, "retryable", True)
            _record_failure(ctx, stage, error, final=final_attempt or not retryable)
            raise JobFailed(job_id, str(error), retryable) from error
        job.status, job.stage, job.finished_at = JobStatus.SUCCEEDED, None, datetime.now(timezone.utc)
        db.session.commit()
        log.info("job %s published %s.mp4 (%s)", job_id, job.slug, job.stage_seconds)


def _record_failure(ctx: StageContext, stage: str, error: Exception, *, final: bool) -> None:
    job = ctx.job()
    message = error.message if isinstance(error, (StageError, InvalidDocument)) else f"{type(error).__name__}: {error}"
    log.error("job %s failed in %s: %s", job.id, stage, message, exc_info=not isinstance(error, StageError))
    job.error = f"{stage}: {message}"
    job.status = JobStatus.FAILED if final else JobStatus.QUEUED
    if final:
        job.finished_at = datetime.now(timezone.utc)
    db.session.commit()
    if final:
        hint = getattr(error, "hint", "") or _default_hint(error)
        _write_error_file(ctx.settings.outbox_dir, job, stage, message, hint, error)


def _default_hint(error: Exception) -> str:
    if isinstance(error, InvalidDocument):
        return "Fix the markdown file and save it again; the new version is picked up automatically."
    return "Run `mediabuddy doctor`, then `mediabuddy status JOB` for details; retry with POST /api/v1/jobs/<id>/retry."


def _write_error_file(outbox: Path, job: Job, stage: str, message: str, hint: str, error: Exception) -> None:
    outbox.mkdir(parents=True, exist_ok=True)
    target = outbox / f"{job.slug}.error.txt"
    temp = temp_beside(target)
    detail = "".join(traceback.format_exception_only(type(error), error)).strip()
    temp.write_text(
        f"Media Buddy could not make a video of {job.document.source_path} (job {job.id}).\n\n"
        f"What failed: the {stage} stage: {message}\n\nWhat to do: {hint}\n\nDetail: {detail}\n", encoding="utf-8")
    temp.replace(target)
