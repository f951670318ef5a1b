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

    def check(self, client: str, bucket: str) -> None:
        now = time.monotonic()
        with self._lock:
            hits = self._hits[(client, bucket)]
            while hits and now - hits[0] > 60:
                hits.popleft()
            if len(hits) >= self.per_minute:
                retry = max(1, int(60 - (now - hits[0])) + 1)
                raise ApiError(
                    429, "rate_limited", f"too many {bucket} requests; retry in {retry}s", {"Retry-After": str(retry)}
                )
            hits.append(now)
