"""The persistent delivery queue, the dead-letter queue, and the ledger of files already queued.

Both queues are persist-queue ``SQLiteAckQueue`` files under ``var/daemon/``. An item is
acknowledged by id only after the server answered 2xx; an unacknowledged item survives a
crash and is delivered by the next start. persist-queue's ``nack`` would put a failing
item back at the head, so retries are scheduled with the item's own ``next_attempt_at``
instead: the item stays unacknowledged on disk and only its id and due time are held in
memory until then.

The ledger lives in the same SQLite file as the delivery queue, and both run in WAL mode
with ``synchronous=NORMAL``: a commit survives the process being killed at any moment,
and because one write-ahead log orders every commit, a power cut can only lose the most
recent ones together, never a ledger row without the queue item it records. A file whose
rows were lost that way is simply found again by the next scan.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from persistqueue import SQLiteAckQueue
from persistqueue.exceptions import Empty
from persistqueue.serializers import json as json_serializer
from persistqueue.sqlackqueue import AckStatus

from daemon import __version__

DELIVERIES_DB = "deliveries.db"  # the delivery queue and the ledger
HISTORY_LIMIT = 50
CACHE_KIB = 512  # SQLite page cache per connection (its default is 2 MiB); lookups are by primary key  # attempts kept per item: the first few and the latest ones


@dataclass
class Delivery:
    """One file version on its way to the server."""

    sha256: str
    relative_path: str
    spool_path: str
    size: int
    first_seen: float
    mtime_ns: int = 0
    inode: int = 0
    attempts: int = 0
    next_attempt_at: float = 0.0
    history: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Delivery":
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})

    @property
    def file_id(self) -> str:
        """The short id logs and the CLI use for this version: the start of its sha256 ('-' if never read)."""
        return self.sha256[:12] or "-"

    def note(self, status: int | None, error: str, body: str = "", counted: bool = True) -> None:
        """Record an attempt (or, with ``counted=False``, an event that spends no attempt)."""
        if counted:
            self.attempts += 1
        self.history.append({"at": round(time.time(), 3), "status": status, "error": error[:300],
                             "body": body[:500], "counted": counted})
        if len(self.history) > HISTORY_LIMIT:
            del self.history[5:len(self.history) - HISTORY_LIMIT + 5]


class DeliveryQueue:
    """Queued deliveries, durable across crashes."""

    def __init__(self, folder: Path, owner: bool = True):
        """``owner``: this is the daemon, so items a previous run left in flight are made ready again.

        Any other process (the CLI) opens the queue with ``owner=False`` and leaves them alone.
        """
        folder.mkdir(parents=True, exist_ok=True)
        self._queue = SQLiteAckQueue(str(folder), db_file_name=DELIVERIES_DB, multithreading=True,
                                     serializer=json_serializer, auto_resume=owner)
        _relax_sync(self._queue)
        self._lock = threading.Lock()

    def put(self, delivery: Delivery) -> int:
        return self._queue.put(asdict(delivery))

    def take(self, item_id: int | None = None) -> tuple[int, Delivery] | None:
        """The next ready item (or the one with ``item_id``), now marked in flight; None when there is none."""
        with self._lock:
            try:
                raw = self._queue.get(block=False, raw=True, id=item_id)
            except Empty:
                return None
        return raw["pqid"], Delivery.from_dict(raw["data"])

    def save(self, item_id: int, delivery: Delivery) -> None:
        with self._lock:
            self._queue.update(asdict(delivery), id=item_id)

    def ack(self, item_id: int) -> None:
        with self._lock:
            self._queue.ack(id=item_id)

    def clear_acked(self) -> None:
        """Delete acknowledged rows (done in batches by the daemon, not after every ack)."""
        with self._lock:
            self._queue.clear_acked_data(max_delete=100_000, keep_latest=0)

    def counts(self) -> dict[str, int]:
        """Items waiting to be taken (persist-queue's 'inited' and 'ready'), and items taken but not acknowledged."""
        rows = dict(self._sql(f"SELECT status < ?, count(*) FROM {self._queue._table_name} "  # noqa: S608
                              f"WHERE status < ? GROUP BY status < ?", (AckStatus.unack, AckStatus.acked,
                                                                         AckStatus.unack)))
        return {"queued": rows.get(1, 0), "unacknowledged": rows.get(0, 0)}

    def oldest_put_at(self) -> float | None:
        row = self._sql(f"SELECT min(timestamp) FROM {self._queue._table_name} WHERE status < ?",  # noqa: S608
                        (AckStatus.acked,))
        return row[0][0] if row else None

    def pending(self, chunk: int = 1000) -> Iterator[tuple[int, Delivery]]:
        """Every item not yet acknowledged, read in chunks so a long queue does not fill memory."""
        last = 0
        while True:
            rows = self._sql(f"SELECT _id, data FROM {self._queue._table_name} WHERE _id > ? AND status < ? "  # noqa: S608
                             f"ORDER BY _id LIMIT ?", (last, AckStatus.acked, chunk))
            if not rows:
                return
            for item_id, data in rows:
                yield item_id, Delivery.from_dict(json_serializer.loads(data))
            last = rows[-1][0]

    def _sql(self, query: str, args: tuple) -> list[tuple]:
        with self._lock:  # persist-queue has no query API; its reading connection and table name are stable
            return self._queue._getter.execute(query, args).fetchall()

    def close(self) -> None:
        self._queue.close()


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
        with self._lock:
            return self._queue.put(entry)

    def entries(self) -> list[dict[str, Any]]:
        """Every dead letter, oldest first."""
        with self._lock:
            rows = self._queue.queue()
        return [{"id": row["id"], **row["data"]} for row in rows if str(row["status"]) in ("0", "1")]

    def get(self, entry_id: int) -> dict[str, Any] | None:
        return next((e for e in self.entries() if e["id"] == entry_id), None)

    def remove(self, entry_id: int) -> None:
        with self._lock:
            self._queue.ack(id=entry_id)
            self._queue.clear_acked_data(max_delete=1000, keep_latest=0)

    def count(self) -> int:
        with self._lock:  # entries are never taken: they stay 'inited' until removed (acknowledged)
            return self._queue._getter.execute(f"SELECT count(*) FROM {self._queue._table_name} "  # noqa: S608
                                               "WHERE status < ?", (AckStatus.acked,)).fetchone()[0]

    def close(self) -> None:
        self._queue.close()


def _relax_sync(queue: SQLiteAckQueue) -> None:
    # persist-queue has no option for this; its two connections are the documented _getter/_putter.
    for connection in {id(c): c for c in (queue._getter, queue._putter) if c is not None}.values():
        connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute(f"PRAGMA cache_size=-{CACHE_KIB}")


class Ledger:
    """Which file versions (path, size, mtime, inode → sha256) were already queued.

    Lets a rescan skip files it has handled without reading them again. A crash between
    queueing an item and recording it here is repaired at start by ``reconcile``, which
    records every pending queue item; the server's idempotency on sha256 is the last guard.
    """

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(folder / DELIVERIES_DB, check_same_thread=False, timeout=30,
                                   isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(f"PRAGMA cache_size=-{CACHE_KIB}")
        self._db.execute("CREATE TABLE IF NOT EXISTS seen (path TEXT PRIMARY KEY, size INTEGER, mtime_ns INTEGER,"
                         " inode INTEGER, sha256 TEXT, queued_at REAL)")
        self._lock = threading.Lock()

    def signature(self, relative_path: str) -> tuple[int, int, int] | None:
        with self._lock:
            return self._db.execute("SELECT size, mtime_ns, inode FROM seen WHERE path = ?",
                                    (relative_path,)).fetchone()

    def queued_sha(self, relative_path: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT sha256 FROM seen WHERE path = ?", (relative_path,)).fetchone()
        return row[0] if row else None

    def remember(self, delivery: Delivery) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO seen VALUES (?, ?, ?, ?, ?, ?)",
                             (delivery.relative_path, delivery.size, delivery.mtime_ns, delivery.inode,
                              delivery.sha256, time.time()))

    def reconcile(self, pending: Iterator[tuple[int, Delivery]]) -> int:
        """Record pending queue items the ledger missed (a crash right after queueing); return how many."""
        repaired = 0
        for _, delivery in pending:
            with self._lock:
                row = self._db.execute("SELECT queued_at FROM seen WHERE path = ?",
                                       (delivery.relative_path,)).fetchone()
            if row is None or row[0] < delivery.first_seen:
                self.remember(delivery)
                repaired += 1
        return repaired

    def forget(self, relative_path: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM seen WHERE path = ?", (relative_path,))

    def close(self) -> None:
        self._db.close()
