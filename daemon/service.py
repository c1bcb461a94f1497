"""The inbox daemon: detect → wait until stable → spool → queue → deliver, one instance per inbox.

Events are a hint and the folder is the truth: a startup scan, watchdog events and a
periodic jittered rescan all feed the same StabilityTracker. Delivery runs on its own
thread so a slow server never delays noticing files.
"""

from __future__ import annotations

import fcntl
import heapq
import logging
import os
import random
import threading
import time
from pathlib import Path

from watchdog.events import FileSystemEvent, FileSystemEventHandler
from watchdog.observers import Observer

from config import Settings
from daemon.client import Uploader, Verdict
from daemon.filters import inside, is_article
from daemon.queues import DeadLetters, Delivery, DeliveryQueue, Ledger
from daemon.spool import spool_copy
from daemon.stability import StabilityTracker

log = logging.getLogger("mediabuddy.daemon")
MIN_BACKOFF, MAX_BACKOFF = 1.0, 300.0


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


class _Events(FileSystemEventHandler):
    def __init__(self, daemon: "InboxDaemon"):
        self._daemon = daemon

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:  # an exception here would kill watchdog's emitter thread: never let one out
            paths = [event.src_path, getattr(event, "dest_path", "")] if event.event_type == "moved" else [event.src_path]
            for raw in filter(None, paths):
                path = Path(os.fsdecode(raw))
                if event.is_directory:
                    if event.event_type in ("created", "moved"):
                        self._daemon.scan(path)
                else:
                    self._daemon.notice(path)
        except Exception:  # noqa: BLE001 - logged; the watcher must survive any one bad event
            log.exception("error handling %s event; the watcher carries on", event.event_type)


