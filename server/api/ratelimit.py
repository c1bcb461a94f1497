"""Per-client rate limit: a token bucket per remote address, answered with 429 and Retry-After.

Checked before the token, so a flood of unauthenticated requests is throttled as well. The
buckets live in the server process (waitress runs one process with threads); several
server processes would each allow the rate. Idle buckets are dropped, so a scan from many
addresses cannot grow memory without bound.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict

MAX_CLIENTS = 10_000


class RateLimiter:
    """``rate`` requests per second per client, ``burst`` at once; ``rate == 0`` turns it off."""

    def __init__(self, rate: float, burst: int):
        self.rate = rate
        self.burst = burst
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # client → (tokens, when)
        self._lock = threading.Lock()

    def check(self, client: str) -> float | None:
        """Take one token for ``client``; None when allowed, else the seconds to wait."""
        if self.rate <= 0:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, then = self._buckets.pop(client, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - then) * self.rate)
            allowed = tokens >= 1.0
            if allowed:
                tokens -= 1.0
            self._buckets[client] = (tokens, now)  # most recent last
            if len(self._buckets) > MAX_CLIENTS:
                self._buckets.popitem(last=False)  # the client idle longest: it would be full again anyway
        return None if allowed else (1.0 - tokens) / self.rate

    @staticmethod
    def retry_after_header(wait: float) -> str:
        return str(max(1, math.ceil(wait)))  # delta-seconds must be a whole number
