"""Readiness: a file is ready once no event touched it for the stability delay and two stats agree.

Candidates are kept in the order they were last touched, so handing out the ready ones
only looks at the quiet end of the list: a burst of 100,000 files costs nothing per tick
beyond the files that are actually due.
"""

from __future__ import annotations

import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Signature:
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: str) -> "Signature | None":
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


@dataclass(slots=True)
class _Pending:
    touched_at: float
    signature: Signature | None
    first_seen: float
    reported: bool = False


class StabilityTracker:
    """Collects candidate paths and hands them out once they stop changing.

    A file that keeps changing for longer than ``settle_cap`` is reported once (see
    ``still_changing``) and still delivered as soon as it settles.
    """

    def __init__(self, delay: float, settle_cap: float = 600.0, capacity: int = 10_000,
                 clock=time.monotonic):  # noqa: ANN001 - a callable returning seconds
        self._delay = delay
        self.capacity = capacity
        self._settle_cap = settle_cap
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()

    def full(self) -> bool:
        return len(self._pending) >= self.capacity

    def touch(self, path: str, event: bool = True) -> bool:
        """Note an event for ``path``, restarting its quiet period; a scan sighting (``event=False``)
        of a path already waiting changes nothing.

        Returns False, noting nothing, when ``capacity`` candidates are already waiting: the
        caller must find this path again later (by rescanning), which keeps memory bounded
        whatever the size of a burst.
        """
        if not event and path in self._pending:
            return True
        if len(self._pending) >= self.capacity and path not in self._pending:
            return False  # checked before the stat: when a burst overflows us, refusing must be cheap
        signature = Signature.of(path)
        now = self._clock()
        with self._lock:
            entry = self._pending.get(path)
            if entry is None:
                if len(self._pending) >= self.capacity:
                    return False
                self._pending[path] = _Pending(now, signature, now)
            else:
                entry.touched_at, entry.signature = now, signature
                self._pending.move_to_end(path)
        return True

    def __len__(self) -> int:
        return len(self._pending)

    def ready(self, limit: int = 2000) -> list[tuple[str, Signature]]:
        """Up to ``limit`` paths quiet for the delay whose stat still matches the one taken at the last event."""
        now = self._clock()
        done: list[tuple[str, Signature]] = []
        rearmed: list[tuple[str, _Pending]] = []
        with self._lock:
            while self._pending and len(done) < limit:
                path, entry = next(iter(self._pending.items()))
                if now - entry.touched_at < self._delay:
                    break  # everything after this one was touched later still
                del self._pending[path]
                current = Signature.of(path)
                if current is None:
                    continue  # gone: deleted or renamed away before it settled
                if current != entry.signature:
                    entry.touched_at, entry.signature = now, current  # still being written
                    rearmed.append((path, entry))
                else:
                    done.append((path, current))
            for path, entry in rearmed:
                self._pending[path] = entry
        return done

    def still_changing(self) -> list[tuple[str, float]]:
        """Files changing for longer than the cap that were not reported yet, with their age; marks them reported."""
        now = self._clock()
        found = []
        with self._lock:
            for path, entry in self._pending.items():
                if not entry.reported and now - entry.first_seen > self._settle_cap:
                    entry.reported = True
                    found.append((path, now - entry.first_seen))
        return found

    def changing_count(self) -> int:
        with self._lock:
            return sum(1 for entry in self._pending.values() if entry.reported)
