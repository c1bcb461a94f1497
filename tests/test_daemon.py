"""The daemon against the real API under waitress, with real watchdog on real temp folders."""

import threading
import time
from pathlib import Path

import pytest

from daemon.admin import dead_letters, purge, queue_status, replay
from daemon.service import DaemonError, InboxDaemon
from server.extensions import db
from server.models import Document
from tests.conftest import wait_for

pytestmark = pytest.mark.daemon
BODY = "# Note\n\nA few words that are enough for a narrated video to be made.\n"


@pytest.fixture
def running_daemon(settings, live_server):
    settings = settings.model_copy(update={"server_url": live_server})
    settings.inbox_dir.mkdir(parents=True, exist_ok=True)
    daemon = InboxDaemon(settings)
    thread = threading.Thread(target=daemon.run, name="daemon-under-test")
    thread.start()
    wait_for(lambda: daemon.queue is not None)
    yield daemon
    stopped_at = time.monotonic()
    daemon.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - stopped_at < 2.5  # stops within a couple of seconds


def documents(app) -> list[str]:
    with app.app_context():
        return sorted(d.source_path for d in db.session.query(Document))


def test_a_dropped_file_is_delivered_once(running_daemon, app, settings) -> None:
    (settings.inbox_dir / "hello.md").write_text(BODY)
    wait_for(lambda: documents(app) == ["hello.md"])
    time.sleep(settings.stability_seconds * 3)
    running_daemon.scan(settings.inbox_dir)  # a rescan of an unchanged file sends nothing
    time.sleep(settings.stability_seconds * 3)
    assert documents(app) == ["hello.md"]
    status = wait_for(lambda: (lambda s: s if s["delivered"] == 1 and s["in_flight"] == 0 else None)(
        queue_status(settings)))
    assert (status["running"], status["queued"], status["retrying"], status["dead_lettered"]) == (True, 0, 0, 0)


def test_slow_writer_gets_one_post_with_the_whole_content(running_daemon, app, settings) -> None:
    target = settings.inbox_dir / "slow.md"
    with target.open("w") as handle:
        for line in BODY.splitlines(keepends=True) * 3:
            handle.write(line)
            handle.flush()
            time.sleep(0.15)
    wait_for(lambda: documents(app) == ["slow.md"])
    with app.app_context():
        assert db.session.query(Document).one().content == BODY * 3


def test_part_files_count_once_renamed_and_junk_is_ignored(running_daemon, app, settings) -> None:
    for junk in ("x.md.part", ".hidden.md", "notes.txt", "~$draft.md", "draft.md.swp", ".DS_Store", "x.md~"):
        (settings.inbox_dir / junk).write_text(BODY + junk)
    partial = settings.inbox_dir / "final.md.part"
    partial.write_text(BODY + "final")
    partial.rename(settings.inbox_dir / "final.md")
    wait_for(lambda: documents(app) == ["final.md"])
    time.sleep(settings.stability_seconds * 4)
    assert documents(app) == ["final.md"]


def test_directories_moved_in_are_ingested(running_daemon, app, settings, tmp_path: Path) -> None:
    outside = tmp_path / "batch"
    (outside / "deep").mkdir(parents=True)
    (outside / "deep" / "one.md").write_text(BODY + "one")
    (outside / "two.md").write_text(BODY + "two")
    outside.rename(settings.inbox_dir / "batch")
    wait_for(lambda: documents(app) == ["batch/deep/one.md", "batch/two.md"])


def test_bad_files_are_dead_lettered_with_a_reason_and_can_be_replayed(running_daemon, app, settings) -> None:
    (settings.inbox_dir / "empty.md").write_bytes(b"")
    (settings.inbox_dir / "latin1.md").write_bytes("caf\xe9 au lait, tr\xe8s bien".encode("latin-1"))
    (settings.inbox_dir / "binary.md").write_bytes(b"\x00\x01\x02" * 100)
    entries = wait_for(lambda: (lambda found: found if len(found) == 3 else None)(dead_letters(settings)))
    reasons = {e["delivery"]["relative_path"]: e["reason"] for e in entries}
    assert "empty" in reasons["empty.md"]
    assert "not valid UTF-8" in reasons["latin1.md"]
    assert "binary" in reasons["binary.md"]
    assert all(e["reason_class"] == "rejected" and e["delivery"]["history"] for e in entries)
    (settings.inbox_dir / "fine.md").write_text(BODY)  # the daemon still serves
    wait_for(lambda: documents(app) == ["fine.md"])

    empty_id = next(e["id"] for e in entries if e["delivery"]["relative_path"] == "empty.md")
    assert replay(settings, [empty_id]) == 1
    replayed = wait_for(lambda: next((e for e in dead_letters(settings) if e["delivery"]["relative_path"]
                                      == "empty.md"), None))
    assert len(replayed["delivery"]["history"]) == 3  # first attempt, the replay note, the second attempt
    assert purge(settings, [e["id"] for e in dead_letters(settings)]) == 3
    assert dead_letters(settings) == []
    assert (settings.inbox_dir / "empty.md").exists()  # the daemon never deletes from the inbox


def test_a_second_daemon_on_the_same_inbox_is_refused(running_daemon, settings) -> None:
    with pytest.raises(DaemonError, match="already watching"):
        InboxDaemon(settings).run()


def test_an_edited_file_is_a_new_version(running_daemon, app, settings) -> None:
    target = settings.inbox_dir / "essay.md"
    target.write_text(BODY)
    wait_for(lambda: documents(app) == ["essay.md"])
    target.write_text(BODY + "\nA second paragraph was added later on.\n")
    wait_for(lambda: documents(app) == ["essay.md", "essay.md"])
