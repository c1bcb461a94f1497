"""Choosing and starting the file-system watcher, and hearing when it lost events.

- inotify (watchdog's default observer on Linux) on local disks;
- polling on network and FUSE mounts, where inotify never hears about changes made by
  another machine, and when the inotify limits are exhausted (with an error naming the
  sysctl to raise);
- an inotify queue overflow is reported by watchdog only as a log record, so a logging
  handler turns that record into a rescan request.
"""

from __future__ import annotations

import errno
import logging
import os
import queue
from collections.abc import Callable
from pathlib import Path

from watchdog.events import (
    DirCreatedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer
from watchdog.observers.api import BaseObserver, EventQueue
from watchdog.observers.polling import PollingObserver

log = logging.getLogger("mediabuddy.daemon")

# File systems where inotify does not see every change: remote ones, and FUSE (sshfs, rclone...).
REMOTE_FS_TYPES = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "ncpfs", "9p", "afs", "ceph", "glusterfs", "lustre", "gpfs",
    "davfs", "vboxsf", "vmhgfs", "virtiofs", "fuse", "fuseblk",
})
INOTIFY_LIMITS = {
    errno.ENOSPC: ("fs.inotify.max_user_watches", "/proc/sys/fs/inotify/max_user_watches", 524288),
    errno.EMFILE: ("fs.inotify.max_user_instances", "/proc/sys/fs/inotify/max_user_instances", 1024),
}
WATCHDOG_INOTIFY_LOGGER = "watchdog.observers.inotify_c"
# Only what tells us a file appeared or was finished: created, closed after writing, moved
# in. Every write ends in a close, and a writer that is still busy is caught by the two
# stats that must agree, so per-write modify events add nothing but load. Leaving them out,
# with opened/closed-without-writing (our own reads cause those), deletions and folder
# modifications, cuts the events of a burst to two per file: fewer kernel overflows, and a
# smaller backlog in watchdog's unbounded event queue when the daemon is busy.
EVENTS = [FileCreatedEvent, FileClosedEvent, FileMovedEvent, DirCreatedEvent, DirMovedEvent]
POLLING_EVENTS = [*EVENTS, FileModifiedEvent]  # a polling watcher sees no closes, only changed stats
# watchdog reads every inotify event into an unbounded in-memory queue; in a 100,000-file
# burst that backlog reached 99,477 events (~45 MB) while the daemon was busy. Bounded, the
# events past the bound are dropped and treated like a kernel overflow: a rescan (which
# finds files from the folder and the ledger, not from events) takes over.
EVENT_BACKLOG = 5_000


def mount_fs_type(path: Path, mountinfo: str | None = None) -> str | None:
    """The file-system type of the mount holding ``path`` (from /proc/self/mountinfo), or None."""
    if mountinfo is None:
        try:
            mountinfo = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    target = os.path.realpath(path)
    best, best_type = "", None
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or not tail:
            continue
        mount_point = fields[4].replace("\\040", " ")
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) >= len(best):
            best, best_type = mount_point, tail[0]
    return best_type


def needs_polling(fs_type: str | None) -> bool:
    return fs_type is not None and (fs_type in REMOTE_FS_TYPES or fs_type.startswith("fuse."))


def start_observer(inbox: Path, handler: FileSystemEventHandler, mode: str, poll_seconds: float,
                   on_drop: Callable[[], None]) -> tuple[BaseObserver, str]:
    """Start watching ``inbox`` recursively; return the observer and a word for what it is."""
    if mode == "auto":
        fs_type = mount_fs_type(inbox)
        if needs_polling(fs_type):
            log.warning("the inbox is on a %s mount, where change events are unreliable; polling every %.1f s",
                        fs_type, poll_seconds)
            mode = "polling"
    if mode != "polling":
        try:
            observer = _bounded(Observer(), on_drop)  # watchdog opens the inotify instance here, adds watches in start()
            observer.schedule(handler, str(inbox), recursive=True, event_filter=EVENTS)
            observer.start()
            return observer, "events"
        except OSError as error:
            if error.errno not in INOTIFY_LIMITS:
                raise
            log.error("%s; falling back to polling every %.1f s", inotify_limit_advice(error.errno), poll_seconds)
    observer = _bounded(PollingObserver(timeout=poll_seconds), on_drop)
    observer.schedule(handler, str(inbox), recursive=True, event_filter=POLLING_EVENTS)
    observer.start()
    return observer, "polling"


class _DroppingQueue(EventQueue):
    """watchdog's event queue, bounded, and never blocking the reader: when it is full an
    event is dropped and ``on_drop`` asks for a rescan (the folder is the truth, not events)."""

    def __init__(self, on_drop: Callable[[], None]):
        super().__init__(maxsize=EVENT_BACKLOG)
        self._on_drop = on_drop

    def put(self, item: object, block: bool = True, timeout: float | None = None) -> None:
        try:
            super().put(item, block=False)
        except queue.Full:
            self._on_drop()


def _bounded(observer: BaseObserver, on_drop: Callable[[], None]) -> BaseObserver:
    # watchdog has no option for this; its emitters take the queue when scheduled, so it is
    # swapped before any schedule() call (checked against watchdog 7.1).
    observer._event_queue = _DroppingQueue(on_drop)
    return observer


def stop_observer(observer: BaseObserver, timeout: float = 2.0) -> None:
    """Stop and join; the queue is emptied first so that the dispatcher's stop marker fits."""
    try:
        while True:
            observer.event_queue.get_nowait()
    except queue.Empty:
        pass
    observer.stop()
    observer.join(timeout=timeout)


def inotify_limit_advice(code: int) -> str:
    """What to tell a person whose inotify limit ran out: the sysctl, its value, and how to raise it."""
    name, proc_file, suggested = INOTIFY_LIMITS[code]
    try:
        current = Path(proc_file).read_text().strip()
    except OSError:
        current = "unknown"
    return (f"the inotify limit {name} is exhausted (currently {current}); raise it with "
            f"`sudo sysctl {name}={suggested}` and make it permanent in /etc/sysctl.d/")


class OverflowAlarm(logging.Handler):
    """Turns watchdog's 'Inotify queue overflowed' log record into a call to ``on_overflow``."""

    def __init__(self, on_overflow: Callable[[], None]):
        super().__init__(level=logging.WARNING)
        self._on_overflow = on_overflow

    def emit(self, record: logging.LogRecord) -> None:
        if "overflow" in record.getMessage().lower():
            self._on_overflow()

    def __enter__(self) -> "OverflowAlarm":
        source = logging.getLogger(WATCHDOG_INOTIFY_LOGGER)
        if source.getEffectiveLevel() > logging.WARNING:
            source.setLevel(logging.WARNING)  # the record must be created even when logging is quieter
        source.addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger(WATCHDOG_INOTIFY_LOGGER).removeHandler(self)
