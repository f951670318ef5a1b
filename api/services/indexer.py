"""The indexer: follows the contracts' records into the store, resumable and reorg-safe.

It stores the ledger's typed records (``ledger.records``), never raw logs: the service knows no
ABI. It remembers the hashes of the last ``REORG_WINDOW`` indexed blocks; each pass first checks
the newest one against the chain, and when they differ rolls back block by block to the common
ancestor before reading forward again, so the end state equals a fresh re-index. After each pass
it reads the contract state (balance, badges) of every citizen the new records touch, so that
verification compares records with contract state without a chain call per request.

One process indexes at a time (a lease); the others read.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar, cast

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from ledger import (
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgeReissued,
    BadgeRevoked,
    BadgesMoved,
    ChainRecord,
    CitizenRebound,
    EventCreated,
    LedgerError,
    PointsRedeemed,
    PointsTransferred,
)
from ledger.records import record_from_json, record_to_json

from ..store import ChainRecordRow, CitizenState, IndexedBlock
from .context import Context

__all__ = ["MEMO_SIZE", "REORG_WINDOW", "Indexer", "SyncResult", "load_records"]

T = TypeVar("T")
#: Answers remembered per process by ``Indexer.answer``: a citizen's statement with a hundred
#: records renders to about 120 kB (measured by the load test), so some 60 MB a process.
MEMO_SIZE = 512

log = logging.getLogger("civic.indexer")

#: Deepest reorganisation handled incrementally; a deeper one is handled by re-indexing.
REORG_WINDOW = 128
CHUNK = 2_000


@dataclass(frozen=True)
class SyncResult:
    head: int
    records: int
    rolled_back: int


class ReorgDuringSync(Exception):
    """The chain changed under a pass; the pass is discarded and run again."""


def _columns(record: ChainRecord) -> tuple[str | None, int | None, int | None, int]:
    """(subject, activity id, event id, points delta) of a record, for the index's queries."""
    match record:
        case AwardRecorded():
            return record.citizen, record.activity_id, None, record.points
        case AwardReversed():
            return record.citizen, record.activity_id, None, -record.points
        case PointsRedeemed():
            return record.citizen, None, None, -record.points
        case BadgeIssued() | BadgeRevoked() | BadgeReissued():
            return record.attendee, None, record.event_id, 0
        case CitizenRebound():
            return record.new, None, None, 0
        case BadgesMoved():
            return record.new, None, None, 0
        case EventCreated():
            return None, None, record.event_id, 0
    return None, None, None, 0


def _touched(record: ChainRecord) -> set[str]:
    match record:
        case AwardRecorded() | AwardReversed() | PointsRedeemed():
            return {record.citizen}
        case BadgeIssued() | BadgeRevoked() | BadgeReissued():
            return {record.attendee}
        case CitizenRebound() | BadgesMoved():
            return {record.old, record.new}
    return set()


def load_records(rows: Sequence[ChainRecordRow]) -> list[ChainRecord]:
    return [record_from_json(json.loads(row.data)) for row in rows]