class InboxDaemon:
    """Watches ``settings.inbox_dir`` and delivers every markdown file to the server exactly once."""

    def __init__(self, settings: Settings, uploader: Uploader | None = None):
        self.settings = settings
        self.inbox = settings.inbox_dir
        self.folder = daemon_dir(settings)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.stop_event = threading.Event()
        self.tracker = StabilityTracker(settings.stability_seconds)
        self.uploader = uploader or Uploader(settings.effective_server_url, lambda: read_token(settings))
        self._lock_handle = None
        self.queue: DeliveryQueue | None = None
        self.dead: DeadLetters | None = None
        self.ledger: Ledger | None = None
        self._retries: list[tuple[float, int, dict]] = []
        self._observer = None
        self._inbox_identity: tuple[int, int] | None = None

    # Lifecycle --------------------------------------------------------------------------

    def run(self) -> None:
        """Block until ``stop_event`` is set; in-flight items stay unacknowledged for the next start."""
        self._acquire_lock()
        self.inbox.mkdir(parents=True, exist_ok=True)
        self.queue, self.dead, self.ledger = DeliveryQueue(self.folder), DeadLetters(self.folder), Ledger(self.folder)
        deliverer = threading.Thread(target=self._deliver_loop, name="mediabuddy-deliver", daemon=True)
        deliverer.start()
        self._start_observer()
        self.scan(self.inbox)
        log.info("watching %s, delivering to %s", self.inbox, self.settings.effective_server_url)
        next_rescan = time.monotonic() + self._jitter(self.settings.rescan_seconds)
        try:
            while not self.stop_event.wait(0.1):
                for path, signature in self.tracker.ready():
                    self._ingest(path, signature)
                if self._watch_broken() or time.monotonic() >= next_rescan:
                    self.scan(self.inbox)
                    next_rescan = time.monotonic() + self._jitter(self.settings.rescan_seconds)
        finally:
            self._stop_observer()
            deliverer.join(timeout=5)
            self.ledger.close()
            self.queue.close()
            self.dead.close()
            self._release_lock()
            log.info("daemon stopped")

    def stop(self) -> None:
        self.stop_event.set()

    def _release_lock(self) -> None:
        if self._lock_handle is not None:
            fcntl.flock(self._lock_handle, fcntl.LOCK_UN)
            self._lock_handle.close()
            self._lock_handle = None

    def _acquire_lock(self) -> None:
        handle = open(self.folder / "daemon.lock", "a+")  # noqa: SIM115 - held for the daemon's life
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise DaemonError(f"another Media Buddy daemon (pid {holder}) is already watching {self.inbox}") from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._lock_handle = handle

    # Detection ----------------------------------------------------------------------------

    def _start_observer(self) -> None:
        observer = Observer()
        observer.schedule(_Events(self), str(self.inbox), recursive=True)
        observer.start()
        self._observer = observer
        self._inbox_identity = self._identity()

    def _stop_observer(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join(timeout=5)
            self._observer = None

    def _identity(self) -> tuple[int, int] | None:
        try:
            st = os.stat(self.inbox)
            return st.st_dev, st.st_ino
        except OSError:
            return None

    def _watch_broken(self) -> bool:
        """Restart the observer if its thread died or the inbox was deleted or replaced."""
        identity = self._identity()
        alive = self._observer is not None and self._observer.is_alive()
        if alive and identity == self._inbox_identity:
            return False
        log.warning("inbox watch lost (observer alive=%s, inbox replaced=%s); restarting it and rescanning",
                    alive, identity != self._inbox_identity)
        self._stop_observer()
        self.inbox.mkdir(parents=True, exist_ok=True)
        self._start_observer()
        return True

    def notice(self, path: Path) -> None:
        if is_article(path, self.inbox):
            self.tracker.touch(path)

    def scan(self, folder: Path) -> None:
        """Walk ``folder`` (inside the inbox) and note every article; events are only hints."""
        for root, dirs, files in os.walk(folder, followlinks=False):
            dirs[:] = [d for d in dirs if not d.startswith(".")]
            for name in files:
                self.notice(Path(root) / name)

    # Ingest -------------------------------------------------------------------------------

    def _ingest(self, path: Path, signature) -> None:  # noqa: ANN001 - a stability.Signature
        if not inside(path, self.inbox):
            log.warning("ignoring %s: it links outside the inbox", path)
            return
        relative = path.relative_to(self.inbox).as_posix()
        if self.ledger.already_queued(relative, signature.size, signature.mtime_ns, signature.inode):
            return
        try:
            sha, spooled, size = spool_copy(path, self.folder / "spool")
        except OSError as error:
            log.warning("could not read %s (%s); will try again on the next scan", relative, error)
            return
        if self.ledger.queued_sha(relative) != sha:
            self.queue.put(Delivery(sha256=sha, relative_path=relative, spool_path=str(spooled), size=size,
                                    first_seen=time.time()))
            log.info("queued file=%s path=%s size=%d", sha[:12], relative, size)
        self.ledger.remember(relative, signature.size, signature.mtime_ns, signature.inode, sha)

    # Delivery ----------------------------------------------------------------------------

    def _deliver_loop(self) -> None:
        paused_until = 0.0
        while not self.stop_event.is_set():
            now = time.time()
            if now < paused_until:
                self.stop_event.wait(min(1.0, paused_until - now))
                continue
            picked = self._next_due(now)
            if picked is None:
                self.stop_event.wait(0.2)
                continue
            item_id, delivery = picked
            if delivery.next_attempt_at > now:
                heapq.heappush(self._retries, (delivery.next_attempt_at, item_id, delivery.__dict__))
                continue
            outcome = self.uploader.deliver(Path(delivery.spool_path), delivery.relative_path, delivery.sha256)
            tag = f"file={delivery.sha256[:12]} path={delivery.relative_path}"
            if outcome.verdict is Verdict.DELIVERED:
                self.queue.ack(item_id)
                log.info("delivered %s (HTTP %s)", tag, outcome.status)
            elif outcome.verdict is Verdict.UNAUTHORIZED:
                log.error("DELIVERY PAUSED: the server refused our token (%s). Check MEDIABUDDY_API_TOKEN or "
                          "var/api-token; nothing is lost, delivery resumes once it is accepted.", outcome.message)
                paused_until = time.time() + 5
                heapq.heappush(self._retries, (paused_until, item_id, delivery.__dict__))
            elif outcome.verdict is Verdict.PERMANENT:
                delivery.record(outcome.status, outcome.message, outcome.body_excerpt)
                self._dead_letter(item_id, delivery, "rejected", f"the server refused this file: {outcome.message}")
            else:
                delivery.record(outcome.status, outcome.message, outcome.body_excerpt)
                if delivery.attempts >= self.settings.max_delivery_attempts:
                    self._dead_letter(item_id, delivery, "gave_up", f"still failing after {delivery.attempts} "
                                      f"attempts; last error: {outcome.message}")
                    continue
                wait = min(MAX_BACKOFF, MIN_BACKOFF * 2 ** (delivery.attempts - 1)) * random.uniform(0.5, 1.5)
                wait = max(wait, outcome.retry_after or 0.0)
                delivery.next_attempt_at = time.time() + wait
                self.queue.save(item_id, delivery)
                heapq.heappush(self._retries, (delivery.next_attempt_at, item_id, delivery.__dict__))
                log.warning("retrying %s in %.1f s (attempt %d): %s", tag, wait, delivery.attempts, outcome.message)

    def _next_due(self, now: float) -> tuple[int, Delivery] | None:
        if self._retries and self._retries[0][0] <= now:
            _, item_id, data = heapq.heappop(self._retries)
            return item_id, Delivery.from_dict(data)
        return self.queue.take()

    def _dead_letter(self, item_id: int, delivery: Delivery, reason_class: str, reason: str) -> None:
        self.dead.add(delivery, reason_class, reason)
        self.queue.ack(item_id)
        log.error("dead-lettered file=%s path=%s: %s", delivery.sha256[:12], delivery.relative_path, reason)

    @staticmethod
    def _jitter(seconds: float) -> float:
        return seconds * random.uniform(0.8, 1.2)
