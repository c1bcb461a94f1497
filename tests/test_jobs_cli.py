"""`mediabuddy jobs list|show|retry|cancel` on both databases, and the storage class's key checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli import main
from server.extensions import db
from server.intake import accept
from server.models import Job, JobStatus
from server.storage import LocalStore, StorageKeyError
from server.worker import huey_for

pytestmark = pytest.mark.utils


def test_jobs_commands_list_show_cancel_and_retry(app, settings, database_url, tmp_path) -> None:
    with app.app_context():
        ids = [accept(f"# Note {n}\n\nA short note number {n} for the jobs command.\n".encode(), f"n{n}.md", None,
                      settings).job_id for n in range(2)]
        done = db.session.get(Job, ids[1])
        done.status = JobStatus.SUCCEEDED
        db.session.commit()
    runner = CliRunner()
    env = {"MEDIABUDDY_HOME": str(tmp_path), "DATABASE_URL": database_url, "COLUMNS": "200"}

    def run(*args: str):  # noqa: ANN202
        return runner.invoke(main, ["jobs", *args], env=env)

    listed = json.loads(run("list", "--json").output)
    assert [(j["id"], j["status"]) for j in listed] == [(ids[1], "succeeded"), (ids[0], "queued")]
    assert [j["id"] for j in json.loads(run("list", "--status", "queued", "--json").output)] == [ids[0]]
    assert "n0.md" in run("list").output

    canceled = run("cancel", str(ids[0]))
    assert canceled.exit_code == 0 and "is canceled" in canceled.output
    assert json.loads(run("show", str(ids[0])).output)["status"] == "canceled"
    refused = run("cancel", str(ids[1]))
    assert refused.exit_code == 1 and f"job {ids[1]} is succeeded" in refused.output
    assert run("retry", str(ids[1])).exit_code == 1  # a finished video is not retried
    missing = run("show", "999")
    assert missing.exit_code == 1 and "there is no job 999" in missing.output

    retried = run("retry", str(ids[0]))
    assert retried.exit_code == 0 and "queued again" in retried.output
    assert json.loads(run("show", str(ids[0])).output)["status"] == "queued"
    assert [t.args[0] for t in huey_for(settings).pending()] == [ids[0]]  # the worker gets a task
    huey_for(settings).flush()


@pytest.mark.parametrize("key", ["../escape.mp4", "/etc/passwd", "a/../../b", ".hidden", "a\\b", "x\x00.mp4", ""])
def test_storage_keys_cannot_leave_the_store(tmp_path: Path, key: str) -> None:
    with pytest.raises(StorageKeyError):
        LocalStore(tmp_path / "outbox").put_text(key, "no")
    assert not (tmp_path / "escape.mp4").exists()


def test_storage_writes_whole_files_into_place(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "outbox")
    source = tmp_path / "video.bin"
    source.write_bytes(b"\x00" * 4096)
    store.put_file("team/post.mp4", source)
    store.put_text("team/post.error.txt", "what failed")
    assert (tmp_path / "outbox" / "team" / "post.mp4").read_bytes() == source.read_bytes()
    assert store.exists("team/post.error.txt")
    store.delete("team/post.error.txt")
    assert sorted(p.name for p in (tmp_path / "outbox" / "team").iterdir()) == ["post.mp4"]  # no temp files left
