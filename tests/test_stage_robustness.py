"""A running stage and the rest of the system: cancel reaches it, it blocks no writer, it publishes
under exact names and the log says what really happened. Real pipeline, real ffmpeg, both databases."""

from __future__ import annotations

import logging
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from config import load_settings
from server import create_app, upgrade_database
from server.extensions import db
from server.intake import accept
from server.jobs import cancel_job
from server.models import STAGES, Job, JobStatus
from server.pipeline.runner import run_job
from server.pipeline.stages.publish import publish_job
from server.storage import LocalStore, StorageKeyError
from tests.conftest import wait_for

pytestmark = pytest.mark.pipeline
SENTENCES = ("The keeper climbed the spiral stairs every evening to light the great lamp above the rocks.",
             "Ships passing far out in the dark trusted that steady beam more than any chart they carried.",
             "When the November storm came in, the lamp stayed lit for three long nights without any rest.",
             "In the morning the harbour master counted every boat and found that not one had been lost.")


def _article(title: str, paragraphs: int) -> bytes:
    body = "\n\n".join(" ".join(SENTENCES[(i + j) % 4] for j in range(4)) for i in range(paragraphs))
    return f"# {title}\n\n{body}\n".encode()


def _job(app, job_id: int) -> Job:  # noqa: ANN001
    with app.app_context():
        job = db.session.get(Job, job_id)
        db.session.expunge(job)
        return job


