"""The ledger's outbox kept in the service's database, so signed transactions survive a crash."""

from __future__ import annotations

from sqlalchemy import func, select

from ledger.outbox import OutboxEntry, Status

from .store import OutboxRow, Store

__all__ = ["SqlOutbox"]


class SqlOutbox:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, entry: OutboxEntry) -> None:
        with self._store.session() as session:
            session.add(
                OutboxRow(
                    tx_hash=entry.tx_hash,
                    sender=entry.sender,
                    nonce=entry.nonce,
                    raw=entry.raw,
                    status=entry.status,
                    block_number=entry.block_number,
                )
            )
            session.commit()

    def settle(self, tx_hash: str, status: Status, block_number: int | None) -> None:
        with self._store.session() as session:
            row = session.get(OutboxRow, tx_hash)
            if row is not None:
                row.status, row.block_number = status, block_number
                session.commit()

    def unsettled(self, sender: str) -> list[OutboxEntry]:
        with self._store.session() as session:
            rows = session.scalars(
                select(OutboxRow)
                .where(OutboxRow.sender == sender, OutboxRow.status == "signed")
                .order_by(OutboxRow.nonce, OutboxRow.created_at)
            )
            return [OutboxEntry(r.sender, r.nonce, r.tx_hash, r.raw, "signed", r.block_number) for r in rows]

    def highest_nonce(self, sender: str) -> int | None:
        with self._store.session() as session:
            value = session.scalar(
                select(func.max(OutboxRow.nonce)).where(OutboxRow.sender == sender, OutboxRow.status != "failed")
            )
            return None if value is None else int(value)
