"""The job queue on both backends: SQLite (default) and the real Redis on this machine."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from server.extensions import db
from server.models import Job, JobStatus
from server.worker import enqueue_job, huey_for
from tests.conftest import wait_for

pytestmark = pytest.mark.pipeline
ARTICLE = b"# Queue check\n\nThis short article only exists to travel through the job queue and back again.\n"
ROOT = Path(__file__).resolve().parents[1]
REDIS_URL = "redis://127.0.0.1:6379/10"  # its own db: flushing it empties no other test's queue


@pytest.fixture(params=["sqlite", "redis"])
def queue_settings(request, settings):
    if request.param == "redis":
        settings = settings.model_copy(update={"redis_url": REDIS_URL})
    huey = huey_for(settings)
    huey.flush()
    yield settings
    huey.flush()


def test_a_posted_document_is_queued_and_the_worker_runs_it(queue_settings, auth) -> None:
    from server import create_app, upgrade_database

    app = create_app(queue_settings)
    upgrade_database(app)
    response = app.test_client().post("/api/v1/documents?filename=queue.md", data=ARTICLE,
                                      headers={**auth, "Content-Type": "text/markdown"})
    assert response.status_code == 201
    huey = huey_for(queue_settings)
    assert type(huey.storage).__name__ == ("RedisStorage" if queue_settings.redis_url else "_TaskStorage")
    assert huey.pending_count() == 1
    task = huey.dequeue()
    huey.execute(task)  # what the consumer does with each task it takes
    with app.app_context():
        job = db.session.get(Job, response.json["job"]["id"])
        assert job.status == JobStatus.SUCCEEDED
        db.session.remove()
        db.engine.dispose()
    assert (queue_settings.outbox_dir / "queue.mp4").exists()


def test_enqueue_is_per_settings(settings) -> None:
    other = settings.model_copy(update={"redis_url": REDIS_URL})
    assert huey_for(settings) is huey_for(settings)
    assert huey_for(settings) is not huey_for(other)
    enqueue_job(other, 12345)
    assert huey_for(other).pending_count() == 1
    huey_for(other).flush()


def test_a_starting_worker_requeues_only_stranded_jobs(settings, auth) -> None:
    from datetime import timedelta

    from server import create_app, upgrade_database
    from server.pipeline.lease import utcnow
    from server.worker import requeue_stranded

    app = create_app(settings)
    upgrade_database(app)
    huey = huey_for(settings)
    huey.flush()
    client = app.test_client()
    ids = [client.post(f"/api/v1/documents?filename=n{i}.md", data=ARTICLE + str(i).encode(),
                       headers={**auth, "Content-Type": "text/markdown"}).json["job"]["id"] for i in range(4)]
    huey.dequeue()  # a worker took job 0's task and died before claiming it
    huey.dequeue()
    huey.dequeue()
    with app.app_context():
        died = db.session.get(Job, ids[1])  # died mid-job: its lease ran out
        died.status, died.lease_owner, died.lease_expires_at = JobStatus.RUNNING, "gone:1", utcnow() - timedelta(seconds=1)
        alive = db.session.get(Job, ids[2])  # another worker is running it right now
        alive.status, alive.lease_owner, alive.lease_expires_at = JobStatus.RUNNING, "busy:2", utcnow() + timedelta(60)
        db.session.commit()
    assert sorted(requeue_stranded(settings, grace_seconds=0)) == [ids[0], ids[1]]
    assert sorted(t.args[0] for t in huey.pending()) == [ids[0], ids[1], ids[3]]  # each job once, not the live one
    assert requeue_stranded(settings, grace_seconds=60) == []  # their timers restarted: a second sweep adds nothing
    with app.app_context():
        assert db.session.get(Job, ids[1]).status == JobStatus.QUEUED
        assert db.session.get(Job, ids[1]).lease_owner is None
        assert db.session.get(Job, ids[2]).lease_owner == "busy:2"
    huey.flush()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="POSIX priorities")
def test_a_worker_yields_the_cpu_to_the_api_and_daemon(tmp_path) -> None:
    """A real `mediabuddy worker` lowers its own priority, so the renders it runs (its
    children inherit it) wait behind the API's requests instead of delaying them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIABUDDY_", "DATABASE_URL"))}
    env.update(MEDIABUDDY_HOME=str(tmp_path), MEDIABUDDY_WORKER_NICE="7", PYTHONPATH=str(ROOT))
    subprocess.run([sys.executable, "-m", "cli", "db", "upgrade"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    log = tmp_path / "worker.log"
    with log.open("w") as sink:
        process = subprocess.Popen([sys.executable, "-m", "cli", "worker"], cwd=tmp_path, env=env, stdout=sink,
                                   stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: "worker started" in log.read_text(errors="replace"), timeout=60)
        assert os.getpriority(os.PRIO_PROCESS, process.pid) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 7)
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_a_worker_on_an_unmigrated_database_says_what_to_run(tmp_path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MEDIABUDDY_", "DATABASE_URL"))}
    env.update(MEDIABUDDY_HOME=str(tmp_path), PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-m", "cli", "worker"], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 1
    assert "the database is empty" in done.stderr and "mediabuddy db upgrade" in done.stderr
    assert "Traceback" not in done.stderr