def _ffmpeg_children() -> list[int]:
    """Pids of ffmpeg processes this test process started (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if name.startswith("ffmpeg") and int(rest[1]) == os.getpid():
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds ffmpeg's processes through /proc")
def test_cancel_stops_a_running_render_and_publishes_nothing(tmp_path: Path, settings) -> None:  # noqa: ANN001
    # Full-size frames and a long article: the render takes far longer than the cancel may.
    big = load_settings(home=tmp_path, database_url=settings.database_url, short_side=720, fps=30,
                        api_token="test-token-0123456789abcdef", cancel_poll_seconds=0.2, render_workers=1)
    app = create_app(big)
    upgrade_database(app)
    with app.app_context():
        job_id = accept(_article("Cancel me", 6), "cancel-me.md", None, big).job_id
    outcome: list[object] = []
    runner = threading.Thread(target=lambda: outcome.append(run_job(app, job_id)))
    runner.start()
    try:
        wait_for(lambda: _job(app, job_id).stage == "compose" and _ffmpeg_children(), timeout=240, interval=0.05)
        with app.app_context():
            asked = cancel_job(job_id)
            assert (asked.status, asked.cancel_requested) == (JobStatus.RUNNING, True)
        asked_at = time.monotonic()
        runner.join(timeout=30)
        stopped_in = time.monotonic() - asked_at
    finally:
        runner.join(timeout=300)
    assert outcome == [JobStatus.CANCELED]
    assert stopped_in < 10, f"the render went on for {stopped_in:.1f} s after the cancel"
    wait_for(lambda: not _ffmpeg_children(), timeout=10, interval=0.1)  # terminated, not left to finish
    job = _job(app, job_id)
    assert (job.status, job.lease_owner, job.cancel_requested) == (JobStatus.CANCELED, None, False)
    assert job.notes[-1] == "canceled during compose" and "compose" not in job.completed_stages
    assert not big.outbox_dir.exists() or list(big.outbox_dir.iterdir()) == []  # no video, no error note
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_running_stage_blocks_no_writer_on_sqlite(tmp_path: Path) -> None:
    """While the slow stages run (speech, the render), another connection writes within a
    second and the heartbeat keeps renewing the lease: no stage holds the write lock."""
    path = tmp_path / "var" / "mediabuddy.db"
    quick = load_settings(home=tmp_path, database_url=f"sqlite:///{path}", short_side=240, fps=10,
                          api_token="test-token-0123456789abcdef", lease_seconds=2)
    app = create_app(quick)
    upgrade_database(app)
    with app.app_context():
        job_id = accept(_article("Writers wait for nobody", 3), "writers.md", None, quick).job_id
    done = threading.Event()
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(run_job(app, job_id))
        finally:
            done.set()

    runner = threading.Thread(target=run)
    runner.start()
    writer = sqlite3.connect(path, timeout=1.0, isolation_level=None)  # "database is locked" after 1 s
    writer.execute("CREATE TABLE IF NOT EXISTS probe (at REAL)")
    waits, beats = [], set()
    try:
        while not done.is_set():
            started = time.monotonic()
            writer.execute("BEGIN IMMEDIATE")  # takes the write lock, as an upload's insert does
            writer.execute("INSERT INTO probe VALUES (?)", (started,))
            writer.execute("COMMIT")
            waits.append(time.monotonic() - started)
            stage, beat = writer.execute("SELECT stage, heartbeat_at FROM jobs WHERE id = ?", (job_id,)).fetchone()
            if stage in ("narration", "compose"):
                beats.add(beat)
            time.sleep(0.05)
    finally:
        runner.join(timeout=300)
        writer.close()
    assert outcome == [JobStatus.SUCCEEDED]
    assert max(waits) < 1.0 and len(waits) > 20
    assert len(beats) >= 3, f"the lease was renewed only {len(beats)} time(s) during narration and compose"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_dotted_names_publish_whole_and_the_log_says_what_ran(app, settings, tmp_path: Path,  # noqa: ANN001
                                                              caplog: pytest.LogCaptureFixture) -> None:
    with app.app_context():
        job_id = accept(_article("Release notes", 1), "team/release-1.2.md", None, settings).job_id
    caplog.set_level(logging.INFO, logger="mediabuddy.pipeline")
    assert run_job(app, job_id, stages=STAGES[:-1]) == JobStatus.SUCCEEDED
    said = [r.getMessage() for r in caplog.records if r.name == "mediabuddy.pipeline"]
    assert not any(re.search(r"published \S+\.mp4", line) for line in said), said
    assert any("nothing was published (publish was not asked for)" in line for line in said), said
    assert not settings.outbox_dir.exists() or list(settings.outbox_dir.iterdir()) == []

    with app.app_context():
        job = db.session.get(Job, job_id)
        chosen = LocalStore(tmp_path / "chosen")
        for name in ("release-1.2", "notes.v2"):
            publish_job(job, chosen, name)
        for bad in ("../escape", "a/b"):
            with pytest.raises(ValueError):
                publish_job(job, chosen, bad)
        with pytest.raises(StorageKeyError):
            publish_job(job, chosen, ".hidden")
    assert sorted(p.name for p in (tmp_path / "chosen").iterdir()) == sorted(
        f"{name}{suffix}" for name in ("release-1.2", "notes.v2") for suffix in (".jpg", ".json", ".mp4", ".srt"))
    assert not (tmp_path / "escape.mp4").exists()

    with app.app_context():  # now only publish is left: the log names the file it wrote
        job = db.session.get(Job, job_id)
        job.status, job.finished_at = JobStatus.QUEUED, None
        db.session.commit()
    caplog.clear()
    assert run_job(app, job_id) == JobStatus.SUCCEEDED
    said = [r.getMessage() for r in caplog.records if r.name == "mediabuddy.pipeline"]
    assert any(line.startswith(f"job {job_id} published team-release-1-2.mp4 to the outbox") for line in said), said
    assert (settings.outbox_dir / "team-release-1-2.mp4").is_file()


def test_store_writes_are_atomic_and_safe_between_threads(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    errors: list[BaseException] = []

    def write(n: int) -> None:
        try:
            for _ in range(30):
                store.put_text("shared/note.txt", f"writer {n}\n" * 200)
        except BaseException as error:  # noqa: BLE001 - collected for the assertion
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []  # each writer has its own temporary name (one per process was shared)
    text = store.read_text("shared/note.txt")
    assert len(set(text.splitlines())) == 1  # one writer's whole text, never a mix
    assert os.listdir(tmp_path / "store" / "shared") == ["note.txt"]

    first, second = store.scratch("cache/entry"), store.scratch("cache/entry")
    (first / "result.txt").write_text("first")
    (second / "result.txt").write_text("second")
    assert store.put_tree("cache/entry", first) is True
    assert store.put_tree("cache/entry", second) is False  # the first writer's entry stays
    assert store.read_text("cache/entry/result.txt") == "first"
    assert sorted(os.listdir(tmp_path / "store" / "cache")) == ["entry"]  # no scratch folder left

    source = tmp_path / "video.bin"
    source.write_bytes(b"\x01" * 1000)
    store.put_file("jobs/7/video.mp4", source, move=True)
    assert not source.exists() and store.local_path("jobs/7/video.mp4").read_bytes() == b"\x01" * 1000


@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_stored_files_get_the_modes_the_umask_gives_not_the_temporary_names(tmp_path: Path) -> None:
    """Temporary names come from mkstemp/mkdtemp (0600/0700): a published video, its .srt
    and .json were readable by their owner only (found looking at a render's outbox)."""
    import stat

    from server.storage import FILE_MODE, FOLDER_MODE

    store = LocalStore(tmp_path / "store")
    source = tmp_path / "video.bin"
    source.write_bytes(b"\x01" * 100)
    os.chmod(source, 0o600)
    store.put_file("out/a.mp4", source)
    store.put_file("out/b.mp4", source, move=True)
    store.put_text("out/a.json", "{}")
    folder = store.scratch("cache/entry")
    (folder / "result.txt").write_text("x")
    store.put_tree("cache/entry", folder)
    modes = {key: stat.S_IMODE(store.local_path(key).stat().st_mode)
             for key in ("out/a.mp4", "out/b.mp4", "out/a.json", "cache/entry/result.txt", "cache/entry")}
    assert modes == {**{key: FILE_MODE for key in modes}, "cache/entry": FOLDER_MODE}, modes
    assert FILE_MODE & stat.S_IRUSR and FOLDER_MODE & stat.S_IXUSR


def test_render_keeps_a_dotted_output_name_whole(tmp_path: Path) -> None:
    from server.render import render_file

    source = tmp_path / "release-1.2.md"
    source.write_bytes(_article("Release one point two", 1))
    quick = load_settings(home=tmp_path / "home", short_side=240, fps=10)
    made = render_file(quick, source, tmp_path / "out" / "release-1.2")  # no .mp4: the dot is part of the name
    assert made == (tmp_path / "out" / "release-1.2.mp4").resolve()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "release-1.2.jpg", "release-1.2.json", "release-1.2.mp4", "release-1.2.srt"]
