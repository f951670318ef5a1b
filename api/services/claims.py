"""Activity claims: points from the city's rules, plausibility holds, review with reasons, one
appeal, and staff awards. Awarding on-chain is settlement's job (``services.settlement``)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ledger import Metrics
from ledger.commitments import evidence_commitment, keccak_hex

from ..store import ActivityClaim, Citizen, ClaimStatus, EvidenceUse, ReviewDecision, utcnow
from .context import Context
from .errors import Conflict, Invalid, NotFound
from .intents import outcome, submit
from .rules import Outing

__all__ = [
    "ClaimView",
    "NewClaim",
    "StaffAward",
    "appeal",
    "for_review",
    "mine",
    "review",
    "staff_award",
    "submit_claim",
]


@dataclass(frozen=True)
class NewClaim:
    started_at: datetime
    ended_at: datetime
    distance_meters: int
    duration_seconds: int
    steps: int
    litter_grams: int
    photo_hash: str
    track_hash: str

    @property
    def metrics(self) -> Metrics:
        return Metrics(self.distance_meters, self.duration_seconds, self.litter_grams, self.steps)


@dataclass(frozen=True)
class StaffAward:
    citizen: str  # address or citizen id
    points: int
    kind: int
    reference: str
    note: str | None
    evidence_hash: str | None


@dataclass(frozen=True)
class ClaimView:
    claim: ActivityClaim
    reviews: list[ReviewDecision]
    mission_completed: bool

    @property
    def reviewer_reason(self) -> str | None:
        decided = [r for r in self.reviews if r.decision in ("approve", "reject")]
        return decided[-1].reason if decided else None


def _city_day_bounds(ctx: Context, moment: datetime) -> tuple[datetime, datetime]:
    """The city's day (as the contract counts it) around ``moment``."""
    offset = timedelta(seconds=ctx.ledger.deployment.day_offset_seconds)
    local = (moment.astimezone(UTC) + offset).replace(hour=0, minute=0, second=0, microsecond=0)
    start = local - offset
    return start, start + timedelta(days=1)


def _hold_reasons(ctx: Context, citizen: Citizen, claim: NewClaim, points: int, now: datetime) -> list[str]:
    reasons = ctx.rules.plausibility.reasons(Outing(claim.started_at, claim.ended_at, claim.metrics), now)
    with ctx.store.session() as session:
        overlapping = session.scalar(
            select(func.count(ActivityClaim.id)).where(
                ActivityClaim.citizen_id == citizen.id,
                ActivityClaim.status != ClaimStatus.REJECTED,
                ActivityClaim.started_at < claim.ended_at,
                ActivityClaim.ended_at > claim.started_at,
            )
        )
        if overlapping:
            reasons.append("overlaps another outing")
        start, end = _city_day_bounds(ctx, claim.started_at)
        today = session.scalar(
            select(func.coalesce(func.sum(ActivityClaim.points), 0)).where(
                ActivityClaim.citizen_id == citizen.id,
                ActivityClaim.status != ClaimStatus.REJECTED,
                ActivityClaim.started_at >= start,
                ActivityClaim.started_at < end,
            )
        )
    cap = ctx.settings.daily_points_cap
    if int(today or 0) + points > cap:
        reasons.append(f"over the daily cap of {cap} points")
    return reasons


