"""The indexer: follows the contracts' events into the store, resumable and reorg-safe.

It remembers the hashes of the last ``REORG_WINDOW`` indexed blocks. Each pass first checks the
newest one against the chain; when they differ the chain was reorganised, and it rolls back
block by block to the common ancestor before reading forward again, so the end state equals a
fresh re-index. Verification answers are read from here, not one chain call per record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ledger import Ledger

from .store import ChainEvent, IndexedBlock, Store

__all__ = ["REORG_WINDOW", "Indexer", "SyncResult"]

#: Deepest reorganisation handled incrementally; a deeper one is handled by re-indexing.
REORG_WINDOW = 128
CHUNK = 2_000


@dataclass(frozen=True)
class SyncResult:
    head: int
    events: int
    rolled_back: int


class ReorgDuringSync(Exception):
    """The chain changed under a pass; the pass is discarded and run again."""


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return "0x" + value.hex()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value) if abs(value) >= 2**53 else value
    return value


def _row(event: Any, ledger: Ledger) -> ChainEvent:
    args = dict(event["args"])
    name = event["event"]
    citizen = args.get("citizen") or args.get("attendee")
    points = 0
    activity = args.get("activityId")
    event_id = args.get("eventId")
    if name == "ActivityRecorded":
        points = int(args["points"])
    elif name in ("AwardReversed", "PointsRedeemed"):
        points = -int(args["points"])
    elif name == "TransferSingle":
        citizen = args["to"] if int(args["from"], 16) == 0 else args["from"]
        event_id = args["id"]
    return ChainEvent(
        block_number=int(event["blockNumber"]),
        block_hash=event["blockHash"].to_0x_hex(),
        tx_hash=event["transactionHash"].to_0x_hex(),
        log_index=int(event["logIndex"]),
        contract=str(event["address"]),
        name=name,
        citizen=str(citizen) if citizen else None,
        activity_id=None if activity is None else str(activity),
        event_id=None if event_id is None else str(event_id),
        points_delta=points,
        args=json.dumps({k: _jsonable(v) for k, v in args.items()}),
    )


class Indexer:
    def __init__(self, store: Store) -> None:
        self.store = store

    def cursor(self, session: Session) -> int | None:
        return session.scalar(select(func.max(IndexedBlock.number)))

    def sync(self, ledger: Ledger) -> SyncResult:
        """Brings the index up to the chain's head; returns how far it rolled back."""
        for _ in range(5):
            try:
                return self._sync(ledger)
            except ReorgDuringSync:
                continue
        raise RuntimeError("the chain kept reorganising during indexing")

    def _sync(self, ledger: Ledger) -> SyncResult:
        rolled_back = 0
        events = 0
        with self.store.session() as session:
            cursor = self.cursor(session)
            while cursor is not None:
                stored = session.get(IndexedBlock, cursor)
                if stored is not None and ledger.block_hash(cursor) == stored.hash:
                    break
                session.execute(delete(ChainEvent).where(ChainEvent.block_number >= cursor))
                session.execute(delete(IndexedBlock).where(IndexedBlock.number >= cursor))
                rolled_back += 1
                cursor = self.cursor(session)
            if cursor is None and rolled_back:
                # Deeper than the window: start again from the deployment.
                session.execute(delete(ChainEvent))
            session.commit()
            start = ledger.deployment.block_number if cursor is None else cursor + 1
            head = ledger.head()
            while start <= head:
                end = min(start + CHUNK - 1, head)
                batch = ledger.events_between(start, end)
                hashes = {int(e["blockNumber"]): e["blockHash"].to_0x_hex() for e in batch}
                for number in range(max(start, end - REORG_WINDOW + 1), end + 1):
                    canonical = ledger.block_hash(number)
                    if canonical is None or hashes.setdefault(number, canonical) != canonical:
                        session.rollback()
                        raise ReorgDuringSync()
                session.add_all(_row(e, ledger) for e in batch)
                session.add_all(IndexedBlock(number=n, hash=h) for n, h in hashes.items())
                session.execute(delete(IndexedBlock).where(IndexedBlock.number <= end - REORG_WINDOW))
                session.commit()
                events += len(batch)
                start = end + 1
        return SyncResult(head=head, events=events, rolled_back=rolled_back)
