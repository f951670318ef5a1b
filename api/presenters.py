"""Services' answers as response bodies: the one place a record, a claim or a statement becomes
JSON, shared by every router and page."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ledger import AwardRecorded, AwardReversed, Finality, OnChainRef, finality
from ledger.verification import Check, CitizenStatement, RecordVerification

from .schemas import (
    ActivityVerified,
    BadgePublic,
    CheckPublic,
    CitizenPublic,
    CitizenVerified,
    ClaimPublic,
    ClaimWithReviews,
    EventPublic,
    OnChainRefPublic,
    ReviewPublic,
    RewardPublic,
    StatementLinePublic,
)
from .services.citizens import Profile
from .services.claims import ClaimView
from .services.context import Context
from .store import CityEventRow, Reward

__all__ = [
    "activity_public",
    "citizen_public",
    "citizen_verified",
    "claim_public",
    "event_public",
    "ref_public",
    "reward_public",
]


def explorer_link(ctx: Context, tx_hash: str) -> str | None:
    template = ctx.settings.explorer_tx_url
    return template.replace("{tx}", tx_hash) if template else None


def ref_public(ctx: Context, ref: OnChainRef | dict[str, Any], state: Finality = "confirmed") -> OnChainRefPublic:
    fields = ref if isinstance(ref, dict) else ref.__dict__
    return OnChainRefPublic(
        **{k: fields[k] for k in ("chain_id", "contract", "tx_hash", "block_number", "block_hash", "log_index")},
        finality=state if state != "pending" else "confirmed",
        explorer_url=explorer_link(ctx, str(fields["tx_hash"])),
    )


def checks_public(checks: tuple[Check, ...]) -> list[CheckPublic]:
    return [CheckPublic(name=c.name, outcome=c.outcome, detail=c.detail) for c in checks]


def citizen_public(profile: Profile) -> CitizenPublic:
    c = profile.citizen
    return CitizenPublic(
        citizen_id=c.id,
        address=c.address,
        custodial=c.custodial,
        erased=c.erased_at is not None,
        former_addresses=[a for a in c.former_addresses.split(",") if a],
        **{k: v for k, v in profile.fields.items() if k in ("display_name", "email", "phone")},
    )


def claim_public(
    ctx: Context, view: ClaimView, *, final_block: int | None = None, reviews: bool = False
) -> ClaimPublic:
    row = view.claim
    state: Finality = "pending"
    if row.block_number is not None:
        if final_block is None:
            final_block = ctx.ledger.final_block()
        state = finality(row.block_number, final_block)
    fields: dict[str, Any] = {
        "claim_id": row.id,
        "activity_id": row.activity_id,
        "citizen_id": row.citizen_id,
        "status": row.status.value,
        "points": row.points,
        "mission_completed": view.mission_completed,
        "hold_reasons": [r for r in row.hold_reasons.split("\n") if r],
        "reviewer_reason": view.reviewer_reason,
        "appealed": row.appealed_at is not None,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
        "tx_hash": row.tx_hash,
        "block_number": row.block_number,
        "finality": state,
    }
    if not reviews:
        return ClaimPublic(**fields)
    return ClaimWithReviews(
        **fields,
        reviews=[
            ReviewPublic(reviewer=r.reviewer, decision=r.decision, reason=r.reason, decided_at=r.decided_at)
            for r in view.reviews
        ],
    )


def _iso(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


def event_public(ctx: Context, row: CityEventRow, attendees: int, now: int) -> EventPublic:
    return EventPublic(
        event_id=row.id,
        title=row.title,
        title_en=row.title_en,
        description=row.description,
        venue=row.venue,
        claim_start=_iso(row.claim_start),
        claim_end=_iso(row.claim_end),
        capacity=row.capacity,
        attendees=attendees,
        open=row.claim_start <= now <= row.claim_end,
        metadata_url=f"{ctx.settings.public_base_url.rstrip('/')}/v1/badges/{row.id:064x}.json",
        tx_hash=row.tx_hash,
    )


def reward_public(row: Reward) -> RewardPublic:
    return RewardPublic(reward_id=row.id, title=row.title, cost=row.cost, stock=row.stock, active=row.active)


def _activity(
    ctx: Context,
    award: AwardRecorded,
    reversal: AwardReversed | None,
    state: Finality,
    verified: bool,
    final_block: int,
    checks: tuple[Check, ...] = (),
) -> ActivityVerified:
    return ActivityVerified(
        activity_id=award.activity_id,
        citizen=award.citizen,
        points=award.points,
        kind=award.kind,
        distance_meters=award.metrics.distance_meters,
        duration_seconds=award.metrics.duration_seconds,
        litter_grams=award.metrics.litter_grams,
        steps=award.metrics.steps,
        evidence_commitment=award.evidence_hash,
        ref=ref_public(ctx, award.ref, state),
        reversed=reversal is not None,
        reversal_ref=ref_public(ctx, reversal.ref, finality(reversal.ref.block_number, final_block))
        if reversal is not None
        else None,
        reversal_reason_code=reversal.reason_code if reversal is not None else None,
        verified=verified,
        checks=checks_public(checks),
    )


def activity_public(ctx: Context, answer: RecordVerification) -> ActivityVerified:
    award = answer.record
    assert isinstance(award, AwardRecorded)
    reversal = answer.undone_by if isinstance(answer.undone_by, AwardReversed) else None
    return _activity(ctx, award, reversal, answer.finality, answer.verified, answer.final_block, answer.checks)


def citizen_verified(ctx: Context, statement: CitizenStatement) -> CitizenVerified:
    deployment = ctx.ledger.deployment
    reversals = {line.activity_id: line.record for line in statement.lines if isinstance(line.record, AwardReversed)}
    activities = [
        _activity(
            ctx,
            line.record,
            reversals.get(line.record.activity_id),
            line.finality,
            statement.verified,
            statement.final_block,
        )
        for line in statement.lines
        if isinstance(line.record, AwardRecorded)
    ]
    return CitizenVerified(
        address=statement.address,
        addresses=list(statement.addresses),
        chain_id=ctx.ledger.chain_id,
        points_contract=deployment.points_address,
        badges_contract=deployment.badges_address,
        balance=statement.balance,
        rebuilt_balance=statement.rebuilt_balance,
        consistent=statement.consistent,
        verified=statement.verified,
        as_of_block=statement.as_of_block,
        checks=checks_public(statement.checks),
        records=[
            StatementLinePublic(
                action=line.action,
                points_delta=line.points_delta,
                address=line.address,
                activity_id=line.activity_id,
                event_id=line.event_id,
                reward_id=line.reward_id,
                reason_code=line.reason_code,
                counterpart=line.counterpart,
                ref=ref_public(ctx, line.ref, line.finality),
            )
            for line in statement.lines
        ],
        activities=activities,
        badges=[
            BadgePublic(
                event_id=event_id,
                attendee=statement.address,
                ref=ref_public(ctx, ref, finality(ref.block_number, statement.final_block)),
            )
            for event_id, ref in statement.badges
        ],
    )
