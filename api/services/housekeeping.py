"""Forgetting what has no use any more, so that nothing grows without bound: spent or expired
sign-in nonces, ended sessions, finished idempotency records after a week, rate counters of past
minutes. Run every few minutes by the process that holds the writer lease."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import delete

from ..store import CitizenSession, IdempotencyRecord, RateHit, SiweNonce, utcnow
from .context import Context

__all__ = ["prune"]

#: How long a finished request's answer stays available for replay with its Idempotency-Key.
IDEMPOTENCY_WINDOW = timedelta(days=7)


def prune(ctx: Context) -> dict[str, int]:
    now = utcnow()
    with ctx.store.session() as session:
        removed = {
            "nonces": session.execute(
                delete(SiweNonce).where(SiweNonce.expires_at < now - timedelta(hours=1))
            ).rowcount,  # type: ignore[attr-defined]
            "sessions": session.execute(
                delete(CitizenSession).where(CitizenSession.expires_at < now - timedelta(days=1))
            ).rowcount,  # type: ignore[attr-defined]
            "idempotency": session.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.created_at < now - IDEMPOTENCY_WINDOW, IdempotencyRecord.status_code.is_not(None)
                )
            ).rowcount,  # type: ignore[attr-defined]
            "rate_hits": session.execute(delete(RateHit).where(RateHit.minute < int(time.time() // 60) - 2)).rowcount,  # type: ignore[attr-defined]
        }
        session.commit()
    return removed
