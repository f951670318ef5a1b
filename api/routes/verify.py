"""Public verification: anyone can check a citizen, an activity or a badge, no account needed.
Every answer carries the on-chain references to check it on any node."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from ledger import Ledger, Metrics, OnChainRef
from ledger.records import checksum

from ..deps import StateDep
from ..errors import ApiError
from ..schemas import ActivityVerified, BadgePublic, BadgeVerified, CitizenVerified, OnChainRefPublic
from ..store import ChainEvent

router = APIRouter(prefix="/v1/verify", tags=["verification"])


def ref_public(ref: OnChainRef, final_block: int | None = None) -> OnChainRefPublic:
    final = final_block is not None and ref.block_number <= final_block
    return OnChainRefPublic(
        chain_id=ref.chain_id,
        contract=ref.contract,
        tx_hash=ref.tx_hash,
        block_number=ref.block_number,
        log_index=ref.log_index,
        finality="final" if final else "confirmed",
    )


@dataclass(frozen=True)
class _Indexed:
    """Index rows for one question, read after bringing the index up to the chain's head."""

    rows: list[ChainEvent]
    chain_id: int
    final_block: int

    def ref(self, row: ChainEvent) -> OnChainRefPublic:
        return ref_public(
            OnChainRef(self.chain_id, row.contract, row.tx_hash, row.block_number, row.log_index), self.final_block
        )


def _read(state: StateDep, *conditions: Any) -> tuple[_Indexed, Ledger]:
    with state.chain() as ledger:
        state.indexer.sync(ledger)
        final_block = ledger.final_block()
    with state.store.session() as session:
        rows = list(
            session.scalars(
                select(ChainEvent).where(*conditions).order_by(ChainEvent.block_number, ChainEvent.log_index)
            )
        )
    return _Indexed(rows, ledger.deployment.chain_id, final_block), ledger


def _activities(indexed: _Indexed) -> list[ActivityVerified]:
    reversals = {r.activity_id: r for r in indexed.rows if r.name == "AwardReversed"}
    answers = []
    for row in indexed.rows:
        if row.name != "ActivityRecorded":
            continue
        args = json.loads(row.args)
        metrics = Metrics.unpack(int(args["metrics"]))
        reversal = reversals.get(row.activity_id)
        answers.append(
            ActivityVerified(
                activity_id=int(args["activityId"]),
                citizen=args["citizen"],
                points=int(args["points"]),
                kind=int(args["kind"]),
                distance_meters=metrics.distance_meters,
                duration_seconds=metrics.duration_seconds,
                litter_grams=metrics.litter_grams,
                steps=metrics.steps,
                evidence_commitment=args["evidenceHash"],
                ref=indexed.ref(row),
                reversed=reversal is not None,
                reversal_ref=indexed.ref(reversal) if reversal is not None else None,
            )
        )
    return answers


def _badges(indexed: _Indexed) -> list[BadgePublic]:
    """Badges held now: TransferSingle mints and burns replayed in chain order."""
    held: dict[int, BadgePublic] = {}
    for row in indexed.rows:
        if row.name != "TransferSingle" or row.event_id is None:
            continue
        args = json.loads(row.args)
        event_id = int(row.event_id)
        if int(args["from"], 16) == 0:
            held[event_id] = BadgePublic(event_id=event_id, attendee=args["to"], ref=indexed.ref(row))
        else:
            held.pop(event_id, None)
    return list(held.values())


@router.get("/citizens/{address}", response_model=CitizenVerified)
def verify_citizen(address: str, state: StateDep) -> CitizenVerified:
    """A citizen's points and badges from the event index, checked against contract state."""
    address = checksum(address, "address")
    indexed, ledger = _read(state, ChainEvent.citizen == address)
    with state.chain():
        balance = ledger.balance_of(address)
    deployment = ledger.deployment
    rebuilt = sum(row.points_delta for row in indexed.rows if row.contract == deployment.points_address)
    return CitizenVerified(
        address=address,
        chain_id=deployment.chain_id,
        points_contract=deployment.points_address,
        badges_contract=deployment.badges_address,
        balance=balance,
        rebuilt_balance=rebuilt,
        consistent=rebuilt == balance,
        activities=_activities(indexed),
        badges=_badges(indexed),
    )


@router.get("/activities/{activity_id}", response_model=ActivityVerified)
def verify_activity(activity_id: int, state: StateDep) -> ActivityVerified:
    if not 0 <= activity_id < 2**256:
        raise ApiError(422, "invalid_input", "activity ids are unsigned 256-bit integers")
    indexed, _ = _read(state, ChainEvent.activity_id == str(activity_id))
    found = _activities(indexed)
    if not found:
        raise ApiError(404, "activity_not_found", f"activity {activity_id} has no award on-chain")
    return found[0]


@router.get("/events/{event_id}/badges/{address}", response_model=BadgeVerified)
def verify_badge(event_id: int, address: str, state: StateDep) -> BadgeVerified:
    if not 0 <= event_id < 2**256:
        raise ApiError(422, "invalid_input", "event ids are unsigned 256-bit integers")
    address = checksum(address, "address")
    indexed, ledger = _read(state, ChainEvent.citizen == address, ChainEvent.event_id == str(event_id))
    with state.chain():
        holds = ledger.has_badge(event_id, address)
    badge = next(iter(_badges(indexed)), None)
    return BadgeVerified(event_id=event_id, attendee=address, holds_badge=holds, ref=badge.ref if badge else None)
