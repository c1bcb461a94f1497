"""Delivery threads: take due items from the queue, post them, act on the server's answer.

Problems with one file (5xx, 408, a timeout) reschedule that file alone through its
``next_attempt_at``, so it never blocks the others. Problems with the server (it cannot be
reached, it throttles with 429, it refuses the token) pause every thread at once and
spend none of the files' attempts; the item that met the problem waits for the pause to
end. An item that keeps failing goes to the dead-letter queue after
``max_delivery_attempts`` counted failures, or once it is older than
``max_delivery_age_seconds``.
"""

from __future__ import annotations

import heapq
import logging
import random
import threading
import time
from collections import Counter
from pathlib import Path

from config import Settings
from daemon.client import Outcome, Uploader, Verdict
from daemon.queues import DeadLetters, Delivery, DeliveryQueue
from daemon.spool import discard

log = logging.getLogger("mediabuddy.daemon")
MIN_BACKOFF, MAX_BACKOFF = 1.0, 300.0
MAX_OUTAGE_PAUSE = 30.0
IDLE_WAIT = 5.0


def backoff(attempt: int, low: float = MIN_BACKOFF, high: float = MAX_BACKOFF) -> float:
    """Jittered exponential backoff: about ``low`` after the first failure, doubling, capped at ``high``."""
    return min(high, low * 2 ** max(0, attempt - 1)) * random.uniform(0.5, 1.5)


def fields(delivery: Delivery) -> dict[str, str]:
    """The structured fields every log line about a file carries."""
    return {"file": delivery.file_id, "path": delivery.relative_path}