def submit_claim(ctx: Context, citizen: Citizen, claim: NewClaim) -> ClaimView:
    """Records an outing. Plausible claims are approved (if the city approves automatically)
    and awarded in the next settlement; the rest are held for a reviewer, with the reasons."""
    now = utcnow()
    if claim.started_at.tzinfo is None or claim.ended_at.tzinfo is None:
        raise Invalid("invalid_time", "started_at and ended_at must carry a time zone")
    if claim.ended_at <= claim.started_at:
        raise Invalid("invalid_time", "ended_at must be after started_at")
    if claim.ended_at > now + timedelta(minutes=5):
        raise Invalid("invalid_time", "the outing cannot end in the future")
    photo, track = claim.photo_hash.lower(), claim.track_hash.lower()
    if photo == track:
        raise Invalid("invalid_evidence", "photo_hash and track_hash must differ")
    with ctx.store.session() as session:
        used = session.scalars(select(EvidenceUse.evidence_hash).where(EvidenceUse.evidence_hash.in_([photo, track])))
        if list(used):
            earlier = _same_claim(session, citizen, claim)
            if earlier is not None:
                return view(ctx, earlier)  # a retry of a claim already recorded: the same claim
            raise Conflict("evidence_already_used", "this evidence already backs another claim")
    points = ctx.rules.points.points_for(claim.metrics)
    reasons = _hold_reasons(ctx, citizen, claim, points, now)
    auto = ctx.settings.auto_approve
    status = ClaimStatus.APPROVED if auto and not reasons else ClaimStatus.HELD
    if not auto and not reasons:
        reasons = ["the city reviews every claim"]
    salt = "0x" + secrets.token_hex(32)
    row = ActivityClaim(
        citizen_id=citizen.id,
        started_at=claim.started_at,
        ended_at=claim.ended_at,
        distance_meters=claim.distance_meters,
        duration_seconds=claim.duration_seconds,
        steps=claim.steps,
        litter_grams=claim.litter_grams,
        photo_hash=photo,
        track_hash=track,
        evidence_salt=salt,
        evidence_commitment=evidence_commitment(photo, track, salt=salt),
        points=points,
        status=status,
        hold_reasons="\n".join(reasons),
    )
    with ctx.store.session() as session:
        session.add(row)
        session.flush()
        session.add_all(
            [EvidenceUse(evidence_hash=photo, claim_id=row.id), EvidenceUse(evidence_hash=track, claim_id=row.id)]
        )
        try:
            session.commit()
        except IntegrityError as exc:
            # A concurrent claim recorded the same evidence after the check above.
            session.rollback()
            raise Conflict("evidence_already_used", "this evidence already backs another claim") from exc
    return view(ctx, row)


def _same_claim(session: Any, citizen: Citizen, claim: NewClaim) -> ActivityClaim | None:
    """The citizen's recorded claim with exactly this outing and evidence, if there is one."""
    row: ActivityClaim | None = session.scalar(
        select(ActivityClaim).where(
            ActivityClaim.citizen_id == citizen.id,
            ActivityClaim.photo_hash == claim.photo_hash.lower(),
            ActivityClaim.track_hash == claim.track_hash.lower(),
        )
    )
    if row is None:
        return None
    same = (
        row.started_at == claim.started_at
        and row.ended_at == claim.ended_at
        and (row.distance_meters, row.duration_seconds, row.steps, row.litter_grams)
        == (claim.distance_meters, claim.duration_seconds, claim.steps, claim.litter_grams)
    )
    return row if same else None


def view(ctx: Context, row: ActivityClaim) -> ClaimView:
    with ctx.store.session() as session:
        reviews = list(
            session.scalars(select(ReviewDecision).where(ReviewDecision.claim_id == row.id).order_by(ReviewDecision.id))
        )
    metrics = Metrics(row.distance_meters, row.duration_seconds, row.litter_grams, row.steps)
    return ClaimView(row, reviews, ctx.rules.points.mission_completed(metrics))


def mine(ctx: Context, citizen: Citizen) -> list[ClaimView]:
    with ctx.store.session() as session:
        rows = list(
            session.scalars(
                select(ActivityClaim).where(ActivityClaim.citizen_id == citizen.id).order_by(ActivityClaim.id)
            )
        )
    return [view(ctx, r) for r in rows]


def get(ctx: Context, claim_id: int, citizen: Citizen | None = None) -> ClaimView:
    """A claim; a citizen asking for another's claim is answered exactly like a missing one."""
    with ctx.store.session() as session:
        row = session.get(ActivityClaim, claim_id) if 0 < claim_id < 2**63 else None
    if row is None or (citizen is not None and row.citizen_id != citizen.id):
        raise NotFound("claim_not_found", f"no claim {claim_id}")
    return view(ctx, row)


def for_review(ctx: Context, status: ClaimStatus) -> list[ClaimView]:
    with ctx.store.session() as session:
        rows = list(
            session.scalars(select(ActivityClaim).where(ActivityClaim.status == status).order_by(ActivityClaim.id))
        )
    return [view(ctx, r) for r in rows]


