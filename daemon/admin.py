"""What the CLI needs from the daemon's files: counts, and dead-letter list/show/retry/purge.

These work whether or not the daemon is running: both open the same SQLite files.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from config import Settings
from daemon.queues import DeadLetters, Delivery, DeliveryQueue
from daemon.service import daemon_dir

REPLAY_INTERVAL_SECONDS = 0.2  # replays are spread out so a big retry does not stampede the server


def queue_status(settings: Settings) -> dict[str, Any]:
    folder = daemon_dir(settings)
    queue, dead = DeliveryQueue(folder), DeadLetters(folder)
    try:
        counts, oldest, dead_count = queue.counts(), queue.oldest_first_seen(), dead.count()
    finally:
        queue.close()
        dead.close()
    return {**counts, "dead_lettered": dead_count,
            "oldest_pending_age_s": round(time.time() - oldest, 1) if oldest else None}


@contextmanager
def _open(settings: Settings) -> Iterator[tuple[DeadLetters, DeliveryQueue]]:
    folder = daemon_dir(settings)
    dead, queue = DeadLetters(folder), DeliveryQueue(folder)
    try:
        yield dead, queue
    finally:
        dead.close()
        queue.close()


def dead_letters(settings: Settings) -> list[dict[str, Any]]:
    with _open(settings) as (dead, _):
        return dead.entries()


def dead_letter(settings: Settings, entry_id: int) -> dict[str, Any] | None:
    with _open(settings) as (dead, _):
        return dead.get(entry_id)


def replay(settings: Settings, entry_ids: list[int]) -> int:
    """Put dead letters back in the delivery queue (history kept, attempts reset)."""
    with _open(settings) as (dead, queue):
        return _replay(dead, queue, entry_ids)


def _replay(dead: DeadLetters, queue: DeliveryQueue, entry_ids: list[int]) -> int:
    start = time.time()
    replayed = 0
    for entry_id in entry_ids:
        entry = dead.get(entry_id)
        if entry is None:
            continue
        delivery = Delivery.from_dict(entry["delivery"])
        delivery.history.append({"at": time.time(), "status": None, "error": f"replayed from dead letter {entry_id}",
                                 "body": ""})
        delivery.attempts = 0
        delivery.next_attempt_at = start + replayed * REPLAY_INTERVAL_SECONDS
        queue.put(delivery)
        dead.remove(entry_id)
        replayed += 1
    return replayed


def purge(settings: Settings, entry_ids: list[int]) -> int:
    removed = 0
    with _open(settings) as (dead, _):
        for entry_id in entry_ids:
            if dead.get(entry_id) is not None:
                dead.remove(entry_id)
                removed += 1
    return removed
