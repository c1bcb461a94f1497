"""Readiness: a file is ready once no event touched it for the stability delay and two stats agree."""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Signature:
    size: int
    mtime_ns: int
    inode: int

    @classmethod
    def of(cls, path: Path) -> "Signature | None":
        try:
            st = os.stat(path, follow_symlinks=False)
        except OSError:
            return None
        return cls(st.st_size, st.st_mtime_ns, st.st_ino)


class StabilityTracker:
    """Collects candidate paths and hands them out once they stop changing."""

    def __init__(self, delay: float, clock=time.monotonic):  # noqa: ANN001 - a callable returning seconds
        self._delay = delay
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[Path, tuple[float, Signature | None]] = {}

    def touch(self, path: Path) -> None:
        """Note an event (or a scan sighting) for ``path``; restarts its quiet period."""
        with self._lock:
            self._pending[path] = (self._clock(), Signature.of(path))

    def forget(self, path: Path) -> None:
        with self._lock:
            self._pending.pop(path, None)

    def __len__(self) -> int:
        return len(self._pending)

    def ready(self) -> list[tuple[Path, Signature]]:
        """Paths quiet for the delay whose stat still matches the one taken at the last event."""
        now = self._clock()
        done: list[tuple[Path, Signature]] = []
        with self._lock:
            for path, (seen_at, signature) in list(self._pending.items()):
                if now - seen_at < self._delay:
                    continue
                current = Signature.of(path)
                if current is None:
                    del self._pending[path]  # gone: deleted or renamed away before it settled
                elif current != signature:
                    self._pending[path] = (now, current)  # still being written: wait another period
                else:
                    del self._pending[path]
                    done.append((path, current))
        return done
