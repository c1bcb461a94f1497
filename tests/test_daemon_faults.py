"""Fault tests: the daemon as a real process against the real API on loopback, on real temp folders.

Failures are injected by killing and stopping processes, deleting folders, and a proxy
in front of the API that answers 500/429/401 or drops the connection after the server
committed. The server's database is the judge of "delivered exactly once".
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from server.extensions import db
from server.models import Document, Job
from tests.conftest import free_port, start_waitress, wait_for
from tests.daemon_harness import DaemonProcess, FaultProxy, cli

pytestmark = pytest.mark.daemon


def body(name: str) -> str:
    return f"# {name}\n\nA short note called {name}, with enough words in it to become a narrated video.\n"


def stored(app) -> list[str]:  # noqa: ANN001
    """Source paths of every document on the server, one entry per document (duplicates would show)."""
    with app.app_context():
        paths = sorted(d.source_path for d in db.session.query(Document))
        db.session.remove()
    return paths


def job_count(app) -> int:  # noqa: ANN001
    with app.app_context():
        count = db.session.query(Job).count()
        db.session.remove()
    return count


@pytest.fixture
def proxy(live_server):
    fault_proxy = FaultProxy(live_server)
    yield fault_proxy
    fault_proxy.close()


@pytest.fixture
def daemons(settings):
    started: list[DaemonProcess] = []

    def make(server_url: str, **options: object) -> DaemonProcess:
        daemon = DaemonProcess(settings.home, server_url, **options)
        started.append(daemon)
        return daemon

    yield make
    for daemon in started:
        daemon.stop_quietly()


def test_writers_that_take_their_time_are_sent_once_whole(proxy, daemons, app, settings) -> None:
    daemon = daemons(proxy.url, settle_cap_seconds=1).start()
    inbox = settings.inbox_dir
    slow = inbox / "slow.md"
    with slow.open("w") as handle:  # a slow writer: 2.5 s of small writes, never quiet for the delay
        for number in range(25):
            handle.write(f"Line {number} of a note that is written slowly, a few words at a time.\n")
            handle.flush()
            time.sleep(0.1)
    for _ in range(10):  # repeated modify events in quick succession
        with (inbox / "busy.md").open("a") as handle:
            handle.write(body("busy"))
    partial = inbox / "renamed.md.part"
    partial.write_text(body("renamed"))
    partial.rename(inbox / "renamed.md")
    for junk in ("x.md.part", ".hidden.md", "notes.txt", "~$draft.md", "draft.md.swp", ".DS_Store", "x.md~",
                 ".~lock.x.md#", "#x.md#", "x.md.crdownload", "Thumbs.db"):
        (inbox / junk).write_text(body(junk))

    wait_for(lambda: stored(app) == ["busy.md", "renamed.md", "slow.md"])
    time.sleep(1.5)  # a rescan or two later, still nothing more
    assert stored(app) == ["busy.md", "renamed.md", "slow.md"]
    assert [len(proxy.posts(name)) for name in ("busy.md", "renamed.md", "slow.md")] == [1, 1, 1]
    with app.app_context():
        assert db.session.query(Document).filter_by(source_path="slow.md").one().content == slow.read_text()
        db.session.remove()
    assert daemon.logged("slow.md has kept changing"), "a file changing past the settle cap is reported"


def test_bad_files_are_dead_lettered_with_reasons_and_the_daemon_keeps_serving(live_server, daemons, app,
                                                                                settings) -> None:
    # The daemon's own limit is above the server's so that both refusals are exercised.
    daemon = daemons(live_server, max_document_bytes=4 * 1_048_576).start()
    inbox = settings.inbox_dir
    (inbox / "empty.md").write_bytes(b"")
    (inbox / "latin1.md").write_bytes("caf\xe9 au lait, tr\xe8s bien, merci".encode("latin-1"))
    (inbox / "binary.md").write_bytes(bytes(range(256)) * 8)
    (inbox / "huge.md").write_text("# Huge\n\n" + "words and more words " * 60_000)  # ~1.2 MB: the server says 413
    (inbox / "giant.md").write_bytes(b"# Giant\n\n" + b"x" * (5 * 1_048_576))  # over the daemon's limit
    (inbox / "back\\slash.md").write_text(body("backslash"))
    os.close(os.open(os.fsencode(inbox) + b"/caf\xe9-name.md", os.O_CREAT | os.O_WRONLY))  # not UTF-8

    entries = wait_for(lambda: (lambda found: found if len(found) == 7 else None)(dlq_entries(settings)),
                       timeout=30)
    reasons = {entry["delivery"]["relative_path"]: entry for entry in entries}
    expect = {"empty.md": "empty", "latin1.md": "not valid UTF-8", "binary.md": "binary", "huge.md": "limit",
              "giant.md": "limit", "back\\slash.md": "filename"}
    for path, phrase in expect.items():
        assert phrase in reasons[path]["reason"], (path, reasons[path]["reason"])
    undecodable = next(e for p, e in reasons.items() if p not in expect)
    assert "not valid UTF-8" in undecodable["reason"] and undecodable["reason_class"] == "refused"
    assert reasons["giant.md"]["reason_class"] == "refused"
    assert reasons["huge.md"]["reason_class"] == "rejected"
    assert all(e["delivery"]["history"] and e["daemon_version"] for e in entries)

    (inbox / "fine.md").write_text(body("fine"))  # still serving
    wait_for(lambda: stored(app) == ["fine.md"])
    assert daemon.alive()
    listing = cli(settings.home, "dlq", "list", "--all")
    assert listing.returncode == 0 and "empty.md" in listing.stdout and "refused" in listing.stdout
    assert sorted(p.name for p in inbox.iterdir() if p.is_file())  # nothing was deleted from the inbox
    assert (inbox / "giant.md").stat().st_size > 5 * 1_048_576


def dlq_entries(settings) -> list[dict]:  # noqa: ANN001
    from daemon.admin import dead_letters

    return dead_letters(settings)


def test_server_down_then_up_delivers_everything_once(app, daemons, settings) -> None:
    port = free_port()
    daemon = daemons(f"http://127.0.0.1:{port}").start()
    for number in range(20):
        (settings.inbox_dir / f"note-{number:02d}.md").write_text(body(f"note {number}"))
    wait_for(lambda: daemon.status().get("pause_reason") == "unreachable")
    time.sleep(3)  # a few pauses and retries against nothing
    status = daemon.status()
    assert status["dead_lettered"] == 0 and status["delivered_since_start"] == 0
    url, stop = start_waitress(app, port)
    try:
        wait_for(lambda: len(stored(app)) == 20, timeout=60)
        assert stored(app) == sorted(f"note-{n:02d}.md" for n in range(20))
        wait_for(lambda: daemon.status().get("pause_reason") is None)
        assert daemon.status()["dead_lettered"] == 0
        assert job_count(app) == 20
    finally:
        daemon.stop_quietly()
        stop()


def test_flaky_server_500s_and_429s_are_ridden_out_and_waits_honoured(proxy, daemons, app, settings) -> None:
    tries: dict[str, int] = {}

    def rule(number: int, filename: str) -> str:  # nearly half of all answers are failures
        attempt = tries[filename] = tries.get(filename, -1) + 1
        index = int(filename[6:8])
        if attempt == 0 and index % 2:
            return "500"
        if attempt == 1 and index % 4 == 1:
            return "429:1"
        return "pass"

    proxy.rule = rule
    daemons(proxy.url).start()
    names = [f"flaky-{n:02d}.md" for n in range(24)]
    for name in names:
        (settings.inbox_dir / name).write_text(body(name))
    wait_for(lambda: stored(app) == names, timeout=90)
    posts = proxy.posts()
    assert {s.action for s in posts} >= {"pass", "500", "429:1"}
    for throttle in (s for s in posts if s.action.startswith("429")):
        too_soon = [s for s in posts if throttle.started + 0.25 < s.started < throttle.started + 0.95]
        assert not too_soon, f"requests sent during a Retry-After wait: {too_soon}"
    assert dlq_entries(settings) == []
    assert job_count(app) == len(names)


def test_a_refused_token_pauses_delivery_without_spending_attempts(live_server, daemons, app, settings) -> None:
    settings.token_file.parent.mkdir(parents=True, exist_ok=True)
    settings.token_file.write_text("not-the-right-token-at-all-0000")
    daemon = daemons(live_server, token=None).start()
    (settings.inbox_dir / "waiting.md").write_text(body("waiting"))
    wait_for(lambda: daemon.status().get("pause_reason") == "unauthorized")
    assert daemon.logged("DELIVERY PAUSED")
    time.sleep(2)
    assert stored(app) == [] and daemon.status()["dead_lettered"] == 0
    settings.token_file.write_text("test-token-0123456789abcdef")  # the fix: no restart needed
    wait_for(lambda: stored(app) == ["waiting.md"], timeout=30)
    assert dlq_entries(settings) == []


def test_a_wrong_server_url_pauses_instead_of_dead_lettering(proxy, daemons, app, settings) -> None:
    proxy.rule = lambda number, filename: "404"
    daemon = daemons(proxy.url).start()
    (settings.inbox_dir / "patient.md").write_text(body("patient"))
    wait_for(lambda: daemon.status().get("pause_reason") == "wrong_server")
    assert daemon.logged("has no Media Buddy upload endpoint")
    proxy.rule = lambda number, filename: "pass"  # the server behind the URL is fixed
    wait_for(lambda: stored(app) == ["patient.md"], timeout=30)
    assert dlq_entries(settings) == []


def test_a_response_lost_after_the_server_committed_makes_no_duplicate(proxy, daemons, app, settings) -> None:
    first_try: set[str] = set()

    def rule(number: int, filename: str) -> str:
        if filename in first_try:
            return "pass"
        first_try.add(filename)
        return "drop"

    proxy.rule = rule
    daemons(proxy.url).start()
    names = [f"lost-{n}.md" for n in range(5)]
    for name in names:
        (settings.inbox_dir / name).write_text(body(name))
    wait_for(lambda: all(any(s.status == 200 for s in proxy.posts(n)) for n in names), timeout=30)
    assert stored(app) == names
    assert job_count(app) == len(names)
    for name in names:
        answers = [(s.action, s.status, s.replayed) for s in proxy.posts(name)]
        assert answers[0] == ("drop", None, False) and (("pass", 200, True) in answers), answers


def test_kill_9_at_random_moments_during_a_burst_loses_and_doubles_nothing(live_server, daemons, app,
                                                                         settings) -> None:
    seed = int(os.environ.get("KILL_SEED", time.time()))
    chance = random.Random(seed)
    names = [f"burst-{n:03d}.md" for n in range(300)]
    daemon = daemons(live_server).start()

    def write() -> None:
        for name in names:
            (settings.inbox_dir / name).write_text(body(name))
            time.sleep(0.002)

    writer = threading.Thread(target=write)
    writer.start()
    for _ in range(4):
        time.sleep(chance.uniform(0.2, 1.5))
        daemon.kill()
        daemon.start(wait=chance.random() < 0.5)  # sometimes killed again while still starting
    writer.join()
    wait_for(lambda: stored(app) == names, timeout=90)
    time.sleep(1)
    assert stored(app) == names, f"seed {seed}"
    assert job_count(app) == len(names), f"seed {seed}"
    final = wait_for(lambda: (lambda s: s if s.get("queued") == 0 and s.get("in_flight") == 0
                              and s.get("retrying") == 0 else None)(daemon.status()))
    assert final["dead_lettered"] == 0
    spool = settings.var_dir / "daemon" / "spool"
    wait_for(lambda: not any(spool.iterdir()))  # every delivered copy was cleaned up, orphans too


def test_the_inbox_deleted_and_recreated_is_watched_again(live_server, daemons, app, settings) -> None:
    daemon = daemons(live_server).start()
    (settings.inbox_dir / "before.md").write_text(body("before"))
    wait_for(lambda: stored(app) == ["before.md"])
    shutil.rmtree(settings.inbox_dir)
    time.sleep(0.5)
    settings.inbox_dir.mkdir(exist_ok=True)  # the daemon may have recreated it already
    (settings.inbox_dir / "after.md").write_text(body("after"))
    wait_for(lambda: stored(app) == ["after.md", "before.md"], timeout=30)
    replaced = settings.home / "old-inbox"
    settings.inbox_dir.rename(replaced)  # replaced by another folder of the same name
    settings.inbox_dir.mkdir(exist_ok=True)
    (settings.inbox_dir / "replaced.md").write_text(body("replaced"))
    wait_for(lambda: stored(app) == ["after.md", "before.md", "replaced.md"], timeout=30)
    assert daemon.status()["watch_restarts"] >= 2


def test_a_second_daemon_is_refused_and_sigterm_stops_quickly(proxy, daemons, app, settings) -> None:
    proxy.rule = lambda number, filename: "slow:3"
    first = daemons(proxy.url).start()
    second = daemons(proxy.url).start(wait=False)
    assert second.process.wait(timeout=30) == 1
    assert "already watching" in second.log_path.read_text()
    assert first.alive()

    (settings.inbox_dir / "in-flight.md").write_text(body("in flight"))
    wait_for(lambda: first.status().get("in_flight") == 1)
    assert first.terminate() < 2.5  # the upload is left unacknowledged, not waited for
    proxy.rule = lambda number, filename: "pass"
    first.start()
    wait_for(lambda: any(s.status == 200 for s in proxy.posts("in-flight.md")))  # re-sent, and deduplicated
    assert stored(app) == ["in-flight.md"] and job_count(app) == 1


def test_an_inotify_overflow_triggers_a_rescan(daemons, settings) -> None:
    max_queued = int(Path("/proc/sys/fs/inotify/max_queued_events").read_text())
    count = max_queued // 2 + 3000  # each file makes 2 events (create, close): more than the queue holds
    daemon = daemons(f"http://127.0.0.1:{free_port()}", rescan_seconds=3600).start()  # no periodic safety net
    daemon.process.send_signal(19)  # SIGSTOP: the kernel queues events nobody reads
    try:
        for number in range(count):
            with open(settings.inbox_dir / f"o-{number:06d}.md", "w") as handle:
                handle.write(f"# {number}\n\nWords for note number {number} in a burst.\n")
    finally:
        daemon.process.send_signal(18)  # SIGCONT
    wait_for(lambda: daemon.status().get("overflows", 0) >= 1, timeout=30)
    wait_for(lambda: daemon.status().get("queued_total") == count, timeout=120)


def test_polling_mode_and_the_inotify_limit_fallback(live_server, daemons, app, settings) -> None:
    polling = daemons(live_server, watch_mode="polling", poll_seconds=0.3).start()
    assert polling.status()["watch"] == "polling"
    (settings.inbox_dir / "polled.md").write_text(body("polled"))
    wait_for(lambda: stored(app) == ["polled.md"])
    with (settings.inbox_dir / "polled.md").open("a") as handle:  # an edit in place is a new version
        handle.write("\nOne more paragraph, added in place.\n")
    wait_for(lambda: stored(app) == ["polled.md", "polled.md"])
    polling.terminate()

    # Exhaust this user's inotify instances in the daemon's own process, then start it.
    exhausting = daemons(live_server)
    script = ("import ctypes, sys; libc = ctypes.CDLL(None, use_errno=True); "
              "held = [fd for fd in iter(lambda: libc.inotify_init(), -1)]; "
              "sys.argv = ['mediabuddy', 'watch']; import cli; cli.main()")
    with exhausting.log_path.open("ab") as log:
        exhausting.process = subprocess.Popen([sys.executable, "-c", script], cwd=Path(__file__).parents[1],
                                              env=exhausting.env, stdout=subprocess.DEVNULL, stderr=log)
    wait_for(lambda: exhausting.status().get("pid") == exhausting.process.pid, timeout=30)
    assert exhausting.status()["watch"] == "polling"
    assert exhausting.logged("fs.inotify.max_user_instances")
    (settings.inbox_dir / "fallback.md").write_text(body("fallback"))
    wait_for(lambda: stored(app) == ["fallback.md", "polled.md", "polled.md"])
