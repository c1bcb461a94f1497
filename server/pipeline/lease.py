"""Leases: how a worker claims a job so that no other worker runs it at the same time.

A claim is one transaction that turns a claimable job into RUNNING with this worker as its
lease owner and an expiry a little in the future. On PostgreSQL the candidate row is first
locked with ``SELECT … FOR UPDATE SKIP LOCKED`` (a row another worker is claiming or
committing is skipped, not waited for); on both databases the UPDATE repeats the whole
condition, so on SQLite — where writers are serialised — the conditional UPDATE alone is
the atomic step and ``rowcount`` says who won.

While the job runs, a ``Heartbeat`` thread pushes the expiry forward. A worker that is
killed stops beating; once its lease expires the job is claimable again and resumes at its
first unfinished stage. A worker that finds its lease gone (it stalled past the expiry and
someone else took over) stops before committing anything more.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from server.models import Job, JobStatus
from server.pipeline.cancel import CancelToken

log = logging.getLogger("mediabuddy.lease")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def process_owner(name: str | None = None) -> str:
    """This process's part of a lease owner: MEDIABUDDY_WORKER_NAME (or the host) and the pid."""
    return f"{name or socket.gethostname()}:{os.getpid()}"[:100]


def default_owner(name: str | None = None) -> str:
    """A lease owner name unique to this process and thread (a worker may run several jobs)."""
    return f"{process_owner(name)}/{threading.current_thread().name}"[:128]


@dataclass(frozen=True)
class Lease:
    job_id: int
    owner: str
    attempt: int  # 1 for the first run, 2 for the first retry or resumption...


class LeaseLost(Exception):
    """This worker no longer holds the job's lease; another worker has taken it over."""

    def __init__(self, lease: Lease):
        super().__init__(f"job {lease.job_id}: lease of {lease.owner} was lost")
        self.lease = lease


def claimable(now: datetime) -> sa.ColumnElement[bool]:
    """Queued and due with no live lease, or running with an expired (or no) lease."""
    lease_free = sa.or_(Job.lease_expires_at.is_(None), Job.lease_expires_at < now)
    due = sa.or_(Job.next_attempt_at.is_(None), Job.next_attempt_at <= now)
    return sa.or_(sa.and_(Job.status == JobStatus.QUEUED, due, lease_free),
                  sa.and_(Job.status == JobStatus.RUNNING, lease_free))


def claim(engine: Engine, job_id: int, owner: str, lease_seconds: float) -> Lease | None:
    """Claim ``job_id`` for ``owner``; None when it is finished, not due, or held by a live lease."""
    with engine.begin() as connection:
        return _claim(connection, Job.id == job_id, owner, lease_seconds)


def claim_next(engine: Engine, owner: str, lease_seconds: float) -> Lease | None:
    """Claim the oldest claimable job, skipping rows other workers have locked."""
    with engine.begin() as connection:
        return _claim(connection, sa.true(), owner, lease_seconds)


def _claim(connection: Connection, which: sa.ColumnElement[bool], owner: str, lease_seconds: float) -> Lease | None:
    now = utcnow()
    candidates = connection.execute(
        sa.select(Job.id).where(which, claimable(now)).order_by(Job.id).limit(5)
        .with_for_update(skip_locked=True)).all()  # SQLite renders no FOR UPDATE; the UPDATE decides
    for (job_id,) in candidates:
        won = connection.execute(
            sa.update(Job).where(Job.id == job_id, claimable(now))
            .values(status=JobStatus.RUNNING, lease_owner=owner,
                    lease_expires_at=now + timedelta(seconds=lease_seconds), heartbeat_at=now,
                    next_attempt_at=None, attempts=Job.attempts + 1, updated_at=now))
        if won.rowcount == 1:  # read back under the write lock: the candidate's count may be stale
            attempt = connection.execute(sa.select(Job.attempts).where(Job.id == job_id)).scalar_one()
            return Lease(job_id, owner, attempt)
    return None


def renew(connection: Connection, lease: Lease, lease_seconds: float) -> bool:
    """Push the lease's expiry forward; False when this worker no longer holds it."""
    now = utcnow()
    renewed = connection.execute(
        sa.update(Job).where(Job.id == lease.job_id, Job.lease_owner == lease.owner, Job.status == JobStatus.RUNNING)
        .values(lease_expires_at=now + timedelta(seconds=lease_seconds), heartbeat_at=now))
    return renewed.rowcount == 1


def release_values() -> dict[str, object]:
    """Columns that end a lease, for the update that also records the job's outcome."""
    return {"lease_owner": None, "lease_expires_at": None}


class Heartbeat(threading.Thread):
    """Renews a lease every third of its length until stopped; notices loss and cancel requests.

    Every ``poll_seconds`` it reads the job's cancel flag (one primary-key read); on a
    cancel request, or when the lease turns out lost, it cancels ``token``, which stops the
    running stage's child processes (``pipeline.cancel``).
    """

    def __init__(self, engine: Engine, lease: Lease, lease_seconds: float, *, token: CancelToken | None = None,
                 poll_seconds: float = 1.0):
        super().__init__(name=f"heartbeat-job-{lease.job_id}", daemon=True)
        self.engine = engine
        self.lease = lease
        self.lease_seconds = lease_seconds
        self.poll_seconds = min(poll_seconds, lease_seconds / 3)
        self.token = token
        self.lost = threading.Event()
        self.cancel_requested = threading.Event()
        self._halt = threading.Event()

    def run(self) -> None:
        renewed = time.monotonic()
        while not self._halt.wait(self.poll_seconds):
            try:
                due = time.monotonic() - renewed >= self.lease_seconds / 3 - self.poll_seconds / 2
                if due:
                    with self.engine.begin() as connection:
                        if not renew(connection, self.lease, self.lease_seconds):
                            log.warning("job %s: lease lost by %s", self.lease.job_id, self.lease.owner)
                            self.lost.set()
                            if self.token is not None:
                                self.token.cancel()  # its work would be thrown away: stop it now
                            return
                    gap, renewed = time.monotonic() - renewed, time.monotonic()
                    if gap > self.lease_seconds * 2 / 3:  # a starved process or a lock: the lease nearly ran out
                        log.warning("job %s: heartbeat %.1f s late (lease %.0f s)", self.lease.job_id,
                                    gap - self.lease_seconds / 3, self.lease_seconds)
                if self.cancel_requested.is_set():
                    continue  # the lease is still renewed until the runner records the cancel
                with self.engine.connect() as connection:
                    asked = connection.execute(
                        sa.select(Job.cancel_requested).where(Job.id == self.lease.job_id)).scalar()
                if asked:
                    log.info("job %s: cancel requested; stopping the running stage", self.lease.job_id)
                    self.cancel_requested.set()
                    if self.token is not None:
                        self.token.cancel()
            except Exception as error:  # noqa: BLE001 - a database blip: the next beat tries again
                log.warning("job %s: heartbeat could not renew the lease (%s); trying again", self.lease.job_id,
                            str(error).splitlines()[0][:200])

    def stop(self) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout=10)
