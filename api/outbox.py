"""The ledger's outbox kept in the service's database, so signed transactions survive a crash.

Implements ``ledger.outbox.Outbox``; ``tests/ledger/test_outbox_contract.py`` runs the same suite
against it and the in-memory outbox, so the two cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import func, select, update

from ledger import OutboxEntry
from ledger.outbox import Status

from .store import OutboxRow, Store

__all__ = ["SqlOutbox"]


class SqlOutbox:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, entry: OutboxEntry) -> None:
        with self._store.session() as session:
            seq = session.scalar(select(func.coalesce(func.max(OutboxRow.seq), 0))) or 0
            session.add(
                OutboxRow(
                    tx_hash=entry.tx_hash,
                    sender=entry.sender,
                    nonce=entry.nonce,
                    raw=entry.raw,
                    status=entry.status,
                    block_number=entry.block_number,
                    intent=entry.intent,
                    seq=seq + 1,
                )
            )
            session.commit()

    def settle(self, tx_hash: str, status: Status, block_number: int | None) -> None:
        with self._store.session() as session:
            session.execute(
                update(OutboxRow).where(OutboxRow.tx_hash == tx_hash).values(status=status, block_number=block_number)
            )
            session.commit()

    def unsettled(self, sender: str) -> list[OutboxEntry]:
        with self._store.session() as session:
            rows = session.scalars(
                select(OutboxRow)
                .where(OutboxRow.sender == sender, OutboxRow.status == "signed")
                .order_by(OutboxRow.nonce, OutboxRow.seq)
            )
            return [_entry(r) for r in rows]

    def highest_nonce(self, sender: str) -> int | None:
        with self._store.session() as session:
            value = session.scalar(
                select(func.max(OutboxRow.nonce)).where(OutboxRow.sender == sender, OutboxRow.status != "failed")
            )
            return None if value is None else int(value)

    def for_intent(self, intent: str) -> list[OutboxEntry]:
        with self._store.session() as session:
            rows = session.scalars(
                select(OutboxRow).where(OutboxRow.intent == intent).order_by(OutboxRow.nonce, OutboxRow.seq)
            )
            return [_entry(r) for r in rows]


def _entry(row: OutboxRow) -> OutboxEntry:
    return OutboxEntry(row.sender, row.nonce, row.tx_hash, row.raw, row.status, row.block_number, row.intent)  # type: ignore[arg-type]
