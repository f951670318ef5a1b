"""Public verification: anyone can check a citizen, an activity or a badge, no account needed.
Every answer carries the on-chain references to check it on any node."""

from __future__ import annotations

from fastapi import APIRouter

from ledger import ActivityRecord, OnChainRef
from ledger.records import checksum

from ..deps import StateDep
from ..errors import ApiError
from ..schemas import ActivityVerified, BadgePublic, BadgeVerified, CitizenVerified, OnChainRefPublic

router = APIRouter(prefix="/v1/verify", tags=["verification"])


def ref_public(ref: OnChainRef) -> OnChainRefPublic:
    return OnChainRefPublic(
        chain_id=ref.chain_id,
        contract=ref.contract,
        tx_hash=ref.tx_hash,
        block_number=ref.block_number,
        log_index=ref.log_index,
    )


def _activity(record: ActivityRecord) -> ActivityVerified:
    return ActivityVerified(
        activity_id=record.activity_id,
        citizen=record.citizen,
        points=record.points,
        kind=record.kind,
        distance_meters=record.metrics.distance_meters,
        duration_seconds=record.metrics.duration_seconds,
        litter_grams=record.metrics.litter_grams,
        steps=record.metrics.steps,
        evidence_commitment="0x" + record.evidence_hash.hex(),
        ref=ref_public(record.ref),
        reversed=record.reversal is not None,
        reversal_ref=ref_public(record.reversal.ref) if record.reversal else None,
    )


@router.get("/citizens/{address}", response_model=CitizenVerified)
def verify_citizen(address: str, state: StateDep) -> CitizenVerified:
    """A citizen's points and badges rebuilt from the contracts' events, checked against state."""
    address = checksum(address, "address")
    with state.chain() as ledger:
        history = ledger.history(address)
        activities = ledger.activities_of(address)
        badges = ledger.badges_of(address)
        balance = ledger.balance_of(address)
        deployment = ledger.deployment
    rebuilt = sum(entry.points_delta for entry in history)
    return CitizenVerified(
        address=address,
        chain_id=deployment.chain_id,
        points_contract=deployment.points_address,
        badges_contract=deployment.badges_address,
        balance=balance,
        rebuilt_balance=rebuilt,
        consistent=rebuilt == balance,
        activities=[_activity(a) for a in activities],
        badges=[BadgePublic(event_id=b.event_id, attendee=b.attendee, ref=ref_public(b.ref)) for b in badges],
    )


@router.get("/activities/{activity_id}", response_model=ActivityVerified)
def verify_activity(activity_id: int, state: StateDep) -> ActivityVerified:
    if not 0 <= activity_id < 2**256:
        raise ApiError(422, "invalid_input", "activity ids are unsigned 256-bit integers")
    with state.chain() as ledger:
        record = ledger.activity(activity_id)
    if record is None:
        raise ApiError(404, "activity_not_found", f"activity {activity_id} has no award on-chain")
    return _activity(record)


@router.get("/events/{event_id}/badges/{address}", response_model=BadgeVerified)
def verify_badge(event_id: int, address: str, state: StateDep) -> BadgeVerified:
    if not 0 <= event_id < 2**256:
        raise ApiError(422, "invalid_input", "event ids are unsigned 256-bit integers")
    address = checksum(address, "address")
    with state.chain() as ledger:
        holds = ledger.has_badge(event_id, address)
        badge = next((b for b in ledger.badges_of(address) if b.event_id == event_id), None)
    return BadgeVerified(
        event_id=event_id, attendee=address, holds_badge=holds, ref=ref_public(badge.ref) if badge else None
    )
