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
    status = wait_for(lambda: (lambda s: s if s["delivered_since_start"] == 1 and s["in_flight"] == 0 else None)(
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


MOUNTINFO = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw
40 22 0:35 / /mnt/share rw,relatime shared:20 - nfs4 server:/export rw,vers=4.2
41 22 0:36 / /home/me/remote\\040box rw,nosuid shared:21 - fuse.sshfs me@host:/ rw
42 41 0:37 / /home/me/remote\\040box/local rw shared:22 - tmpfs tmpfs rw
"""


@pytest.mark.parametrize(("path", "fs_type", "polls"), [
    ("/srv/inbox", "ext4", False),
    ("/mnt/share/inbox", "nfs4", True),
    ("/mnt/shared/inbox", "ext4", False),  # a sibling whose name starts the same is not inside the mount
    ("/home/me/remote box/inbox", "fuse.sshfs", True),
    ("/home/me/remote box/local/inbox", "tmpfs", False),  # the deepest mount wins
])
def test_network_and_fuse_mounts_are_polled(path: str, fs_type: str, polls: bool) -> None:
    from daemon.watching import mount_fs_type, needs_polling

    found = mount_fs_type(Path(path), MOUNTINFO)
    assert found == fs_type
    assert needs_polling(found) is polls


def test_dead_letter_listing_shows_the_newest_first_and_all_on_request(running_daemon, settings) -> None:
    from tests.daemon_harness import cli

    for number in range(3):
        (settings.inbox_dir / f"empty-{number}.md").write_bytes(b"")
        time.sleep(0.4)
    wait_for(lambda: len(dead_letters(settings)) == 3)
    listing = cli(settings.home, "dlq", "list")
    assert listing.returncode == 0, listing.stderr
    assert all(f"empty-{n}.md" in listing.stdout for n in range(3)) and "the document is empty" in listing.stdout
    shown = __import__("json").loads(cli(settings.home, "dlq", "list", "--all", "--json").stdout)
    assert [e["delivery"]["relative_path"] for e in shown] == ["empty-2.md", "empty-1.md", "empty-0.md"]
    assert {e["reason_class"] for e in shown} == {"rejected"}
    status = cli(settings.home, "status", "--json", database_url=settings.database_url)
    assert status.returncode == 0, status.stderr
    daemon_status = __import__("json").loads(status.stdout)["daemon"]
    assert (daemon_status["running"], daemon_status["dead_lettered"]) == (True, 3), daemon_status


def test_an_item_older_than_the_age_limit_is_dead_lettered(settings, tmp_path: Path) -> None:
    from daemon.queues import Delivery, DeliveryQueue
    from tests.conftest import free_port

    spooled = tmp_path / "old-copy.md"
    spooled.write_text(BODY)
    queue = DeliveryQueue(settings.var_dir / "daemon")
    queue.put(Delivery(sha256="a" * 64, relative_path="old.md", spool_path=str(spooled), size=len(BODY),
                       first_seen=time.time() - 8 * 86400))
    queue.close()
    daemon = InboxDaemon(settings.model_copy(update={"server_url": f"http://127.0.0.1:{free_port()}"}))
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        entry = wait_for(lambda: next(iter(dead_letters(settings)), None))
    finally:
        daemon.stop()
        thread.join(timeout=10)
    assert entry["reason_class"] == "expired"
    assert "not delivered within 8.0 days" in entry["reason"] and "cannot connect" in entry["reason"]
    assert spooled.exists()  # the dead letter keeps its content


def test_a_burst_larger_than_the_tracker_is_caught_up_by_rescans(settings, live_server, app) -> None:
    settings = settings.model_copy(update={"server_url": live_server, "rescan_seconds": 3600})
    daemon = InboxDaemon(settings)
    daemon.tracker.capacity = 8  # memory stays bounded: the rest waits for a catch-up scan
    thread = threading.Thread(target=daemon.run)
    thread.start()
    try:
        wait_for(daemon.started.is_set)
        names = sorted(f"many-{n:02d}.md" for n in range(40))
        for name in names:
            (settings.inbox_dir / name).write_text(BODY + name)
        wait_for(lambda: documents(app) == names, timeout=60)
        assert daemon.stats["catch_up_scans"] >= 1
    finally:
        daemon.stop()
        thread.join(timeout=10)
