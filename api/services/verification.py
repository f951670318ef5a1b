"""Public verification from the index: a citizen's statement, one activity, one badge.

The answers are built by ``ledger.verification`` (the same code the command line uses on records
read straight from a node) from the index's typed records and the contract state the indexer
read; a bounded number of queries per request, no chain call per record.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from ledger import AwardRecorded, AwardReversed, BadgeIssued, BadgeRevoked, RoleChanged, checksum
from ledger.errors import InvalidInput
from ledger.verification import CitizenStatement, RecordVerification, citizen_statement, role_holders, verify_record

from ..store import ChainRecordRow, CitizenState, IndexedBlock
from .context import Context
from .errors import Invalid, NotFound
from .indexer import Indexer, load_records

__all__ = ["BadgeAnswer", "CitizenStatement", "activity", "badge", "citizen", "citizen_answer"]

T = TypeVar("T")


def _address(address: str) -> str:
    try:
        return checksum(address, "address")
    except InvalidInput as exc:
        raise Invalid("invalid_address", str(exc)) from exc


def _history(session: Session, address: str, *where: ColumnElement[bool]) -> list[ChainRecordRow]:
    """The indexed records of ``address`` and of the addresses re-bound to it (and ``where``),
    in chain order."""
    addresses = _rebinding_chain(session, address)
    return list(
        session.scalars(
            select(ChainRecordRow)
            .where(ChainRecordRow.subject.in_(addresses), *where)
            .order_by(ChainRecordRow.block_number, ChainRecordRow.log_index)
        )
    )


def citizen(ctx: Context, indexer: Indexer, address: str) -> CitizenStatement:
    """Every record that changed the citizen's points or badges (following re-bindings), what
    they add up to, and whether that equals the contract state at the indexed block."""
    address = _address(address)
    return indexer.answer(("citizen", address), lambda cursor: _citizen(ctx, address, cursor))


def citizen_answer(ctx: Context, indexer: Indexer, address: str, render: Callable[[CitizenStatement], T]) -> T:
    """``citizen``, rendered (say, as the JSON the API answers) once per indexed tip."""
    address = _address(address)
    return indexer.answer(
        ("citizen-rendered", address, render.__qualname__),
        lambda cursor: render(_citizen(ctx, address, cursor)),
    )


def _citizen(ctx: Context, address: str, cursor: int | None) -> CitizenStatement:
    with ctx.store.session() as session:
        rows = _history(session, address)
        state = session.get(CitizenState, address)
    records = load_records(rows)
    final_block = (cursor or 0) - ctx.ledger.confirmations
    balance: int | None
    badges: dict[int, bool] | None
    if state is None and not records:
        balance, badges, as_of = 0, {}, cursor
    elif state is None:
        balance, badges, as_of = None, None, cursor
    else:
        held = set(json.loads(state.badges))
        event_ids = {r.event_id for r in records if isinstance(r, BadgeIssued)} | held
        balance, badges, as_of = state.balance, {e: e in held for e in event_ids}, state.block_number
    return citizen_statement(
        address, records, final_block=final_block, balance=balance, badges_on_chain=badges, as_of_block=as_of
    )


def _rebinding_chain(session: object, address: str) -> list[str]:
    """``address`` and every address whose record was re-bound to it (directly or not)."""
    found = [address]
    frontier = [address]
    while frontier:
        rows = session.scalars(  # type: ignore[attr-defined]
            select(ChainRecordRow.data).where(
                ChainRecordRow.kind == "CitizenRebound", ChainRecordRow.subject.in_(frontier)
            )
        )
        frontier = [json.loads(d)["old"] for d in rows if json.loads(d)["old"] not in found]
        found += frontier
    return found


def _checks(
    ctx: Context,
    record: AwardRecorded | BadgeIssued,
    undone: AwardReversed | BadgeRevoked | None,
    sender: str | None,
    cursor: int | None,
) -> RecordVerification:
    """The named checks of one record, as of the indexed block ``cursor`` (``catch_up``'s answer)."""
    with ctx.store.session() as session:
        roles = load_records(
            list(
                session.scalars(
                    select(ChainRecordRow).where(
                        ChainRecordRow.kind == "RoleChanged", ChainRecordRow.block_number <= record.ref.block_number
                    )
                )
            )
        )
        stored = session.get(IndexedBlock, record.ref.block_number)
    holders = role_holders([r for r in roles if isinstance(r, RoleChanged)], record.ref.block_number)
    expected = ctx.ledger.deployment.points_address if isinstance(record, AwardRecorded) else None
    if isinstance(record, BadgeIssued):
        expected = ctx.ledger.deployment.badges_address
    canonical: str | None
    if stored is not None:
        canonical = stored.hash  # checked against the chain by the indexer on every pass
    else:
        try:
            canonical = ctx.ledger.block_hash(record.ref.block_number)
        except Exception:
            canonical = None
    return verify_record(
        record,
        expected_contract=expected,
        canonical_hash=canonical,
        final_block=(cursor or 0) - ctx.ledger.confirmations,
        undone_by=undone,
        sender=sender,
        holders=holders,
    )


def activity(ctx: Context, indexer: Indexer, activity_id: int) -> RecordVerification:
    if not 0 <= activity_id < 2**63:
        raise Invalid("invalid_input", "activity ids are 64-bit unsigned integers")
    cursor = indexer.catch_up()
    with ctx.store.session() as session:
        rows = list(
            session.scalars(
                select(ChainRecordRow)
                .where(ChainRecordRow.activity_id == activity_id)
                .order_by(ChainRecordRow.block_number, ChainRecordRow.log_index)
            )
        )
    records = load_records(rows)
    award = next((r for r in records if isinstance(r, AwardRecorded)), None)
    if award is None:
        raise NotFound("activity_not_found", f"activity {activity_id} has no award on-chain")
    reversal = next((r for r in records if isinstance(r, AwardReversed)), None)
    sender = next((row.sender for row in rows if row.kind == "AwardRecorded"), None)
    return _checks(ctx, award, reversal, sender, cursor)


@dataclass(frozen=True)
class BadgeAnswer:
    event_id: int
    attendee: str
    holds_badge: bool
    verification: RecordVerification | None


def badge(ctx: Context, indexer: Indexer, event_id: int, address: str) -> BadgeAnswer:
    if not 0 <= event_id < 2**63:
        raise Invalid("invalid_input", "event ids are 64-bit unsigned integers")
    address = _address(address)
    cursor = indexer.catch_up()
    with ctx.store.session() as session:
        rows = _history(session, address, ChainRecordRow.event_id == event_id)
        state = session.get(CitizenState, address)
    records = load_records(rows)
    issued = [r for r in records if isinstance(r, BadgeIssued)]
    if not issued:
        return BadgeAnswer(event_id, address, False, None)
    last = issued[-1]
    revoked = next(
        (
            r
            for r in records
            if isinstance(r, BadgeRevoked)
            and (r.ref.block_number, r.ref.log_index) > (last.ref.block_number, last.ref.log_index)
        ),
        None,
    )
    sender = next((row.sender for row in rows if row.tx_hash == last.ref.tx_hash), None)
    holds = state is not None and event_id in json.loads(state.badges)
    return BadgeAnswer(event_id, address, holds, _checks(ctx, last, revoked, sender, cursor))
