"""Per-client request limits (answered with 429), shared by every API process.

The buckets that guard writes and sign-in count in the database (one row per client, bucket and
minute), so several worker processes enforce one limit. Public reads are counted in each
process's memory: they are cheap to serve and counting them in the database would cost more
than the reads themselves.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError

from .services.errors import RateLimited
from .store import RateHit, Store

__all__ = ["RateLimiter"]


class RateLimiter:
    def __init__(self, store: Store | None, local_buckets: frozenset[str] = frozenset({"public"})) -> None:
        self._store = store
        self._local_buckets = local_buckets
        self._local: dict[tuple[str, str, int], int] = defaultdict(int)
        self._lock = threading.Lock()
        self._swept = 0

    def check(self, client: str, bucket: str, per_minute: int) -> None:
        now = time.time()
        minute = int(now // 60)
        if self._store is None or bucket in self._local_buckets:
            hits = self._count_locally(client, bucket, minute)
        else:
            hits = self._count_shared(client[:100], bucket, minute)
        if hits > per_minute:
            retry = max(1, int(60 - now % 60) + 1)
            raise RateLimited("rate_limited", f"too many {bucket} requests; retry in {retry}s", retry_after=retry)

    def _count_locally(self, client: str, bucket: str, minute: int) -> int:
        with self._lock:
            if minute != self._swept:
                # Forget earlier minutes: a stream of new addresses must not grow the process.
                for key in [k for k in self._local if k[2] < minute]:
                    del self._local[key]
                self._swept = minute
            self._local[(client, bucket, minute)] += 1
            return self._local[(client, bucket, minute)]

    def _count_shared(self, client: str, bucket: str, minute: int) -> int:
        assert self._store is not None
        with self._store.session() as session:
            where = (RateHit.client == client, RateHit.bucket == bucket, RateHit.minute == minute)
            if session.execute(update(RateHit).where(*where).values(hits=RateHit.hits + 1)).rowcount == 0:  # type: ignore[attr-defined]
                session.add(RateHit(client=client, bucket=bucket, minute=minute, hits=1))
                try:
                    session.commit()
                except IntegrityError:  # another process counted the first hit
                    session.rollback()
                    session.execute(update(RateHit).where(*where).values(hits=RateHit.hits + 1))
                    session.commit()
            else:
                session.commit()
            hits = int(session.scalar(select(RateHit.hits).where(*where)) or 0)
            if minute % 10 == 0 and minute != self._swept:
                self._swept = minute
                session.execute(delete(RateHit).where(RateHit.minute < minute - 1))
                session.commit()
        return hits
