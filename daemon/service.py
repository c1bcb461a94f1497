"""The inbox daemon: detect → wait until stable → spool → queue → deliver, one instance per inbox.

Events are a hint and the folder is the truth. A startup scan, watchdog events and a
periodic jittered rescan all feed the same StabilityTracker. A deep rescan (every file
checked against the ledger) runs at start, after an inotify overflow, when the watcher
died or the inbox was replaced, when the CLI asks for one, and every tenth period; the
other periodic rescans only list folders whose modification time changed.

Delivery runs on its own threads (daemon.delivery), so a slow server never delays
noticing files. Everything the daemon knows about its progress is written to
``var/daemon/status.json`` for ``mediabuddy status``.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePath

from filelock import FileLock, Timeout
from watchdog.events import FileSystemEvent, FileSystemEventHandler

from config import Settings
from daemon import __version__
from daemon.client import Uploader
from daemon.delivery import Deliverer, fields
from daemon.filters import inside, is_article
from daemon.queues import DeadLetters, Delivery, DeliveryQueue, Ledger
from daemon.spool import collect_garbage, discard, fsync_dir, spool_copy
from daemon.stability import Signature, StabilityTracker
from daemon.watching import OverflowAlarm, start_observer, stop_observer

log = logging.getLogger("mediabuddy.daemon")
DEEP_SCAN_EVERY = 10
INGEST_BATCH = 256  # ready files spooled together: one folder fsync, then queued  # periodic rescans; the others are shallow
STATUS_FILE, LOCK_FILE, PID_FILE, RESCAN_REQUEST = "status.json", "daemon.lock", "daemon.pid", "rescan.request"
LOCK_WAIT_SECONDS = 1.0
IGNORED_EVENTS = frozenset({"opened", "closed_no_write", "deleted"})  # our own reads cause the first two


class DaemonError(RuntimeError):
    """The daemon cannot start (another instance holds the inbox, the inbox is unusable...)."""


def daemon_dir(settings: Settings) -> Path:
    return settings.var_dir / "daemon"


def read_token(settings: Settings) -> str | None:
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    try:
        return settings.token_file.read_text(encoding="ascii").strip() or None
    except OSError:
        return None


def daemon_running(settings: Settings) -> bool:
    """True when a daemon holds the lock for this home (probed without waiting)."""
    path = daemon_dir(settings) / LOCK_FILE
    if not path.exists():
        return False
    probe = FileLock(path, thread_local=False)
    try:
        probe.acquire(timeout=0)
    except Timeout:
        return True
    probe.release()
    return False


class _Events(FileSystemEventHandler):
    def __init__(self, daemon: "InboxDaemon"):
        self._daemon = daemon

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:  # an exception here would kill watchdog's emitter thread: never let one out
            if event.event_type in IGNORED_EVENTS:
                return
            paths = [event.src_path, event.dest_path] if event.event_type == "moved" else [event.src_path]
            for raw in filter(None, paths):
                path = os.fsdecode(raw)
                if event.is_directory:
                    if event.event_type in ("created", "moved") and os.path.isdir(path):
                        self._daemon.scan(Path(path))
                else:
                    self._daemon.notice(path)
        except Exception:  # noqa: BLE001 - logged; the watcher must survive any one bad event
            log.exception("error handling a %s event; the watcher carries on", event.event_type)


class InboxDaemon:
    """Watches ``settings.inbox_dir`` and delivers every markdown file to the server exactly once."""

    def __init__(self, settings: Settings, uploader: Uploader | None = None):
        self.settings = settings
        self.inbox = settings.inbox_dir
        self.folder = daemon_dir(settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.spool_dir = self.folder / "spool"
        self.stop_event = threading.Event()
        self.tracker = StabilityTracker(settings.stability_seconds, settings.settle_cap_seconds)
        self.uploader = uploader or Uploader(settings.effective_server_url, lambda: read_token(settings))
        self.stats: Counter[str] = Counter()
        self.queue: DeliveryQueue | None = None
        self.dead: DeadLetters | None = None
        self.ledger: Ledger | None = None
        self.deliverer: Deliverer | None = None
        self.watch_kind: str | None = None
        self.started = threading.Event()
        self._lock: FileLock | None = None
        self._observer = None
        self._inbox_identity: tuple[int, int] | None = None
        self._rescan_wanted = threading.Event()
        self._catch_up = threading.Event()  # the tracker was full: files were left for a rescan
        self._folders: dict[str, tuple[int, list[str]]] = {}  # folder → (mtime, sub-folders) at the last scan
        self._status_written = ("", 0.0)
        self._finished_at_last_clear = 0
        self._due: dict[str, float] = {}
        self._rescans = 0
        self._copier = ThreadPoolExecutor(max_workers=4, thread_name_prefix="mediabuddy-spool")

    # Lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        """Block until ``stop_event`` is set; in-flight items stay unacknowledged for the next start."""
        self._acquire_lock()
        try:
            self.inbox.mkdir(parents=True, exist_ok=True)
            self.queue, self.dead, self.ledger = DeliveryQueue(self.folder), DeadLetters(self.folder), Ledger(self.folder)
            self._recover()
            self.deliverer = Deliverer(self.settings, self.queue, self.dead, self.uploader, self.stop_event)
            self.deliverer.start()
            with OverflowAlarm(self._on_overflow):
                self._start_observer()
                self.scan(self.inbox)
                log.info("watching %s (%s), delivering to %s", self.inbox, self.watch_kind,
                         self.settings.effective_server_url)
                self.started.set()
                self._loop()
        finally:
            self._shutdown()

    def stop(self) -> None:
        self.stop_event.set()

    def _loop(self) -> None:
        self._due = {"rescan": time.monotonic() + self._jitter(self.settings.rescan_seconds), "check": 0.0,
                     "housekeeping": 0.0}
        while not self.stop_event.wait(0.1 if len(self.tracker) else 0.5):
            try:
                self._tick()
            except Exception:  # noqa: BLE001 - the daemon must outlive any one bad file or disk hiccup
                log.exception("unexpected error in the watch loop; carrying on")
                self.stop_event.wait(1.0)

    def _tick(self) -> None:
        ready = self.tracker.ready(limit=INGEST_BATCH)
        if ready:
            self._ingest(ready)
            self.deliverer.wake()
        now, due = time.monotonic(), self._due
        if now >= due["check"]:
            due["check"] = now + 1.0
            if self._watch_broken() or self._rescan_wanted.is_set() or self._rescan_requested():
                self._rescan_wanted.clear()
                self.scan(self.inbox)
            elif self._catch_up.is_set() and len(self.tracker) < self.tracker.capacity // 2:
                self._catch_up.clear()
                self.scan(self.inbox)
        if now >= due["rescan"]:
            self._rescans += 1
            self.scan(self.inbox, deep=self._rescans % DEEP_SCAN_EVERY == 0)
            due["rescan"] = time.monotonic() + self._jitter(self.settings.rescan_seconds)
        if now >= due["housekeeping"]:
            due["housekeeping"] = now + 1.0
            self._housekeeping()

    def _shutdown(self) -> None:
        self._stop_observer()
        if self.deliverer is not None:
            self.deliverer.wake()  # idle threads wait for work; let them see the stop
        clean = self.deliverer.join(timeout=1.0) if self.deliverer else True  # an upload in flight is not waited for
        guard = self.deliverer.db_guard if self.deliverer else threading.Lock()
        with guard:
            if self.queue is not None:
                self._write_status(force=True, running=False)
            for store in (self.ledger, self.queue, self.dead):
                if store is not None:
                    store.close()
        if not clean:
            log.info("uploads still in flight were left unacknowledged; the next start sends them again")
        self._copier.shutdown(wait=True)
        self._release_lock()
        log.info("daemon stopped")

    def _recover(self) -> None:
        """Repair what a crash may have left: ledger rows for queued items, orphaned spool files."""
        repaired = self.ledger.reconcile(self.queue.pending())
        referenced = [d.spool_path for _, d in self.queue.pending()]
        referenced += [e["delivery"]["spool_path"] for e in self.dead.entries()]
        removed = collect_garbage(self.spool_dir, referenced)
        counts = self.queue.counts()
        pending = counts["queued"] + counts["unacknowledged"]
        if pending or repaired or removed:
            log.info("resuming: %d item(s) pending delivery, %d ledger row(s) repaired, %d orphaned spool "
                     "file(s) removed", pending, repaired, removed)

    def _acquire_lock(self) -> None:
        # filelock: fcntl on POSIX, msvcrt on Windows; the lock dies with the process, so a
        # killed daemon never blocks the next start. The pid lives in its own file because
        # Windows locks are mandatory (nobody else could read a pid inside the lock file).
        lock = FileLock(self.folder / LOCK_FILE, thread_local=False)
        try:
            lock.acquire(timeout=LOCK_WAIT_SECONDS)  # a moment's grace: `mediabuddy status` may be probing it
        except Timeout:
            try:
                holder = (self.folder / PID_FILE).read_text(encoding="ascii").strip() or "unknown"
            except OSError:
                holder = "unknown"
            raise DaemonError(f"another Media Buddy daemon (pid {holder}) is already watching {self.inbox}; "
                              "stop it first (only one may deliver from an inbox)") from None
        (self.folder / PID_FILE).write_text(str(os.getpid()), encoding="ascii")
        self._lock = lock

    def _release_lock(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # Detection ----------------------------------------------------------------------------

    def _start_observer(self) -> None:
        self._observer, self.watch_kind = start_observer(self.inbox, _Events(self), self.settings.watch_mode,
                                                         self.settings.poll_seconds, self._on_events_dropped)
        self._inbox_identity = self._identity()

    def _stop_observer(self) -> None:
        if self._observer is not None:
            stop_observer(self._observer)
            self._observer = None

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.inbox)
            return st.st_dev, st.st_ino
        except OSError:
            return None

    def _watch_broken(self) -> bool:
        """Restart the observer if its thread died or the inbox was deleted, replaced or remounted."""
        identity = self._identity()
        alive = self._observer is not None and self._observer.is_alive()
        if alive and identity is not None and identity == self._inbox_identity:
            return False
        log.warning("inbox watch lost (watcher alive: %s, inbox %s); restarting the watcher and rescanning", alive,
                    "missing" if identity is None else "replaced" if identity != self._inbox_identity else "unchanged")
        self.stats["watch_restarts"] += 1
        self._stop_observer()
        self.inbox.mkdir(parents=True, exist_ok=True)
        self._start_observer()
        return True

    def _on_overflow(self) -> None:
        self.stats["overflows"] += 1
        self._rescan_wanted.set()
        log.warning("file events were lost (inotify queue overflow); rescanning the inbox")

    def _on_events_dropped(self) -> None:
        self.stats["events_dropped"] += 1
        if not self._rescan_wanted.is_set():
            self._rescan_wanted.set()
            log.info("more file events than the daemon can hold at once; a rescan picks up the rest")

    def _rescan_requested(self) -> bool:
        request = self.folder / RESCAN_REQUEST
        if not request.exists():
            return False
        request.unlink(missing_ok=True)
        return True

    def notice(self, path: str) -> None:
        if is_article(path, self.inbox) and not self.tracker.touch(path):
            self._tracker_full()

    def scan(self, folder: Path | None = None, deep: bool = True) -> None:
        """Note every article under ``folder`` that the ledger has not seen in this exact version.

        A shallow scan skips folders whose modification time is unchanged since the last scan:
        their list of files is the same, and changes inside files come with events. A scan
        that fills the stability tracker stops there; a catch-up scan follows once it drains.
        """
        started = time.monotonic()
        folders = [str(folder or self.inbox)]
        while folders:
            current = folders.pop()
            try:
                mtime = os.stat(current).st_mtime_ns
                known = self._folders.get(current)
                if not deep and known is not None and known[0] == mtime:
                    folders.extend(known[1])  # same list of entries as last time: only its sub-folders
                    continue
                subfolders = []
                with os.scandir(current) as entries:  # streamed: a folder of 100,000 files is not held in memory
                    for entry in entries:
                        if entry.name.startswith("."):
                            continue
                        if entry.is_dir(follow_symlinks=False):
                            subfolders.append(entry.path)
                        elif is_article(entry.path, self.inbox) and not self._notice_if_new(entry.path):
                            self._tracker_full()
                            return
            except OSError:
                continue
            self._folders[current] = (mtime, subfolders)
            folders.extend(subfolders)
        self.stats["deep_scans" if deep else "shallow_scans"] += 1
        log.debug("%s scan of %s took %.3f s", "deep" if deep else "shallow", folder or self.inbox,
                  time.monotonic() - started)

    def _notice_if_new(self, path: str) -> bool:
        """Track ``path`` unless the ledger already has this version; False when the tracker is full."""
        if self.tracker.full():
            return False
        signature = Signature.of(path)
        if signature is None:
            return True
        if self.ledger.signature(self._relative(path)) != (signature.size, signature.mtime_ns, signature.inode):
            return self.tracker.touch(path, event=False)
        return True

    def _tracker_full(self) -> None:
        if not self._catch_up.is_set():
            self._catch_up.set()
            self.stats["catch_up_scans"] += 1
            log.info("more than %d files are settling at once; the rest are picked up by a rescan as these "
                     "are queued", self.tracker.capacity)

    def _relative(self, path: str) -> str:
        return _printable(os.path.relpath(path, self.inbox))

    # Ingest -------------------------------------------------------------------------------

    def _ingest(self, ready: list[tuple[str, Signature]]) -> None:
        """Spool and queue a batch of ready files: copies in parallel, one folder fsync, then the queue."""
        wanted: list[tuple[str, Signature, Delivery]] = []
        for path, signature in ready:
            if not inside(Path(path), self.inbox):
                log.warning("ignoring %s: it links outside the inbox", path)
                continue
            raw = os.path.relpath(path, self.inbox)
            # Sent with '/' on every system (Windows' relpath uses '\\'); a name that is not UTF-8
            # keeps its bytes as \xNN escapes.
            relative = _printable(PurePath(raw).as_posix())
            if self.ledger.signature(relative) == (signature.size, signature.mtime_ns, signature.inode):
                continue
            found = Delivery(sha256="", relative_path=relative, spool_path="", size=signature.size,
                             first_seen=time.time(), mtime_ns=signature.mtime_ns, inode=signature.inode)
            problem = self._refusal(raw, signature)
            if problem:
                self.ledger.remember(found)  # refused once per version; an edit makes a new version
                found.note(None, problem, counted=False)
                self.deliverer.dead_letter(None, found, "refused", problem)
            else:
                wanted.append((path, signature, found))
        copies = list(self._copier.map(self._spool_one, wanted))
        if any(copies):
            fsync_dir(self.spool_dir)
        for (path, signature, found), copy in zip(wanted, copies):
            if copy is None:
                continue
            sha, spooled, size = copy
            delivery = Delivery(sha256=sha, relative_path=found.relative_path, spool_path=str(spooled), size=size,
                                first_seen=found.first_seen, mtime_ns=signature.mtime_ns, inode=signature.inode)
            if self.ledger.queued_sha(found.relative_path) == sha:
                discard(spooled)  # touched, not changed
            else:
                self.queue.put(delivery)
                self.stats["queued"] += 1
                log.info("queued file=%s path=%s size=%d", delivery.file_id, delivery.relative_path, size,
                         extra=fields(delivery))
            self.ledger.remember(delivery)

    def _spool_one(self, job: tuple[str, Signature, Delivery]) -> tuple[str, Path, int] | None:
        path, signature, found = job
        try:
            copy = spool_copy(path, self.spool_dir, sync_dir=False)
        except OSError as error:
            log.warning("could not read %s (%s); it will be tried again", found.relative_path,
                        error.strerror or error)
            return None
        if Signature.of(path) != signature:  # written to while we copied: wait for it to settle again
            discard(copy[1])
            if not self.tracker.touch(path):
                self._tracker_full()
            return None
        return copy

    def _refusal(self, relative: str, signature: Signature) -> str | None:  # relative: as the OS gave it
        """Why this file cannot be sent at all, checked before anything is copied."""
        if _printable(relative) != relative:
            return "its file name is not valid UTF-8; rename the file and it will be picked up"
        limit = self.settings.max_document_bytes
        if signature.size > limit:
            return (f"it is {signature.size:,} bytes, over the {limit:,}-byte limit "
                    "(MEDIABUDDY_MAX_DOCUMENT_BYTES); shorten or split it")
        return None

    # Status -------------------------------------------------------------------------------

    def _housekeeping(self) -> None:
        for path, age in self.tracker.still_changing():
            log.warning("%s has kept changing for %.0f s; it will be sent once it stays unchanged for %.1f s",
                        self._relative(path), age, self.settings.stability_seconds)
        finished = self.deliverer.stats["delivered"] + self.deliverer.stats["dead_lettered"]
        if finished != self._finished_at_last_clear:
            self._finished_at_last_clear = finished
            self.queue.clear_acked()
        self._write_status()

    def status(self) -> dict[str, object]:
        counts = self.queue.counts()
        oldest = self.queue.oldest_put_at()
        live = self.deliverer.snapshot()
        return {
            "running": True, "pid": os.getpid(), "version": __version__, "inbox": str(self.inbox),
            "watch": self.watch_kind, "updated_at": round(time.time(), 3),
            "waiting_for_stability": len(self.tracker), "still_changing": self.tracker.changing_count(),
            "queued": counts["queued"], "in_flight": live.pop("in_flight"), "retrying": live.pop("retrying"),
            "dead_lettered": self.dead.count(),
            "oldest_pending_age_s": round(time.time() - oldest, 1) if oldest else None,
            **live, "queued_total": self.stats["queued"], "overflows": self.stats["overflows"], "watch_restarts": self.stats["watch_restarts"],
            "deep_scans": self.stats["deep_scans"],
            "catch_up_scans": self.stats["catch_up_scans"], "events_dropped": self.stats["events_dropped"],
        }

    def _write_status(self, force: bool = False, running: bool = True) -> None:
        fingerprint = json.dumps([len(self.tracker), sorted(self.stats.items()),
                                  sorted((k, str(v)) for k, v in self.deliverer.snapshot().items())])
        last, written_at = self._status_written
        if not force and fingerprint == last and time.monotonic() - written_at < 30:
            return  # nothing moved: an idle daemon does not touch the disk
        report = {**self.status(), "running": running}
        temp = self.folder / f".{STATUS_FILE}.tmp"
        temp.write_text(json.dumps(report, indent=1), encoding="utf-8")
        os.replace(temp, self.folder / STATUS_FILE)
        self._status_written = (fingerprint, time.monotonic())

    @staticmethod
    def _jitter(seconds: float) -> float:
        return seconds * random.uniform(0.8, 1.2)


def _printable(relative: str) -> str:
    """A relative path as text: undecodable bytes in a name become ``\\xNN`` escapes."""
    return relative.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