class Deliverer:
    def __init__(self, settings: Settings, queue: DeliveryQueue, dead: DeadLetters, uploader: Uploader,
                 stop_event: threading.Event):
        self.settings = settings
        self.queue, self.dead, self.uploader = queue, dead, uploader
        self.stop_event = stop_event
        self.stats: Counter[str] = Counter()
        self.db_guard = threading.Lock()  # held while a thread writes after a POST; the daemon takes it to close
        self._lock = threading.Lock()
        self._work = threading.Event()
        self._retries: list[tuple[float, int]] = []  # (due time, queue item id)
        self._paused_until = 0.0
        self._pause_reason: str | None = None
        self._outages = 0
        self._in_flight = 0
        self._threads: list[threading.Thread] = []

    # Lifecycle ----------------------------------------------------------------------------

    def start(self) -> None:
        for number in range(self.settings.delivery_workers):
            thread = threading.Thread(target=self._run, name=f"mediabuddy-deliver-{number}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def join(self, timeout: float) -> bool:
        """Wait for the threads to finish their current upload; True when all did."""
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in self._threads)

    def wake(self) -> None:
        """New work was queued."""
        self._work.set()

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            paused_for = max(0.0, self._paused_until - time.time())
            return {"in_flight": self._in_flight, "retrying": len(self._retries),
                    "paused": paused_for > 0, "pause_reason": self._pause_reason,  # kept until a delivery succeeds
                    "paused_for_s": round(paused_for, 1),
                    **{f"{name}_since_start": self.stats[name] for name in ("delivered", "retried", "dead_lettered")}}

    # The loop -----------------------------------------------------------------------------

    def _run(self) -> None:
        while not self.stop_event.is_set():
            pause = self._paused_until - time.time()
            if pause > 0:
                self.stop_event.wait(min(pause, 1.0))
                continue
            self._work.clear()
            picked = self._next_due()
            if picked is None:
                self._work.wait(self._idle_wait())
                continue
            item_id, delivery = picked
            if delivery.next_attempt_at > time.time():
                self._schedule(item_id, delivery.next_attempt_at)
                continue
            try:
                self._deliver(item_id, delivery)
            except Exception:  # noqa: BLE001 - one bad item must not stop delivery; it stays unacknowledged
                log.exception("unexpected error delivering file=%s; it will be tried again", delivery.file_id,
                              extra=fields(delivery))
                self._schedule(item_id, time.time() + backoff(3))

    def _next_due(self) -> tuple[int, Delivery] | None:
        now = time.time()
        while True:
            with self._lock:
                if not (self._retries and self._retries[0][0] <= now):
                    break
                _, item_id = heapq.heappop(self._retries)
            taken = self.queue.take(item_id)  # None when it was removed meanwhile (dlq purge, say)
            if taken is not None:
                return taken
        return self.queue.take()

    def _idle_wait(self) -> float:
        with self._lock:
            due = self._retries[0][0] - time.time() if self._retries else IDLE_WAIT
        return max(0.05, min(IDLE_WAIT, due))

    def _schedule(self, item_id: int, due: float) -> None:
        with self._lock:
            heapq.heappush(self._retries, (due, item_id))

    # One upload ---------------------------------------------------------------------------

    def _deliver(self, item_id: int, delivery: Delivery) -> None:
        with self._lock:
            self._in_flight += 1
        try:
            outcome = self.uploader.deliver(Path(delivery.spool_path), delivery.relative_path, delivery.sha256)
        finally:
            with self._lock:
                self._in_flight -= 1
        with self.db_guard:
            if self.stop_event.is_set():
                return  # stopping: leave it unacknowledged; the next start sends it again (the server dedupes)
            self._act(item_id, delivery, outcome)

    def _act(self, item_id: int, delivery: Delivery, outcome: Outcome) -> None:
        tag = fields(delivery)
        verdict = outcome.verdict
        if verdict is Verdict.DELIVERED:
            self.queue.ack(item_id)
            discard(delivery.spool_path)
            self.stats["delivered"] += 1
            self._server_is_back()
            log.info("delivered file=%s path=%s (HTTP %s)", delivery.file_id, delivery.relative_path, outcome.status,
                     extra=tag)
            return
        if verdict is Verdict.PERMANENT:
            delivery.note(outcome.status, outcome.message, outcome.body_excerpt)
            self.dead_letter(item_id, delivery, "rejected", f"the server refused this file: {outcome.message}")
            return
        age = time.time() - delivery.first_seen
        if age > self.settings.max_delivery_age_seconds:
            delivery.note(outcome.status, outcome.message, outcome.body_excerpt)
            self.dead_letter(item_id, delivery, "expired", f"not delivered within {_duration(age)}; "
                             f"last problem: {outcome.message}")
            return
        if verdict in (Verdict.UNAUTHORIZED, Verdict.WRONG_SERVER):
            until = self._pause(5.0 if verdict is Verdict.UNAUTHORIZED else 10.0, verdict.value, outcome.message)
            self._schedule(item_id, until)
        elif verdict is Verdict.UNREACHABLE:
            self._outages += 1
            wait = outcome.retry_after or backoff(self._outages, high=MAX_OUTAGE_PAUSE)
            until = self._pause(wait, "unreachable", outcome.message)
            self._schedule(item_id, until)
        elif verdict is Verdict.THROTTLED:
            wait = outcome.retry_after if outcome.retry_after is not None else backoff(delivery.attempts + 1)
            until = self._pause(wait, "throttled", f"{outcome.message} (HTTP {outcome.status}, waiting {wait:.1f} s)")
            delivery.note(outcome.status, outcome.message, outcome.body_excerpt, counted=False)
            delivery.next_attempt_at = until
            self.queue.save(item_id, delivery)
            self._schedule(item_id, until)
        else:  # TRANSIENT: this file's problem
            delivery.note(outcome.status, outcome.message, outcome.body_excerpt)
            if delivery.attempts >= self.settings.max_delivery_attempts:
                self.dead_letter(item_id, delivery, "gave_up", f"still failing after {delivery.attempts} attempts; "
                                 f"last error: {outcome.message}")
                return
            wait = max(backoff(delivery.attempts), outcome.retry_after or 0.0)
            delivery.next_attempt_at = time.time() + wait
            self.queue.save(item_id, delivery)
            self._schedule(item_id, delivery.next_attempt_at)
            self.stats["retried"] += 1
            log.warning("will retry file=%s path=%s in %.1f s (attempt %d of %d): %s", delivery.file_id,
                        delivery.relative_path, wait, delivery.attempts, self.settings.max_delivery_attempts,
                        outcome.message, extra=tag)

    def dead_letter(self, item_id: int | None, delivery: Delivery, reason_class: str, reason: str) -> None:
        self.dead.add(delivery, reason_class, reason)
        if item_id is not None:
            self.queue.ack(item_id)
        self.stats["dead_lettered"] += 1
        log.error("dead-lettered file=%s path=%s: %s", delivery.file_id, delivery.relative_path, reason,
                  extra=fields(delivery))

    # Server-wide pauses -------------------------------------------------------------------

    def _pause(self, seconds: float, reason: str, message: str) -> float:
        """Pause every delivery thread for ``seconds``; say so when the pause starts or changes reason."""
        with self._lock:
            until = max(self._paused_until, time.time() + seconds)
            announce = reason != self._pause_reason
            self._paused_until, self._pause_reason = until, reason
        self.stats[f"paused_{reason}"] += 1
        if announce and reason == "unauthorized":
            log.error("DELIVERY PAUSED: the server refused our API token (%s). Set MEDIABUDDY_API_TOKEN to the "
                      "server's token or check var/api-token; nothing is lost, and delivery resumes by itself "
                      "once the token is accepted.", message)
        elif announce and reason == "wrong_server":
            log.error("DELIVERY PAUSED: %s has no Media Buddy upload endpoint (%s). Check MEDIABUDDY_SERVER_URL; "
                      "nothing is lost, and delivery resumes by itself once the server answers.",
                      self.settings.effective_server_url, message)
        elif announce:
            log.warning("delivery paused for %.1f s: %s", seconds, message)
        return until

    def _server_is_back(self) -> None:
        with self._lock:
            was = self._pause_reason
            self._pause_reason, self._outages = None, 0
        if was is not None:
            log.warning("the server accepts deliveries again (after: %s); resuming", was)


def _duration(seconds: float) -> str:
    if seconds >= 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
