"""The job queue: Huey with SQLite storage by default, Redis when MEDIABUDDY_REDIS_URL is set."""

from __future__ import annotations

import logging

from huey import RedisHuey
from huey.api import Huey
from huey.storage import SqliteStorage

from config import Settings

log = logging.getLogger("mediabuddy.worker")
RETRY_DELAY_SECONDS = 10


class _TaskStorage(SqliteStorage):
    """Huey's SQLite storage with ``synchronous=NORMAL``: one fsync fewer per uploaded document.

    Safe because the job row in the main database is the durable record: a task lost to a
    power cut leaves its job QUEUED, and the worker re-queues such jobs when it starts.
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

    @huey.task(retries=settings.job_retries, retry_delay=RETRY_DELAY_SECONDS, context=True, name="run_job")
    def run_job_task(job_id: int, task=None) -> None:  # noqa: ANN001 - huey passes its Task
        from server.pipeline.runner import JobFailed, run_job

        app = _app_for(settings)
        final = task is None or task.retries == 0
        try:
            run_job(app, job_id, final_attempt=final)
        except JobFailed as failure:
            if not failure.retryable and task is not None:
                task.retries = 0  # a bad document stays bad: do not try again
            raise

    huey.mediabuddy_run_job = run_job_task  # type: ignore[attr-defined]
    return huey


def _app_for(settings: Settings):  # noqa: ANN202
    from server import create_app

    # Keyed by what the app is bound to: object ids can be reused once settings are collected.
    key = (settings.effective_database_url, str(settings.var_dir), str(settings.outbox_dir))
    if key not in _apps:
        _apps[key] = create_app(settings)
    return _apps[key]


def enqueue_job(settings: Settings, job_id: int) -> None:
    huey_for(settings).mediabuddy_run_job(job_id)


def run_consumer(settings: Settings) -> None:
    """Block running the worker until SIGINT/SIGTERM (Huey installs the handlers)."""
    huey = huey_for(settings)
    _resume_interrupted(settings)
    consumer = huey.create_consumer(workers=settings.worker_threads, worker_type="thread",
                                    periodic=False, check_worker_health=True)
    log.info("worker started (%s, %d thread(s))", type(huey).__name__, settings.worker_threads)
    consumer.run()


def _resume_interrupted(settings: Settings) -> None:
    """Re-queue jobs a killed worker left behind; their finished stages are kept.

    Huey forgets a task once a worker takes it, so a job is stranded when its worker died
    while it was RUNNING, or after taking its task but before marking it RUNNING (QUEUED
    with no task pending). Both kinds are queued again; a duplicate run of a finished job
    is a no-op.
    """
    from server.extensions import db
    from server.models import Job, JobStatus

    huey = huey_for(settings)
    pending = {task.args[0] for task in huey.pending() if task.args}
    app = _app_for(settings)
    with app.app_context():
        stranded = db.session.query(Job).filter(Job.status.in_([JobStatus.RUNNING, JobStatus.QUEUED])).all()
        stranded = [job for job in stranded if job.status == JobStatus.RUNNING or job.id not in pending]
        for job in stranded:
            job.status = JobStatus.QUEUED
        db.session.commit()
        ids = [job.id for job in stranded]
    for job_id in ids:
        log.warning("job %s was interrupted; resuming it", job_id)
        enqueue_job(settings, job_id)
