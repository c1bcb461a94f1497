"""What the CLI needs from the daemon's files: status, and dead-letter list/show/retry/purge.

These work whether or not the daemon is running: they open the same SQLite files. While
it runs, the live figures come from the status file it keeps up to date.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from config import Settings
from daemon.queues import DeadLetters, Delivery, DeliveryQueue, Ledger
from daemon.service import RESCAN_REQUEST, STATUS_FILE, daemon_dir, daemon_running
from daemon.spool import discard

REPLAY_INTERVAL_SECONDS = 0.2  # replays are spread out so a big retry does not stampede the server


def queue_status(settings: Settings) -> dict[str, Any]:
    """Queued, in-flight, retrying and dead-lettered counts and the oldest pending item's age."""
    folder = daemon_dir(settings)
    with _open(settings) as (dead, queue):
        counts, oldest, dead_count = queue.counts(), queue.oldest_put_at(), dead.count()
    running = daemon_running(settings)
    if running:
        try:  # live figures (in flight, retrying, pauses) only the daemon knows; written every second
            live = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
            return {**live, "dead_lettered": dead_count}
        except (OSError, ValueError):
            pass  # just started and not written yet: the queues alone
    return {"running": running, "queued": counts["queued"] + counts["unacknowledged"],
            "in_flight": 0, "retrying": 0, "dead_lettered": dead_count,
            "oldest_pending_age_s": round(time.time() - oldest, 1) if oldest else None}


@contextmanager
def _open(settings: Settings) -> Iterator[tuple[DeadLetters, DeliveryQueue]]:
    folder = daemon_dir(settings)
    dead, queue = DeadLetters(folder), DeliveryQueue(folder, owner=False)
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
    """Give dead letters another go (history kept, attempts reset); return how many.

    A spooled entry goes back into the delivery queue, spread out in time. An entry that
    was refused before spooling (too big, a bad name) is forgotten by the ledger, so the
    daemon looks at the file in the inbox again.
    """
    folder = daemon_dir(settings)
    ledger = Ledger(folder)
    try:
        with _open(settings) as (dead, queue):
            start = time.time()
            replayed = 0
            for entry_id in entry_ids:
                entry = dead.get(entry_id)
                if entry is None:
                    continue
                delivery = Delivery.from_dict(entry["delivery"])
                delivery.note(None, f"replayed from dead letter {entry_id}", counted=False)
                delivery.attempts = 0
                if delivery.spool_path:
                    delivery.first_seen = time.time()  # the age limit counts from the replay
                    delivery.next_attempt_at = start + replayed * REPLAY_INTERVAL_SECONDS
                    queue.put(delivery)
                else:
                    ledger.forget(delivery.relative_path)
                dead.remove(entry_id)
                replayed += 1
    finally:
        ledger.close()
    if replayed:
        (folder / RESCAN_REQUEST).touch()
    return replayed


def purge(settings: Settings, entry_ids: list[int]) -> int:
    """Delete dead letters and their spooled copies; the files in the inbox are never touched."""
    removed = 0
    with _open(settings) as (dead, _):
        for entry_id in entry_ids:
            entry = dead.get(entry_id)
            if entry is not None:
                dead.remove(entry_id)
                discard(entry["delivery"]["spool_path"])
                removed += 1
    return removed
