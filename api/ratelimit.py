"""Per-client request limits for the claim and sign-in endpoints (answered with 429)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from .errors import ApiError

__all__ = ["RateLimiter"]


class RateLimiter:
    """A sliding one-minute window per (client, bucket), kept in memory."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()
        self._swept = time.monotonic()

    def _sweep(self, now: float) -> None:
        """Forgets clients with no hit in the last minute: without this every address ever seen
        kept its entry, and a stream of new addresses grew the process without bound."""
        if now - self._swept < 60:
            return
        self._swept = now
        for key in [k for k, hits in self._hits.items() if not hits or now - hits[-1] > 60]:
            del self._hits[key]

    def check(self, client: str, bucket: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._sweep(now)
            hits = self._hits[(client, bucket)]
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry = max(1, int(60 - (now - hits[0])) + 1)
                raise ApiError(
                    429, "rate_limited", f"too many {bucket} requests; retry in {retry}s", {"Retry-After": str(retry)}
                )
            hits.append(now)
