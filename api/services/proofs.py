"""Proof files of indexed records (``ledger.proofs``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ledger import checksum
from ledger.errors import InvalidInput
from ledger.proofs import proof_of

from ..store import ChainRecordRow
from .context import Context
from .errors import Invalid, NotFound
from .indexer import Indexer, load_records

__all__ = ["of_activity", "of_badge", "of_record"]


def _proof(ctx: Context, row: ChainRecordRow | None, what: str) -> dict[str, Any]:
    if row is None:
        raise NotFound("record_not_found", f"no {what} on-chain")
    (record,) = load_records([row])
    return proof_of(record, ctx.ledger.deployment.contracts)


def of_activity(ctx: Context, indexer: Indexer, activity_id: int, *, reversal: bool) -> dict[str, Any]:
    indexer.catch_up()
    kind = "AwardReversed" if reversal else "AwardRecorded"
    with ctx.store.session() as session:
        row = session.scalar(
            select(ChainRecordRow).where(ChainRecordRow.activity_id == activity_id, ChainRecordRow.kind == kind)
        )
    return _proof(ctx, row, f"{'reversal of ' if reversal else ''}award of activity {activity_id}")


def of_badge(ctx: Context, indexer: Indexer, event_id: int, address: str) -> dict[str, Any]:
    try:
        address = checksum(address, "address")
    except InvalidInput as exc:
        raise Invalid("invalid_address", str(exc)) from exc
    indexer.catch_up()
    with ctx.store.session() as session:
        row = session.scalar(
            select(ChainRecordRow)
            .where(
                ChainRecordRow.subject == address,
                ChainRecordRow.event_id == event_id,
                ChainRecordRow.kind.in_(("BadgeIssued", "BadgeRevoked")),
            )
            .order_by(ChainRecordRow.block_number.desc(), ChainRecordRow.log_index.desc())
            .limit(1)
        )
    return _proof(ctx, row, f"badge of event {event_id} for {address}")


def of_record(ctx: Context, indexer: Indexer, tx_hash: str, log_index: int) -> dict[str, Any]:
    indexer.catch_up()
    with ctx.store.session() as session:
        row = session.scalar(
            select(ChainRecordRow).where(
                ChainRecordRow.tx_hash == tx_hash.lower(), ChainRecordRow.log_index == log_index
            )
        )
    return _proof(ctx, row, f"record at log {log_index} of {tx_hash}")