class Indexer:
    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._head_cache: tuple[float, int] = (0.0, -1)
        self._paused_cache: tuple[float, bool] = (0.0, False)
        self._memo: OrderedDict[tuple[Hashable, tuple[int, str] | None], object] = OrderedDict()
        self._memo_lock = threading.Lock()
        self.synced = threading.Condition()
        ctx.on_chain_moved.append(self._chain_moved)

    def _chain_moved(self) -> None:
        """This process's writer mined something: ask for the head afresh and index it now."""
        self._head_cache = (0.0, -1)
        self._paused_cache = (0.0, False)
        self._wake.set()

    @property
    def lease(self) -> str:
        return f"indexer:{self.ctx.ledger.chain_id}:{self.ctx.ledger.deployment.points_address}"

    def cursor(self) -> int | None:
        tip = self.tip()
        return None if tip is None else tip[0]

    def tip(self) -> tuple[int, str] | None:
        """The last indexed block's number and hash: what the index says changes with it (a
        rollback re-indexes a number under another hash)."""
        with self.ctx.store.session() as session:
            row = session.execute(
                select(IndexedBlock.number, IndexedBlock.hash).order_by(IndexedBlock.number.desc()).limit(1)
            ).first()
        return None if row is None else (int(row[0]), str(row[1]))

    # ------------------------------------------------------------------ the background thread

    def start(self, interval: float = 0.5) -> None:
        self._thread = threading.Thread(target=self._run, args=(interval,), name="civic-indexer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(15)
        self.ctx.leases.release(self.lease)

    def wake(self) -> None:
        self._wake.set()

    def _run(self, interval: float) -> None:
        while not self._stop.is_set():
            try:
                if self.ctx.leases.hold(self.lease):
                    self.sync()
            except LedgerError as exc:
                log.warning("indexing postponed: %s", exc)
            except Exception:
                log.exception("indexing failed; trying again")
            self._wake.wait(interval)
            self._wake.clear()

    def head(self, max_age: float = 0.25) -> int:
        """The chain's head, asked at most every ``max_age`` seconds per process (at once after
        this process's writer mined something; another process's blocks may wait that long)."""
        at, head = self._head_cache
        if time.monotonic() - at > max_age:
            head = self.ctx.ledger.head()
            self._head_cache = (time.monotonic(), head)
        return head

    def paused(self, max_age: float = 0.25) -> bool:
        """Whether the contracts are paused, asked like ``head`` (a public read such as the health
        check must not cost two contract calls each time)."""
        at, paused = self._paused_cache
        if time.monotonic() - at > max_age:
            paused = self.ctx.ledger.is_paused()
            self._paused_cache = (time.monotonic(), paused)
        return paused

    def catch_up(self, timeout: float = 2.0) -> int | None:
        """Waits (briefly) until the index covers the chain's head; returns the indexed block.
        Readers call it so an answer includes what was mined just before the question."""
        tip = self.catch_up_tip(timeout)
        return None if tip is None else tip[0]

    def answer(self, key: Hashable, compute: Callable[[int | None], T], timeout: float = 2.0) -> T:
        """An answer that is a function of the index alone (a citizen's statement, say), after
        ``catch_up``: computed from the indexed tip's number once, then given again while the
        tip (number and hash) stays, so a public read repeated by many costs one query. Kept
        for the last ``MEMO_SIZE`` keys of this process."""
        tip = self.catch_up_tip(timeout)
        remembered = (key, tip)
        with self._memo_lock:
            if remembered in self._memo:
                self._memo.move_to_end(remembered)
                return cast(T, self._memo[remembered])
        value = compute(None if tip is None else tip[0])
        with self._memo_lock:
            self._memo[remembered] = value
            while len(self._memo) > MEMO_SIZE:
                self._memo.popitem(last=False)
        return value

    def catch_up_tip(self, timeout: float = 2.0) -> tuple[int, str] | None:
        """``catch_up``, answering the indexed tip (number and hash)."""
        try:
            head = self.head()
        except LedgerError:
            return self.tip()
        deadline = time.monotonic() + timeout
        tip = self.tip()
        while (tip is None or tip[0] < head) and time.monotonic() < deadline:
            if self._thread is None:
                self.sync()  # no background indexer in this process (tools, tests): index now
            else:
                self.wake()
                with self.synced:
                    self.synced.wait(0.05)
            tip = self.tip()
        return tip

    # ------------------------------------------------------------------ one pass

    def sync(self) -> SyncResult:
        """Brings the index up to the chain's head; returns how far it rolled back."""
        with self._lock:
            for _ in range(5):
                try:
                    result = self._sync()
                except ReorgDuringSync:
                    continue
                with self.synced:
                    self.synced.notify_all()
                return result
        raise RuntimeError("the chain kept reorganising during indexing")

    def _sync(self) -> SyncResult:
        ledger = self.ctx.ledger
        rolled_back = 0
        count = 0
        with self.ctx.store.session() as session:
            cursor = session.scalar(select(func.max(IndexedBlock.number)))
            while cursor is not None:
                stored = session.get(IndexedBlock, cursor)
                if stored is not None and ledger.block_hash(cursor) == stored.hash:
                    break
                session.execute(delete(ChainRecordRow).where(ChainRecordRow.block_number >= cursor))
                session.execute(delete(IndexedBlock).where(IndexedBlock.number >= cursor))
                rolled_back += 1
                cursor = session.scalar(select(func.max(IndexedBlock.number)))
            if cursor is None and rolled_back:
                # Deeper than the window: start again from the deployment.
                session.execute(delete(ChainRecordRow))
                session.execute(delete(CitizenState))
            session.commit()
        start = ledger.deployment.block_number if cursor is None else cursor + 1
        head = ledger.head()
        while start <= head:
            end = min(start + CHUNK - 1, head)
            records = ledger.records_between(start, end)
            hashes = {r.ref.block_number: r.ref.block_hash for r in records}
            for number in range(max(start, end - REORG_WINDOW + 1), end + 1):
                canonical = ledger.block_hash(number)
                if canonical is None or hashes.setdefault(number, canonical) != canonical:
                    raise ReorgDuringSync()
            senders = {tx: ledger.sender_of(tx) for tx in {r.ref.tx_hash for r in records}}
            rows = []
            touched: set[str] = set()
            for record in records:
                if isinstance(record, PointsTransferred):
                    continue  # a balance change; the record event beside it says why
                subject, activity_id, event_id, delta = _columns(record)
                ref = record.ref
                rows.append(
                    ChainRecordRow(
                        block_number=ref.block_number,
                        block_hash=ref.block_hash,
                        tx_hash=ref.tx_hash,
                        log_index=ref.log_index,
                        kind=type(record).__name__,
                        subject=subject,
                        activity_id=activity_id,
                        event_id=event_id,
                        points_delta=delta,
                        sender=senders.get(ref.tx_hash),
                        data=json.dumps(record_to_json(record)),
                    )
                )
                touched |= _touched(record)
            # Records, the contract state they changed, and the cursor, in one transaction: a
            # reader who sees the cursor at a block sees that block's state too.
            states = self._read_states(touched, rows, end)
            with self.ctx.store.session() as session:
                session.add_all(rows)
                _store_states(session, states)
                session.add_all(IndexedBlock(number=n, hash=h) for n, h in hashes.items())
                session.execute(delete(IndexedBlock).where(IndexedBlock.number <= end - REORG_WINDOW))
                session.commit()
            count += len(rows)
            start = end + 1
        return SyncResult(head=head, records=count, rolled_back=rolled_back)

    def _read_states(self, addresses: set[str], new_rows: list[ChainRecordRow], block: int) -> list[CitizenState]:
        """The contract state (balance, badges) of ``addresses`` at ``block``, read from the
        chain before the write transaction opens (no database lock is held across chain reads)."""
        known: dict[str, set[int]] = {address: set() for address in addresses}
        with self.ctx.store.session() as session:
            for chunk in _chunks(sorted(addresses), 500):
                found = session.execute(
                    select(ChainRecordRow.subject, ChainRecordRow.kind, ChainRecordRow.event_id, ChainRecordRow.data)
                    .where(ChainRecordRow.subject.in_(chunk))
                    .where(ChainRecordRow.event_id.is_not(None) | (ChainRecordRow.kind == "BadgesMoved"))
                )
                for subject, kind, event_id, data in found:
                    known[str(subject)] |= _event_ids(kind, event_id, data)
        for row in new_rows:
            if row.subject in known:
                known[row.subject] |= _event_ids(row.kind, row.event_id, row.data)
        read = self.ctx.ledger.states_at(known, block)
        return [
            CitizenState(address=a, balance=balance, badges=json.dumps(held), block_number=block)
            for a, (balance, held) in read.items()
        ]


def _store_states(session: Session, states: list[CitizenState]) -> None:
    """Inserts or updates ``states`` (one query per few hundred, not one each)."""
    by_address = {s.address: s for s in states}
    for chunk in _chunks(sorted(by_address), 500):
        for stored in session.scalars(select(CitizenState).where(CitizenState.address.in_(chunk))):
            fresh = by_address.pop(stored.address)
            stored.balance, stored.badges, stored.block_number = fresh.balance, fresh.badges, fresh.block_number
    session.add_all(by_address.values())


def _event_ids(kind: str, event_id: int | None, data: str) -> set[int]:
    """The events whose badges a record concerns (a re-binding's moved badges included)."""
    if kind == "BadgesMoved":
        return {int(e) for e in json.loads(data)["event_ids"]}
    return {int(event_id)} if event_id is not None else set()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
