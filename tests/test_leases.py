"""Leases, retries, cancel and skip, on both databases, with the real pipeline.

A killed worker is simulated by what it leaves behind (a RUNNING row whose lease has run
out); the real `kill -9` of worker processes is in test_scale_out.py.
"""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from server.extensions import db
from server.intake import accept
from server.jobs import JobStateConflict, cancel_job, retry_job
from server.models import Job, JobStatus, Scene
from server.pipeline import lease
from server.pipeline.runner import PIPELINE, JobFailed, run_job
from server.worker import huey_for
from tests.conftest import wait_for

pytestmark = pytest.mark.pipeline
ARTICLE = ("# Leases\n\nA worker claims this job and renews its lease while it works. "
           "If the worker dies, another one resumes the job where it stopped.\n")


def _jobs(app, settings, count: int = 1) -> list[int]:
    with app.app_context():
        return [accept(f"{ARTICLE}\nCopy {i}.\n".encode(), f"lease-{i}.md", None, settings).job_id
                for i in range(count)]


def _job(app, job_id: int) -> Job:
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


@pytest.fixture(autouse=True)
def _empty_queue(settings):
    yield
    huey_for(settings).flush()


def test_each_job_is_claimed_by_exactly_one_of_many_racing_workers(app, settings) -> None:
    ids = _jobs(app, settings, 12)
    with app.app_context():
        engine = db.engine
    claims: list[lease.Lease] = []
    start = threading.Barrier(6)

    def worker(n: int) -> None:
        start.wait()
        while (won := lease.claim_next(engine, f"racer-{n}", 30)) is not None:
            claims.append(won)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(c.job_id for c in claims) == sorted(ids)  # every job once, none twice
    assert {c.attempt for c in claims} == {1}
    assert lease.claim(engine, ids[0], "late", 30) is None  # a live lease is not taken
    with app.app_context():
        owners = {j.id: j.lease_owner for j in db.session.query(Job)}
    assert owners == {c.job_id: c.owner for c in claims}


def test_a_job_whose_worker_died_resumes_at_its_first_unfinished_stage(app, settings) -> None:
    (job_id,) = _jobs(app, settings)
    run_job(app, job_id, stages=("extract", "voice", "timeline"))
    with app.app_context():
        scene_ids = [s.id for s in db.session.query(Scene).filter_by(job_id=job_id)]
        job = db.session.get(Job, job_id)  # what a worker killed during "images" leaves behind:
        job.status, job.stage, job.lease_owner = JobStatus.RUNNING, "images", "dead-host:4242/worker-1"
        job.lease_expires_at = lease.utcnow() + timedelta(seconds=30)
        db.session.commit()
    assert run_job(app, job_id) is None  # its lease is still live: nobody else may run it
    with app.app_context():
        db.session.get(Job, job_id).lease_expires_at = lease.utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert run_job(app, job_id, owner="new-host:1/worker-1") == JobStatus.SUCCEEDED
    with app.app_context():
        job = db.session.get(Job, job_id)
        assert [s.id for s in job.scenes] == scene_ids  # the timeline was not recomputed
        assert (job.attempts, job.lease_owner, job.completed_stages) == (2, None, [name for name, _ in PIPELINE])
    assert (settings.outbox_dir / "lease-0.mp4").exists()


def test_a_worker_that_lost_its_lease_commits_nothing_more(app, settings) -> None:
    (job_id,) = _jobs(app, settings)
    outcome: list[object] = []
    runner = threading.Thread(target=lambda: outcome.append(run_job(app, job_id, owner="slow:1/t")))
    runner.start()
    wait_for(lambda: "extract" in _job(app, job_id).completed_stages, timeout=60, interval=0.01)
    with app.app_context():  # another worker took over (as if this one had stalled past its lease)
        job = db.session.get(Job, job_id)
        job.lease_owner, job.lease_expires_at = "thief:2/t", lease.utcnow() + timedelta(seconds=60)
        db.session.commit()
        taken_over_with = list(db.session.get(Job, job_id).completed_stages)
    runner.join(timeout=120)
    assert outcome == [None]
    job = _job(app, job_id)
    assert job.completed_stages == taken_over_with and len(taken_over_with) < len(PIPELINE)
    assert (job.status, job.lease_owner) == (JobStatus.RUNNING, "thief:2/t")
    assert not (settings.outbox_dir / "lease-0.mp4").exists()


