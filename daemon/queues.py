"""The persistent delivery queue, the dead-letter queue, and the ledger of files already queued.

Both queues are persist-queue ``SQLiteAckQueue`` files under ``var/daemon/``. An item is
acknowledged by id only after the server answered 2xx; an unacknowledged item survives a
crash and is delivered by the next start. persist-queue's ``nack`` would put a failing
item back at the head, so retries are scheduled with the item's own ``next_attempt_at``
instead, held in memory while the item stays unacknowledged on disk.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from persistqueue import SQLiteAckQueue
from persistqueue.exceptions import Empty
from persistqueue.serializers import json as json_serializer

from daemon import __version__


@dataclass
class Delivery:
    """One file version on its way to the server."""

    sha256: str
    relative_path: str
    spool_path: str
    size: int
    first_seen: float
    attempts: int = 0
    next_attempt_at: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Delivery":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    def record(self, status: int | None, error: str, body: str = "") -> None:
        self.attempts += 1
        self.history.append({"at": time.time(), "status": status, "error": error[:300], "body": body[:500]})


class DeliveryQueue:
    """Queued deliveries, durable across crashes."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._queue = SQLiteAckQueue(str(folder), db_file_name="deliveries.db", multithreading=True,
                                     serializer=json_serializer, auto_resume=True)

    def put(self, delivery: Delivery) -> int:
        return self._queue.put(asdict(delivery))

    def take(self) -> tuple[int, Delivery] | None:
        """The next ready item, now marked in flight; None when nothing is ready."""
        try:
            raw = self._queue.get(block=False, raw=True)
        except Empty:
            return None
        return raw["pqid"], Delivery.from_dict(raw["data"])

    def save(self, item_id: int, delivery: Delivery) -> None:
        self._queue.update(asdict(delivery), id=item_id)

    def ack(self, item_id: int) -> None:
        self._queue.ack(id=item_id)
        self._queue.clear_acked_data(max_delete=1000, keep_latest=0)

    def counts(self) -> dict[str, int]:
        return {"queued": self._queue.ready_count(), "in_flight": self._queue.unack_count()}

    def close(self) -> None:
        self._queue.close()

    def oldest_first_seen(self) -> float | None:
        items = [i["data"] for i in self._queue.queue() if str(i["status"]) in ("0", "1", "2")]
        return min((i["first_seen"] for i in items), default=None)


class DeadLetters:
    """Deliveries that cannot succeed, with the reason and every attempt, until replayed or purged."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._queue = SQLiteAckQueue(str(folder), db_file_name="dead-letters.db", multithreading=True,
                                     serializer=json_serializer, auto_resume=False)
        self._lock = threading.Lock()

    def add(self, delivery: Delivery, reason_class: str, reason: str) -> int:
        entry = {"delivery": asdict(delivery), "reason_class": reason_class, "reason": reason,
                 "dead_at": time.time(), "daemon_version": __version__}
        return self._queue.put(entry)

    def entries(self) -> list[dict[str, Any]]:
        return [{"id": row["id"], **row["data"]} for row in self._queue.queue() if str(row["status"]) in ("0", "1")]

    def get(self, entry_id: int) -> dict[str, Any] | None:
        return next((e for e in self.entries() if e["id"] == entry_id), None)

    def remove(self, entry_id: int) -> None:
        with self._lock:
            self._queue.ack(id=entry_id)
            self._queue.clear_acked_data(max_delete=1000, keep_latest=0)

    def count(self) -> int:
        return len(self.entries())

    def close(self) -> None:
        self._queue.close()


class Ledger:
    """Which file versions (path, size, mtime, inode → sha256) were already queued.

    Lets a rescan skip files it has handled without hashing them again; the server's
    idempotency on sha256 covers the narrow window between queueing and recording here.
    """

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / "ledger.db", check_same_thread=False, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                         " inode INTEGER, sha256 TEXT, queued_at REAL)")
        self._lock = threading.Lock()

    def already_queued(self, relative_path: str, size: int, mtime_ns: int, inode: int) -> bool:
        with self._lock:
            row = self._db.execute("SELECT size, mtime_ns, inode FROM seen WHERE path = ?", (relative_path,)).fetchone()
        return row == (size, mtime_ns, inode)

    def queued_sha(self, relative_path: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT sha256 FROM seen WHERE path = ?", (relative_path,)).fetchone()
        return row[0] if row else None

    def remember(self, relative_path: str, size: int, mtime_ns: int, inode: int, sha256: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?, ?, ?)",
                             (relative_path, size, mtime_ns, inode, sha256, time.time()))

    def close(self) -> None:
        self._db.close()
