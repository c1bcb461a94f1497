"""Scale-out for real: three `mediabuddy worker` processes on this machine's PostgreSQL and Redis.

Thirty short jobs; one worker is `kill -9`ed while it holds a job. Every job must end
SUCCEEDED with its video, and the workers' own logs must show that no stage of any job
finished twice, that the dead worker's job was resumed once by a live worker, and that any
other job claimed twice was given up by a worker that had stalled past its lease (on a
machine this loaded a heartbeat can miss a 5 s lease): it stopped and committed nothing more.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import redis
import sqlalchemy as sa

from config import load_settings
from server.extensions import db
from server.intake import accept
from server.models import Job, JobStatus
from server.pipeline.runner import PIPELINE
from server.worker import enqueue_job
from tests.conftest import POSTGRES_URL, _reset_postgres, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/11"  # its own db: flushing it empties no other test's queue
JOBS = 30
CLAIMED = re.compile(r"^job (\d+) claimed by (\S+) \(attempt (\d+)\)$")
DONE = re.compile(r"^job (\d+): (\w+) done in [\d.]+ s by (\S+)$")
GAVE_UP = re.compile(r"^job (\d+): another worker took it over during \w+; this run stops$")


def _article(n: int) -> bytes:
    return (f"# Scale note {n}\n\nWorker test article number {n}. It is short on purpose, "
            f"so thirty of them render quickly.\n").encode()


def _start_worker(name: str, home: Path, **overrides: str) -> tuple[subprocess.Popen, Path]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIABUDDY_", "DATABASE_URL"))}
    env.update(MEDIABUDDY_HOME=str(home), DATABASE_URL=POSTGRES_URL, MEDIABUDDY_REDIS_URL=REDIS_URL,
               MEDIABUDDY_SHORT_SIDE="240", MEDIABUDDY_FPS="10", MEDIABUDDY_LEASE_SECONDS="5",
               MEDIABUDDY_LEASE_SWEEP_SECONDS="1", MEDIABUDDY_WORKER_NAME=name, MEDIABUDDY_LOG_FORMAT="json",
               MEDIABUDDY_RENDER_WORKERS="1", PYTHONPATH=str(ROOT))
    env.update(overrides)
    env = {k: v for k, v in env.items() if v != ""}  # an empty override removes the setting
    log = home / f"{name}.log"
    with log.open("w") as sink:
        process = subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=home, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT)
    return process, log


def _messages(log: Path) -> list[str]:
    lines = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            lines.append(json.loads(line)["message"])
        except (ValueError, KeyError):
            continue  # a line cut by kill -9, or a traceback line
    return lines


@pytest.mark.timeout(900)  # about 90 s on a quiet 2-core machine; much more when it is shared
def test_three_workers_share_thirty_jobs_and_a_killed_one_changes_nothing(tmp_path: Path) -> None:
    from server import create_app, upgrade_database

    _reset_postgres(POSTGRES_URL)
    queue = redis.Redis.from_url(REDIS_URL)
    queue.flushdb()
    settings = load_settings(home=tmp_path, database_url=POSTGRES_URL, redis_url=REDIS_URL, short_side=240, fps=10)
    app = create_app(settings)
    upgrade_database(app)
    workers = {name: _start_worker(name, tmp_path) for name in ("w1", "w2", "w3")}
    try:
        with app.app_context():
            ids = [accept(_article(n), f"batch/note-{n}.md", None, settings).job_id for n in range(JOBS)]
        started = time.monotonic()
        for job_id in ids:
            enqueue_job(settings, job_id)

        def statuses() -> Counter:
            with app.app_context():
                rows = db.session.execute(sa.select(Job.status, Job.lease_owner)).all()
                db.session.remove()
            return Counter(status for status, _ in rows), [owner for _, owner in rows if owner]

        def victim_busy() -> bool:  # w2 holds a job, and some work is done: a kill "midway"
            done, owners = statuses()
            return done[JobStatus.SUCCEEDED] >= 5 and any(o.startswith("w2:") for o in owners)

        wait_for(victim_busy, timeout=300, interval=0.05)
        workers["w2"][0].send_signal(signal.SIGKILL)
        workers["w2"][0].wait(timeout=10)
        with app.app_context():  # what the dead worker left: its lease runs out in 5 s
            held = [j for (j,) in db.session.execute(sa.select(Job.id).where(Job.lease_owner.like("w2:%")))]
            db.session.remove()
        assert held, "the kill was meant to interrupt a job"

        wait_for(lambda: statuses()[0][JobStatus.SUCCEEDED] == JOBS, timeout=600, interval=0.5)
        elapsed = time.monotonic() - started
    finally:
        for process, _ in workers.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process, _ in workers.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
        queue.flushdb()
        queue.close()

    claims, stages_done, gave_up = [], Counter(), set()
    for name, (_, log) in workers.items():
        for message in _messages(log):
            if match := CLAIMED.match(message):
                claims.append((int(match[1]), match[2].split(":")[0], int(match[3])))  # w1:pid/thread
            elif match := DONE.match(message):
                stages_done[(int(match[1]), match[2])] += 1
            elif match := GAVE_UP.match(message):
                gave_up.add((int(match[1]), name))
    # No stage of any job finished twice (the killed worker may not have logged its last commit).
    assert max(stages_done.values()) == 1
    assert len(stages_done) >= JOBS * len(PIPELINE) - len(held)
    claims.sort(key=lambda claim: claim[2])  # by attempt: the logs are read one worker after another
    per_job = Counter(job for job, _, _ in claims)
    assert set(per_job) == set(ids)
    for job in held:  # the dead worker's job: resumed by a live worker
        owners = [owner for j, owner, _ in claims if j == job]
        assert owners[0] == "w2" and owners[1] in ("w1", "w3")
    for job in {job for job, count in per_job.items() if count > 1} - set(held):
        owners = [owner for j, owner, _ in claims if j == job]
        assert all((job, owner) in gave_up for owner in owners[:-1]), (job, owners)  # each earlier one stopped
    stalls = sum(count - 1 for job, count in per_job.items() if job not in held)
    assert {owner for _, owner, _ in claims} == {"w1", "w2", "w3"}  # the work was shared
    outbox = tmp_path / "outbox"
    assert len(list(outbox.glob("*.mp4"))) == JOBS and not list(outbox.glob("*.error.txt"))
    print(f"\n{JOBS} jobs on 3 workers (one killed) in {elapsed:.1f} s; resumed after the kill: {held}; "
          f"taken over from a stalled worker: {stalls}")


def test_a_stopped_worker_hands_its_job_back_and_the_next_resumes_it_at_once(tmp_path: Path) -> None:
    """SIGTERM (what `mediabuddy up` sends) does not wait for the job; its lease is released, not left to expire."""
    from server import create_app, upgrade_database

    settings = load_settings(home=tmp_path, short_side=240, fps=10)  # SQLite and SqliteHuey: one machine
    app = create_app(settings)
    upgrade_database(app)
    with app.app_context():
        job_id = accept(_article(0), "handback.md", None, settings).job_id
    enqueue_job(settings, job_id)

    def job() -> Job:
        with app.app_context():
            row = db.session.get(Job, job_id)
            db.session.expunge(row)
            db.session.remove()
            return row

    env = {"DATABASE_URL": settings.effective_database_url, "MEDIABUDDY_REDIS_URL": "",
           "MEDIABUDDY_LEASE_SECONDS": "600"}  # so only the hand-back can explain a quick resume
    first, log = _start_worker("first", tmp_path, **env)
    try:
        wait_for(lambda: job().lease_owner and job().completed_stages, timeout=120, interval=0.05)
        first.send_signal(signal.SIGTERM)
        first.wait(timeout=30)
        handed = job()
        assert (handed.status, handed.lease_owner) == (JobStatus.QUEUED, None)
        assert any("handed back unfinished" in m for m in _messages(log))
        done_before = list(handed.completed_stages)
        second, second_log = _start_worker("second", tmp_path, **env)
        try:
            wait_for(lambda: job().status == JobStatus.SUCCEEDED, timeout=120, interval=0.2)
        finally:
            second.send_signal(signal.SIGINT)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
        with app.app_context():
            db.engine.dispose()
    redone = [m for m in _messages(second_log) if DONE.match(m) and DONE.match(m)[2] in done_before]
    assert redone == []  # resumed after the stages the first worker finished
    assert (tmp_path / "outbox" / "handback.mp4").exists()