def review(ctx: Context, claim_id: int, decision: str, reason: str, reviewer: str) -> ClaimView:
    """Approves or rejects a held claim; the decision is recorded with who, when and why."""
    with ctx.store.session() as session:
        row = session.get(ActivityClaim, claim_id) if 0 < claim_id < 2**63 else None
        if row is None:
            raise NotFound("claim_not_found", f"no claim {claim_id}")
        if row.status != ClaimStatus.HELD:
            raise Conflict("claim_not_held", f"claim {claim_id} is {row.status.value}, not held for review")
        row.status = ClaimStatus.APPROVED if decision == "approve" else ClaimStatus.REJECTED
        session.add(ReviewDecision(claim_id=row.id, reviewer=reviewer, decision=decision, reason=reason))
        session.commit()
    return view(ctx, row)


def appeal(ctx: Context, citizen: Citizen, claim_id: int, note: str) -> ClaimView:
    """A citizen appeals a rejection once: the claim goes back to review with their note."""
    with ctx.store.session() as session:
        row = session.get(ActivityClaim, claim_id) if 0 < claim_id < 2**63 else None
        if row is None or row.citizen_id != citizen.id:
            raise NotFound("claim_not_found", f"no claim {claim_id}")
        if row.status != ClaimStatus.REJECTED:
            raise Conflict(
                "claim_not_rejected", f"claim {claim_id} is {row.status.value}; only a rejection is appealed"
            )
        if row.appealed_at is not None:
            raise Conflict("already_appealed", "this claim was appealed once already")
        row.status, row.appeal_note, row.appealed_at = ClaimStatus.HELD, note, utcnow()
        row.hold_reasons = "\n".join(r for r in (row.hold_reasons, "appealed by the citizen") if r)
        session.add(ReviewDecision(claim_id=row.id, reviewer=f"citizen:{citizen.id}", decision="appeal", reason=note))
        session.commit()
    return view(ctx, row)


def _check_award(ctx: Context, award: StaffAward) -> None:
    """What the contract would refuse, refused before anything is recorded (the reference stays free).
    A command run beside the service on the embedded chain cannot read the chain the service holds;
    the service's writer then meets the contract's refusal and holds the award with its reason."""
    if not getattr(ctx.ledger, "readable", True):
        return
    if not ctx.ledger.is_activity_kind_enabled(award.kind):
        raise Invalid("unknown_activity_kind", f"activity kind {award.kind} is not enabled on-chain")
    max_award, _ = ctx.ledger.limits()
    if award.points > max_award:
        raise Invalid("award_too_large", f"an award may carry at most {max_award} points")


def staff_award(ctx: Context, award: StaffAward, by: str, citizen: Citizen) -> ClaimView:
    """Points staff award directly (credited volunteer hours, say), in a transaction of its own.
    ``reference`` makes it safe to retry: the same reference returns the award already made.
    The award is stored approved before anything is sent, then settled at once."""
    with ctx.store.session() as session:
        row = session.scalar(select(ActivityClaim).where(ActivityClaim.reference == award.reference))
        if row is None:
            _check_award(ctx, award)
            now = utcnow()
            salt = "0x" + secrets.token_hex(32)
            evidence = award.evidence_hash or keccak_hex(award.reference.encode())
            row = ActivityClaim(
                citizen_id=citizen.id,
                kind=award.kind,
                source="staff",
                note=award.note,
                reference=award.reference,
                started_at=now,
                ended_at=now,
                distance_meters=0,
                duration_seconds=0,
                steps=0,
                litter_grams=0,
                evidence_salt=salt,
                evidence_commitment=evidence_commitment(evidence, salt=salt),
                points=award.points,
                status=ClaimStatus.APPROVED,
                hold_reasons=f"awarded by {by}",
            )
            session.add(row)
            try:
                session.commit()
            except IntegrityError:
                session.rollback()
                row = session.scalar(select(ActivityClaim).where(ActivityClaim.reference == award.reference))
                assert row is not None
        elif row.citizen_id != citizen.id or row.points != award.points or row.kind != award.kind:
            raise Conflict("reference_in_use", "this reference was used for a different award")
    if row.status in (ClaimStatus.APPROVED, ClaimStatus.SENDING):
        intent = submit(ctx, "settle", {"claim_ids": [row.id]}, principal="staff-award", key=award.reference)
        outcome(ctx, intent)
    return get(ctx, row.id)