def test_a_failing_job_is_retried_with_backoff_then_fails_and_resumes_on_retry(app, settings) -> None:
    from server import create_app

    impatient = create_app(settings.model_copy(update={"retry_backoff_seconds": 0.3, "job_retries": 1}))
    (job_id,) = _jobs(app, settings)
    blocker = settings.var_dir / "jobs" / str(job_id)  # compose cannot make its work folder: a file is there
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("in the way")
    with pytest.raises(JobFailed) as first:
        run_job(impatient, job_id, final_attempt=None)
    assert first.value.retry_in == pytest.approx(0.3)
    job = _job(app, job_id)
    assert (job.status, job.stage, job.lease_owner) == (JobStatus.QUEUED, "compose", None)
    assert job.error.startswith("compose: ") and job.next_attempt_at is not None
    assert run_job(impatient, job_id, final_attempt=None) is None  # not due yet
    wait_for(lambda: _job(app, job_id).next_attempt_at.replace(tzinfo=None) <= lease.utcnow().replace(tzinfo=None),
             timeout=5, interval=0.05)
    with pytest.raises(JobFailed) as last:
        run_job(impatient, job_id, final_attempt=None)
    assert last.value.retry_in is None  # the one retry allowed is spent
    job = _job(app, job_id)
    assert (job.status, job.stage) == (JobStatus.FAILED, "compose")
    note = (settings.outbox_dir / "lease-0.error.txt").read_text()
    assert "the compose stage" in note and "mediabuddy jobs retry" in note
    seconds_before = dict(job.stage_seconds)

    blocker.unlink()
    with impatient.app_context():
        assert retry_job(job_id).status == JobStatus.QUEUED
        with pytest.raises(JobStateConflict):
            retry_job(job_id)  # already queued
    assert run_job(impatient, job_id, final_attempt=None) == JobStatus.SUCCEEDED
    job = _job(app, job_id)
    for stage in ("extract", "voice", "timeline", "images", "narration"):  # not run again
        assert job.stage_seconds[stage] == seconds_before[stage]
    assert not (settings.outbox_dir / "lease-0.error.txt").exists()
    assert (settings.outbox_dir / "lease-0.mp4").exists()
    with impatient.app_context():
        db.session.remove()
        db.engine.dispose()


def test_cancel_a_queued_job_at_once_and_a_running_one_soon(app, settings) -> None:
    queued, running = _jobs(app, settings, 2)
    with app.app_context():
        assert cancel_job(queued).status == JobStatus.CANCELED
        assert cancel_job(queued).status == JobStatus.CANCELED  # asking twice is fine
    assert run_job(app, queued) is None
    outcome: list[object] = []
    runner = threading.Thread(target=lambda: outcome.append(run_job(app, running)))
    runner.start()
    wait_for(lambda: "extract" in _job(app, running).completed_stages, timeout=60, interval=0.01)
    with app.app_context():
        asked = cancel_job(running)
        assert (asked.status, asked.cancel_requested) == (JobStatus.RUNNING, True)
    runner.join(timeout=120)
    assert outcome == [JobStatus.CANCELED]
    job = _job(app, running)
    assert (job.status, job.lease_owner, job.cancel_requested) == (JobStatus.CANCELED, None, False)
    assert len(job.completed_stages) < len(PIPELINE)
    assert job.notes[-1].startswith(("canceled before ", "canceled during "))  # between stages or inside one
    assert not (settings.outbox_dir / "lease-1.mp4").exists()
    with app.app_context():
        retry_job(running)
    assert run_job(app, running) == JobStatus.SUCCEEDED
    with app.app_context(), pytest.raises(JobStateConflict, match="succeeded"):
        cancel_job(running)


def test_a_draft_ends_skipped_with_a_note_and_no_error_file(app, settings) -> None:
    with app.app_context():
        job_id = accept(b"---\ndraft: true\n---\n# Not yet\n\nThis article is not finished, so no video yet.\n",
                        "not-yet.md", None, settings).job_id
    assert run_job(app, job_id, final_attempt=None) == JobStatus.SKIPPED
    job = _job(app, job_id)
    assert (job.status, job.error, job.lease_owner, job.completed_stages) == (JobStatus.SKIPPED, None, None, [])
    assert job.notes[-1].startswith("skipped: the front matter says draft: true")
    assert not settings.outbox_dir.exists() or list(settings.outbox_dir.iterdir()) == []


def test_a_job_that_keeps_killing_its_worker_fails_instead_of_looping(app, settings) -> None:
    (job_id,) = _jobs(app, settings)
    with app.app_context():
        job = db.session.get(Job, job_id)
        job.status, job.stage, job.attempts = JobStatus.RUNNING, "narration", settings.job_retries + 1
        job.lease_owner, job.lease_expires_at = "oom:1/t", lease.utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert run_job(app, job_id, final_attempt=None) == JobStatus.FAILED
    job = _job(app, job_id)
    assert job.status == JobStatus.FAILED and "stopped 3 times" in job.error
    assert "stopped 3 times" in (settings.outbox_dir / "lease-0.error.txt").read_text()
