"""Runs a job's stages in order under a lease, committing after each, so any worker can resume it.

The runner claims the job (see ``lease``), starts a heartbeat, and runs every stage not yet
in ``completed_stages``. Each stage's outputs are committed together with a check that this
worker still holds the lease, so a worker that lost its lease (it stalled, another took
over) never records anything more.

A cancel request reaches a running stage: the heartbeat sees it within
``MEDIABUDDY_CANCEL_POLL_SECONDS`` and cancels the run's token (``pipeline.cancel``), which
terminates the stage's child processes (ffmpeg) and stops its loops; the job ends
CANCELED and nothing more is published. A stage never holds a write transaction across
its slow work: the session does not autoflush while a stage runs, so what a stage writes
reaches the database only in the short commit after it (SQLite has one writer; the
heartbeat, the API's uploads and other workers must not wait for a render).

Outcomes: SUCCEEDED; SKIPPED (the document is a draft: a note, no error file); CANCELED;
a failure is retried later with backoff (status QUEUED, ``next_attempt_at`` set) until
``MEDIABUDDY_JOB_RETRIES`` retries are spent, then FAILED with its stage and reason and a
``<slug>.error.txt`` in the outbox.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask, current_app

from server import settings_of
from server.errors import DocumentSkipped, InvalidDocument, StageError
from server.extensions import db
from server.models import Job, JobStatus
from server.pipeline import cancel
from server.pipeline.context import StageContext
from server.pipeline.lease import Heartbeat, Lease, LeaseLost, claim, default_owner, release_values, utcnow
from server.pipeline.stages import compose, extract, images, narration, publish, timeline, voice
from server.storage import outbox_store

log = logging.getLogger("mediabuddy.pipeline")

PIPELINE: tuple[tuple[str, Callable[[StageContext], None]], ...] = (
    ("extract", extract.run),
    ("voice", voice.run),
    ("timeline", timeline.run),
    ("images", images.run),
    ("narration", narration.run),
    ("compose", compose.run),
    ("publish", publish.run),
)
MAX_BACKOFF_SECONDS = 3600.0


class JobFailed(Exception):
    """A run failed; ``retry_in`` is the backoff before the next attempt, None when it is final."""

    def __init__(self, job_id: int, message: str, retryable: bool, retry_in: float | None = None):
        super().__init__(message)
        self.job_id = job_id
        self.retryable = retryable
        self.retry_in = retry_in


class _Canceled(Exception):
    pass


def run_job(app: Flask, job_id: int, *, final_attempt: bool | None = True, stages: tuple[str, ...] | None = None,
            owner: str | None = None) -> JobStatus | None:
    """Claim ``job_id`` and run its unfinished stages (all, or only those named in ``stages``).

    Returns the job's new status, or None when it was not claimable (finished, not due, or
    another worker holds a live lease) or the lease was lost mid-run. Raises ``JobFailed``
    when a stage fails. ``final_attempt=None`` lets the retry budget decide whether a
    failure is final; True (a one-shot render, a test) makes every failure final.
    """
    settings = settings_of(app)
    owner = owner or default_owner(settings.worker_name)
    with app.app_context():
        lease = claim(db.engine, job_id, owner, settings.lease_seconds)
        if lease is None:
            log.info("job %s is not claimable (finished, not due, or leased to another worker)", job_id)
            return None
        log.info("job %s claimed by %s (attempt %d)", job_id, owner, lease.attempt)
        token = cancel.CancelToken(f"job {job_id}")
        heartbeat = Heartbeat(db.engine, lease, settings.lease_seconds, token=token,
                              poll_seconds=settings.cancel_poll_seconds)
        heartbeat.start()
        try:
            return _run_stages(app, lease, heartbeat, token, final_attempt, stages)
        finally:
            heartbeat.stop()


def _run_stages(app: Flask, lease: Lease, heartbeat: Heartbeat, token: cancel.CancelToken,
                final_attempt: bool | None, only: tuple[str, ...] | None) -> JobStatus | None:
    settings = settings_of(app)
    ctx = StageContext(job_id=lease.job_id, settings=settings, work_dir=settings.var_dir / "jobs" / str(lease.job_id),
                       cache_dir=settings.var_dir / "cache")
    job = ctx.job()
    if final_attempt is None and lease.attempt > settings.job_retries + 1:
        # Only kills get here: a worker that died with the job each time (out of memory?).
        error = StageError(job.stage or "?", f"its worker stopped {lease.attempt - 1} times while running it",
                           hint="Check the worker logs and memory, then `mediabuddy jobs retry JOB`.")
        return _fail(ctx, lease, heartbeat, job.stage or "?", error, retry_in=None)
    stage = "?"
    ran: list[str] = []
    in_stage = False
    try:
        for stage, run in PIPELINE:
            if stage in job.completed_stages or (only is not None and stage not in only):
                continue
            _check_still_ours(lease, heartbeat)
            job.stage = stage
            _commit_owned(lease)
            started = time.perf_counter()
            in_stage = True
            try:
                # No autoflush: a query inside the stage must not send its pending writes early
                # and so open a write transaction that lasts through the slow work.
                with cancel.scope(token), db.session.no_autoflush:
                    run(ctx)
            except Exception as error:
                if heartbeat.lost.is_set():
                    raise LeaseLost(lease) from error
                if token.canceled:
                    raise _Canceled() from error  # its processes were stopped for the cancel
                raise
            if stage != "publish":  # once publish returns the files are out: the job did succeed
                _check_still_ours(lease, heartbeat)  # canceled during the stage: its outputs are not kept
            in_stage = False
            ran.append(stage)
            job = ctx.job()
            job.completed_stages = [*job.completed_stages, stage]
            job.stage_seconds = {**job.stage_seconds, stage: round(time.perf_counter() - started, 3)}
            _commit_owned(lease)
            log.info("job %s: %s done in %.2f s by %s", lease.job_id, stage, job.stage_seconds[stage], lease.owner)
    except LeaseLost:
        db.session.rollback()
        log.warning("job %s: another worker took it over during %s; this run stops", lease.job_id, stage)
        return None
    except _Canceled:
        db.session.rollback()
        when = f"{'during' if in_stage else 'before'} {stage}"
        notes = [*ctx.job().notes, f"canceled {when}"]
        _end(lease, heartbeat, status=JobStatus.CANCELED, finished_at=utcnow(), cancel_requested=False,
             notes=notes)
        log.info("job %s canceled %s", lease.job_id, when)
        return JobStatus.CANCELED
    except DocumentSkipped as skipped:
        db.session.rollback()
        notes = [*ctx.job().notes, f"skipped: {skipped.message}"]
        _end(lease, heartbeat, status=JobStatus.SKIPPED, stage=None, finished_at=utcnow(), notes=notes)
        log.info("job %s skipped: %s", lease.job_id, skipped.message)
        return JobStatus.SKIPPED
    except Exception as error:  # every failure is recorded on the job, then reported to the queue
        db.session.rollback()
        retryable = not isinstance(error, InvalidDocument) and getattr(error, "retryable", True)
        final = not retryable or (final_attempt if final_attempt is not None
                                  else lease.attempt > settings.job_retries)
        backoff = settings.retry_backoff_seconds * 2 ** (lease.attempt - 1)
        retry_in = None if final else min(MAX_BACKOFF_SECONDS, backoff)
        _fail(ctx, lease, heartbeat, stage, error, retry_in=retry_in)
        raise JobFailed(lease.job_id, str(error), retryable, retry_in) from error
    if not _end(lease, heartbeat, status=JobStatus.SUCCEEDED, stage=None, finished_at=utcnow(), error=None):
        return None
    job = ctx.job()
    if "publish" in ran:
        log.info("job %s published %s.mp4 to the outbox (%s)", lease.job_id, job.slug, job.stage_seconds)
    elif ran:
        log.info("job %s ran %s; nothing was published (publish %s)", lease.job_id, ", ".join(ran),
                 "was not asked for" if only is not None and "publish" not in only else "had already run")
    else:
        log.info("job %s had nothing left to run", lease.job_id)
    return JobStatus.SUCCEEDED


def _check_still_ours(lease: Lease, heartbeat: Heartbeat) -> None:
    if heartbeat.lost.is_set():
        raise LeaseLost(lease)
    if heartbeat.cancel_requested.is_set():
        raise _Canceled()
    with db.session.no_autoflush:  # a read: the stage's pending writes wait for their commit
        asked = db.session.execute(sa.select(Job.cancel_requested).where(Job.id == lease.job_id)).scalar()
    if asked:
        raise _Canceled()


def _commit_owned(lease: Lease) -> None:
    """Commit the session's changes only if this worker still holds the lease (same transaction).

    The commit also renews the lease: while a stage's transaction holds SQLite's write lock
    (or the job's row lock on PostgreSQL) the heartbeat cannot write, and nobody else can
    take the job either; renewing here means the lease is fresh the moment the lock is gone.
    """
    now = utcnow()
    owned = db.session.execute(
        sa.update(Job).where(Job.id == lease.job_id, Job.lease_owner == lease.owner, Job.status == JobStatus.RUNNING)
        .values(heartbeat_at=now, lease_expires_at=now + timedelta(seconds=settings_of(current_app).lease_seconds))
        .execution_options(synchronize_session=False))
    if owned.rowcount != 1:
        db.session.rollback()
        raise LeaseLost(lease)
    db.session.commit()


def _end(lease: Lease, heartbeat: Heartbeat, **values: object) -> bool:
    """Record the run's outcome and release the lease, if it is still ours."""
    heartbeat.stop()  # else a last beat finds the lease released and reports it lost
    ended = db.session.execute(
        sa.update(Job).where(Job.id == lease.job_id, Job.lease_owner == lease.owner)
        .values(**values, **release_values()).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.expire_all()
    if ended.rowcount != 1:
        log.warning("job %s: lease lost before its outcome (%s) could be recorded", lease.job_id, values.get("status"))
    return ended.rowcount == 1


def _fail(ctx: StageContext, lease: Lease, heartbeat: Heartbeat, stage: str, error: Exception, *,
          retry_in: float | None) -> JobStatus:
    message = error.message if isinstance(error, (StageError, InvalidDocument)) else f"{type(error).__name__}: {error}"
    log.error("job %s failed in %s (attempt %d): %s", lease.job_id, stage, lease.attempt, message,
              exc_info=not isinstance(error, StageError))
    if retry_in is not None:
        _end(lease, heartbeat, status=JobStatus.QUEUED, error=f"{stage}: {message}",
             next_attempt_at=utcnow() + timedelta(seconds=retry_in))
        log.info("job %s: attempt %d failed; next attempt in %.1f s", lease.job_id, lease.attempt, retry_in)
        return JobStatus.QUEUED
    if _end(lease, heartbeat, status=JobStatus.FAILED, stage=stage, error=f"{stage}: {message}",
            finished_at=utcnow()):
        hint = getattr(error, "hint", "") or _default_hint(error)
        _write_error_file(ctx, stage, message, hint, error)
    return JobStatus.FAILED


def _default_hint(error: Exception) -> str:
    if isinstance(error, InvalidDocument):
        return "Fix the markdown file and save it again; the new version is picked up automatically."
    return "Run `mediabuddy doctor`, then `mediabuddy jobs show JOB` for details; `mediabuddy jobs retry JOB` " \
           "resumes it at the failed stage."


def _write_error_file(ctx: StageContext, stage: str, message: str, hint: str, error: Exception) -> None:
    job = ctx.job()
    detail = "".join(traceback.format_exception_only(type(error), error)).strip()
    outbox_store(ctx.settings).put_text(
        f"{job.slug}.error.txt",
        f"Media Buddy could not make a video of {job.document.source_path} (job {job.id}).\n\n"
        f"What failed: the {stage} stage: {message}\n\nWhat to do: {hint}\n\nDetail: {detail}\n")
