"""Operations on jobs a person asks for: retry and cancel (used by the CLI and the API).

Call them inside an app context (an API request, or ``with app.app_context()``). They
change the job row with conditional updates, so they are safe while workers run:

- ``retry_job``: a FAILED or CANCELED job goes back to QUEUED with a fresh retry budget and
  is queued; the runner skips its finished stages, so it resumes at the stage that failed.
- ``cancel_job``: a QUEUED job becomes CANCELED at once; a RUNNING one is asked to stop: its
  worker's heartbeat sees the request within ``MEDIABUDDY_CANCEL_POLL_SECONDS``, stops the
  running stage (its ffmpeg processes are terminated) and records CANCELED; nothing more
  is published.

Errors carry the job id and its status; the API answers ``JobNotFound`` with 404 and
``JobStateConflict`` with 409.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app

from server import settings_of
from server.errors import MediaBuddyError
from server.extensions import db
from server.models import FINISHED, Job, JobStatus
from server.pipeline.lease import release_values, utcnow

RETRYABLE = (JobStatus.FAILED, JobStatus.CANCELED)


class JobNotFound(MediaBuddyError):
    def __init__(self, job_id: int):
        super().__init__(f"there is no job {job_id}")
        self.job_id = job_id


class JobStateConflict(MediaBuddyError):
    """The job's status does not allow the operation (e.g. retrying a job that succeeded)."""

    def __init__(self, job_id: int, status: JobStatus, action: str, allowed: tuple[JobStatus, ...]):
        super().__init__(f"job {job_id} is {status.value}; only {' or '.join(s.value for s in allowed)} jobs "
                         f"can be {action}")
        self.job_id = job_id
        self.status = status
        self.action = action


def get_job(job_id: int) -> Job:
    job = db.session.get(Job, job_id)
    if job is None:
        raise JobNotFound(job_id)
    return job


def retry_job(job_id: int) -> Job:
    """Queue a failed or canceled job again; it resumes at its first unfinished stage."""
    from server.worker import enqueue_job

    job = get_job(job_id)
    reopened = db.session.execute(
        sa.update(Job).where(Job.id == job_id, Job.status.in_(RETRYABLE))
        .values(status=JobStatus.QUEUED, error=None, finished_at=None, attempts=0, next_attempt_at=None,
                cancel_requested=False, **release_values())
        .execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(job)
    if reopened.rowcount != 1:
        raise JobStateConflict(job_id, job.status, "retried", RETRYABLE)
    enqueue_job(settings_of(current_app), job_id)
    return job


def cancel_job(job_id: int) -> Job:
    """Cancel a queued job now, or ask a running one to stop (its running stage is interrupted).

    Canceling a job that is already canceled is not an error (the answer is the same job).
    """
    job = get_job(job_id)
    if job.status == JobStatus.CANCELED:
        return job
    if job.status in FINISHED:
        raise JobStateConflict(job_id, job.status, "canceled", (JobStatus.QUEUED, JobStatus.RUNNING))
    now = utcnow()
    lease_free = sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now)
    stopped = db.session.execute(
        sa.update(Job).where(Job.id == job_id, Job.status == JobStatus.QUEUED, lease_free)
        .values(status=JobStatus.CANCELED, finished_at=now, notes=[*job.notes, "canceled while queued"],
                **release_values())
        .execution_options(synchronize_session=False))
    if stopped.rowcount != 1:  # a worker holds it (or just claimed it): its heartbeat stops the stage
        db.session.execute(sa.update(Job).where(Job.id == job_id, Job.status.in_([JobStatus.QUEUED, JobStatus.RUNNING]))
                           .values(cancel_requested=True).execution_options(synchronize_session=False))
    db.session.commit()
    db.session.refresh(job)
    return job
