"""The job queue: Huey with SQLite storage by default, Redis when MEDIABUDDY_REDIS_URL is set.

A Huey task only carries a job id; the database decides who runs it. The task claims the
job's lease (``pipeline.lease``) and runs it; a duplicate task, or one for a job another
worker holds, finds nothing to claim and ends. So the queue may deliver a job twice, lose a
task to a killed worker, or be flushed: the database still knows every unfinished job.

Each worker also sweeps, at start and every ``MEDIABUDDY_LEASE_SWEEP_SECONDS``, for jobs
nobody will otherwise run — running with an expired lease (their worker died), or queued
and overdue with no task waiting — and queues them again. Retries are scheduled in Huey
for the backoff time and recorded on the job (``next_attempt_at``), so a lost schedule is
found by the sweep too.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from huey import RedisHuey
from huey.api import Huey
from huey.storage import SqliteStorage

from config import Settings

log = logging.getLogger("mediabuddy.worker")
SWEEP_BATCH = 500
IDLE_POLL_MAX_SECONDS = 1.0


class _TaskStorage(SqliteStorage):
    """Huey's SQLite storage with ``synchronous=NORMAL``: one fsync fewer per uploaded document.

    Safe because the job row in the main database is the durable record: a task lost to a
    power cut leaves its job QUEUED, and the sweep queues such jobs again.
    """

    def _create_connection(self):  # noqa: ANN202 - a sqlite3.Connection
        connection = super()._create_connection()
        connection.execute("PRAGMA synchronous=NORMAL")
        return connection


_instances: dict[tuple[str, str | None], Huey] = {}
_apps: dict[tuple[str, str, str], object] = {}


def huey_for(settings: Settings) -> Huey:
    """The Huey instance for these settings, with the pipeline task registered on it."""
    key = (str(settings.var_dir), settings.redis_url)
    if key not in _instances:
        _instances[key] = _build_huey(settings)
    return _instances[key]


def _build_huey(settings: Settings) -> Huey:
    if settings.redis_url:
        huey: Huey = RedisHuey("mediabuddy", url=settings.redis_url)
    else:
        settings.var_dir.mkdir(parents=True, exist_ok=True)
        huey = Huey("mediabuddy", storage_class=_TaskStorage, filename=str(settings.var_dir / "queue-jobs.db"),
                    timeout=30)

    # retries=0: retries live on the job row (attempts, next_attempt_at), where a dead worker cannot lose them.
    @huey.task(retries=0, name="run_job")
    def run_job_task(job_id: int) -> None:
        work_on(settings, job_id)

    huey.mediabuddy_run_job = run_job_task  # type: ignore[attr-defined]
    return huey


def _app_for(settings: Settings):  # noqa: ANN202
    from server import create_app

    # Keyed by what the app is bound to: object ids can be reused once settings are collected.
    key = (settings.effective_database_url, str(settings.var_dir), str(settings.outbox_dir))
    if key not in _apps:
        _apps[key] = create_app(settings)
    return _apps[key]


def work_on(settings: Settings, job_id: int) -> None:
    """Claim and run one job; schedule its retry when it failed and has retries left."""
    from server.pipeline.runner import JobFailed, run_job

    try:
        run_job(_app_for(settings), job_id, final_attempt=None)
    except JobFailed as failure:  # already logged and recorded on the job by the runner
        if failure.retry_in is not None:
            huey_for(settings).mediabuddy_run_job.schedule(args=(job_id,), delay=failure.retry_in)


def enqueue_job(settings: Settings, job_id: int) -> None:
    huey_for(settings).mediabuddy_run_job(job_id)


def run_consumer(settings: Settings) -> None:
    """Block running the worker until SIGINT/SIGTERM (Huey installs the handlers)."""
    yield_cpu(settings.worker_nice)
    huey = huey_for(settings)
    requeue_stranded(settings, grace_seconds=0)
    # A queue in SQLite is polled: Huey backs off to 10 s between empty polls, so a job
    # queued while the worker idled waited up to 10 s; 1 s costs an indexed read a second.
    # Redis blocks on BRPOP instead and wakes at once (its backoff only follows errors).
    idle_poll = 10.0 if huey.storage.blocking else IDLE_POLL_MAX_SECONDS
    consumer = huey.create_consumer(workers=settings.worker_threads, worker_type="thread",
                                    periodic=False, check_worker_health=True, max_delay=idle_poll)
    stop = threading.Event()
    sweeper = threading.Thread(target=_sweep_until, args=(settings, stop), name="lease-sweeper", daemon=True)
    sweeper.start()
    log.info("worker started (%s, %d thread(s), lease %.0f s)", type(huey).__name__, settings.worker_threads,
             settings.lease_seconds)
    try:
        consumer.run()
    finally:
        stop.set()
        sweeper.join(timeout=5)
        release_leases(settings)


def yield_cpu(nice: int) -> None:
    """Lower this process's CPU priority by ``nice`` (its children inherit it).

    A render keeps every core busy for minutes; at the same priority it made the API's
    status reads wait behind it (p99 87 ms on PostgreSQL with a worker rendering, 16-38 ms
    without). Work still gets all the CPU nobody else wants. POSIX only: Windows has no
    ``os.nice`` and the worker runs at normal priority there."""
    if nice <= 0 or not hasattr(os, "nice"):
        return
    try:
        os.nice(nice)
    except OSError as error:  # a sandbox may forbid it; the worker runs anyway
        log.warning("could not lower the worker's priority (nice %d): %s", nice, error)


def release_leases(settings: Settings) -> list[int]:
    """Hand back the jobs this process still holds, so the next worker resumes them at once.

    Called when the consumer has stopped (SIGTERM stops it without waiting for running
    jobs). A thread still finishing a stage cannot commit after this: every commit checks
    the lease. A worker killed outright cannot do this; its leases simply expire.
    """
    import sqlalchemy as sa

    from server.extensions import db
    from server.models import Job, JobStatus
    from server.pipeline.lease import process_owner, release_values, utcnow

    with _app_for(settings).app_context(), db.engine.begin() as connection:
        mine = Job.lease_owner.like(f"{process_owner(settings.worker_name)}/%")
        ids = list(connection.execute(sa.select(Job.id).where(mine, Job.status == JobStatus.RUNNING)).scalars())
        connection.execute(sa.update(Job).where(mine, Job.status == JobStatus.RUNNING)
                           .values(status=JobStatus.QUEUED, next_attempt_at=utcnow(), **release_values()))
    for job_id in ids:
        log.warning("job %s handed back unfinished; the next worker resumes it", job_id)
        enqueue_job(settings, job_id)
    return ids


def _sweep_until(settings: Settings, stop: threading.Event) -> None:
    while not stop.wait(settings.lease_sweep_seconds):
        try:
            requeue_stranded(settings, grace_seconds=settings.lease_seconds)
        except Exception:  # noqa: BLE001 - database or Redis away for a moment: the next sweep tries again
            log.warning("lease sweep failed; trying again in %.0f s", settings.lease_sweep_seconds, exc_info=True)


def requeue_stranded(settings: Settings, *, grace_seconds: float) -> list[int]:
    """Queue again every job nobody will otherwise run; returns their ids.

    Stranded: RUNNING with an expired lease (its worker died: it goes back to QUEUED, its
    finished stages kept), or QUEUED, due for ``grace_seconds`` already, with no task
    pending or scheduled for it. Each job found has its timer restarted in the same
    conditional update, so of several workers sweeping at once only one queues it.
    """
    import sqlalchemy as sa

    from server.extensions import db
    from server.models import Job, JobStatus
    from server.pipeline.lease import release_values, utcnow

    huey = huey_for(settings)
    waiting = {task.args[0] for task in (*huey.pending(), *huey.scheduled()) if task.args}
    with _app_for(settings).app_context(), db.engine.begin() as connection:
        now = utcnow()
        lease_free = sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now)
        dead = sa.and_(Job.status == JobStatus.RUNNING, lease_free)
        overdue = sa.and_(Job.status == JobStatus.QUEUED, lease_free,
                          sa.func.coalesce(Job.next_attempt_at, Job.updated_at) <= now - timedelta(seconds=grace_seconds))
        rows = connection.execute(sa.select(Job.id, Job.status, Job.lease_owner).where(sa.or_(dead, overdue))
                                  .order_by(Job.id).limit(SWEEP_BATCH).with_for_update(skip_locked=True)).all()
        found = []
        for job_id, status, owner in rows:
            if status == JobStatus.QUEUED and job_id in waiting:
                continue
            requeued = connection.execute(
                sa.update(Job).where(Job.id == job_id, sa.or_(dead, overdue))
                .values(status=JobStatus.QUEUED, next_attempt_at=now, **release_values()))
            if requeued.rowcount == 1:
                found.append(job_id)
                if status == JobStatus.RUNNING:
                    log.warning("job %s: the lease of %s expired; resuming it at its first unfinished stage",
                                job_id, owner or "an earlier worker")
    for job_id in found:
        enqueue_job(settings, job_id)
    return found
