"""A small SQLite record of the Replicate predictions we asked for, so a crash never pays twice.

A prediction is paid for when it is created, but its answer can be lost (a dropped
connection, a timeout, a worker killed mid-call). Before each create the client writes an
intent keyed by a hash of model and input; once the answer arrives it writes the
prediction's id. A later attempt with the same key, in this process or after a restart,
finds the id (or, for an intent without one, searches the account's recent predictions)
and waits on that prediction instead of buying another.

Outputs on Replicate are deleted after an hour, so older entries are useless and pruned.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

REUSE_SECONDS = 50 * 60   # outputs expire after an hour; leave room to download


@dataclass(frozen=True)
class Entry:
    key: str
    model: str
    prediction_id: str | None   # None: a create was sent but its answer never arrived
    state: str                  # creating | created | done
    age_seconds: float
    billed: bool                # a ledger row already counts this prediction's price


def request_key(model: str, payload: dict[str, object]) -> str:
    """The same model and input always give the same key (canonical JSON, sorted keys)."""
    canonical = json.dumps({"model": model, "input": payload}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class PredictionJournal:
    """Thread-safe; one short connection per operation so worker threads never share one."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("CREATE TABLE IF NOT EXISTS prediction (key TEXT PRIMARY KEY, model TEXT NOT NULL, "
                       "prediction_id TEXT, state TEXT NOT NULL, at REAL NOT NULL, billed INTEGER NOT NULL DEFAULT 0)")
            db.execute("DELETE FROM prediction WHERE at < ?", (time.time() - REUSE_SECONDS,))

    def _connect(self) -> sqlite3.Connection:
        connection = sqlite3.connect(self.path, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        return connection

    def _write(self, sql: str, args: tuple[object, ...]) -> None:
        with self._lock:
            connection = self._connect()
            try:
                with connection:
                    connection.execute(sql, args)
            finally:
                connection.close()

    def lookup(self, key: str) -> Entry | None:
        """The entry for this request if it is young enough for its output to still exist."""
        with self._lock:
            connection = self._connect()
            try:
                row = connection.execute("SELECT model, prediction_id, state, at, billed FROM prediction WHERE key = ?",
                                         (key,)).fetchone()
            finally:
                connection.close()
        if row is None or time.time() - row[3] > REUSE_SECONDS:
            return None
        return Entry(key, row[0], row[1], row[2], time.time() - row[3], bool(row[4]))

    def intend(self, key: str, model: str) -> None:
        """About to send a create: remembered before the money is spent."""
        self._write("INSERT INTO prediction (key, model, prediction_id, state, at) VALUES (?, ?, NULL, 'creating', ?) "
                    "ON CONFLICT(key) DO UPDATE SET state = 'creating', prediction_id = NULL, billed = 0, "
                    "at = excluded.at",
                    (key, model, time.time()))

    def record(self, key: str, model: str, prediction_id: str) -> None:
        """The create was answered (or found): this prediction is the one we paid for."""
        self._write("INSERT INTO prediction (key, model, prediction_id, state, at) VALUES (?, ?, ?, 'created', ?) "
                    "ON CONFLICT(key) DO UPDATE SET state = 'created', prediction_id = excluded.prediction_id, "
                    "at = excluded.at", (key, model, prediction_id, time.time()))

    def billed(self, key: str) -> None:
        """A ledger row now counts this prediction: whoever finds it later must not count it again."""
        self._write("UPDATE prediction SET billed = 1 WHERE key = ?", (key,))

    def done(self, key: str) -> None:
        """Its output was downloaded and verified; kept so a lost cache file can be fetched again."""
        self._write("UPDATE prediction SET state = 'done' WHERE key = ?", (key,))

    def forget(self, key: str) -> None:
        """The prediction failed, was canceled or its output is gone: the next attempt creates anew."""
        self._write("DELETE FROM prediction WHERE key = ?", (key,))
