"""Activity claims by citizens, review by the city, and the batched on-chain award."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import select

from ledger import Metrics
from ledger.records import checksum

from ..claims import award_approved, award_one, record_staff_award, submit_claim
from ..deps import AdminDep, CitizenDep, MinterDep, SessionDep, StateDep, rate_limited
from ..errors import ApiError
from ..schemas import (
    ActivityKindSet,
    ClaimCreate,
    ClaimPublic,
    ClaimWithReviews,
    FlushResult,
    ReviewCreate,
    ReviewPublic,
    StaffAwardCreate,
)
from ..store import ActivityClaim, Citizen, ClaimStatus, ReviewDecision, utcnow

router = APIRouter(prefix="/v1", tags=["claims"])

#: Claim ids are database ids (signed 64-bit) and on-chain activity ids.
ActivityIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


def claim_public(row: ActivityClaim, rules_completed: bool) -> ClaimPublic:
    return ClaimPublic(
        activity_id=row.id,
        citizen_id=row.citizen_id,
        status=row.status.value,
        points=row.points,
        mission_completed=rules_completed,
        hold_reasons=[r for r in row.hold_reasons.split("\n") if r],
        started_at=row.started_at,
        ended_at=row.ended_at,
        tx_hash=row.tx_hash,
        block_number=row.block_number,
    )


def _public(row: ActivityClaim, state: StateDep) -> ClaimPublic:
    metrics = Metrics(row.distance_meters, row.duration_seconds, row.litter_grams, row.steps)
    public = claim_public(row, state.rules.mission_completed(metrics))
    if row.block_number is not None:
        with state.chain() as ledger:
            final = row.block_number <= ledger.final_block()
        public.finality = "final" if final else "confirmed"
    return public


@router.post("/claims", response_model=ClaimPublic, status_code=201, dependencies=[rate_limited("claims")])
def create_claim(body: ClaimCreate, citizen: CitizenDep, state: StateDep, session: SessionDep) -> ClaimPublic:
    """Records a plogging outing. Plausible claims are approved (if the city auto-approves) and
    awarded on-chain in the next batch; the rest are held for a reviewer."""
    settings = state.settings
    row = submit_claim(
        session,
        citizen,
        body,
        state.rules,
        auto_approve=settings.auto_approve,
        max_speed_kmh=settings.max_speed_kmh,
        daily_cap=settings.daily_points_cap,
        now=utcnow(),
    )
    return _public(row, state)


@router.get("/claims", response_model=list[ClaimPublic])
def list_my_claims(citizen: CitizenDep, state: StateDep, session: SessionDep) -> list[ClaimPublic]:
    rows = session.scalars(
        select(ActivityClaim).where(ActivityClaim.citizen_id == citizen.id).order_by(ActivityClaim.id)
    )
    return [_public(r, state) for r in rows]


@router.get("/claims/{activity_id}", response_model=ClaimPublic)
def read_my_claim(
    activity_id: ActivityIdPath, citizen: CitizenDep, state: StateDep, session: SessionDep
) -> ClaimPublic:
    row = session.get(ActivityClaim, activity_id)
    # Another citizen's claim answers exactly like a missing one: ids reveal nothing.
    if row is None or row.citizen_id != citizen.id:
        raise ApiError(404, "claim_not_found", f"no claim {activity_id}")
    return _public(row, state)


@router.get("/review/claims", response_model=list[ClaimWithReviews])
def list_claims_for_review(
    state: StateDep,
    session: SessionDep,
    _: MinterDep,
    status: ClaimStatus = Query(ClaimStatus.HELD),
) -> list[ClaimWithReviews]:
    rows = session.scalars(select(ActivityClaim).where(ActivityClaim.status == status).order_by(ActivityClaim.id))
    return [_with_reviews(r, state, session) for r in rows]


def _with_reviews(row: ActivityClaim, state: StateDep, session: SessionDep) -> ClaimWithReviews:
    reviews = session.scalars(
        select(ReviewDecision).where(ReviewDecision.claim_id == row.id).order_by(ReviewDecision.id)
    )
    return ClaimWithReviews(
        **_public(row, state).model_dump(),
        reviews=[
            ReviewPublic(reviewer=r.reviewer, decision=r.decision, reason=r.reason, decided_at=r.decided_at)
            for r in reviews
        ],
    )


@router.post("/review/claims/{activity_id}", response_model=ClaimWithReviews)
def review_claim(
    activity_id: ActivityIdPath,
    body: ReviewCreate,
    state: StateDep,
    session: SessionDep,
    reviewer: MinterDep,
) -> ClaimWithReviews:
    """Approves or rejects a held claim; the decision is recorded with who and when."""
    row = session.get(ActivityClaim, activity_id)
    if row is None:
        raise ApiError(404, "claim_not_found", f"no claim {activity_id}")
    if row.status != ClaimStatus.HELD:
        raise ApiError(409, "claim_not_held", f"claim {activity_id} is {row.status.value}, not held for review")
    row.status = ClaimStatus.APPROVED if body.decision == "approve" else ClaimStatus.REJECTED
    session.add(
        ReviewDecision(
            claim_id=row.id,
            reviewer=f"{reviewer.label}#{reviewer.token_id}",
            decision=body.decision,
            reason=body.reason,
        )
    )
    session.commit()
    return _with_reviews(row, state, session)


@router.post("/awards/flush", response_model=FlushResult)
def flush_awards(state: StateDep, session: SessionDep, _: MinterDep) -> FlushResult:
    """Awards every approved claim on-chain now, in batches (the service also does this on a timer)."""
    with state.chain() as ledger:
        awarded, transactions = award_approved(session, ledger, state.settings.award_batch_size)
    return FlushResult(awarded=awarded, transactions=transactions)


@router.post("/awards", response_model=ClaimPublic, status_code=201)
def award_points(body: StaffAwardCreate, state: StateDep, session: SessionDep, staff: MinterDep) -> ClaimPublic:
    """Awards points directly, in one transaction of its own. ``reference`` makes it safe to
    retry: the same reference returns the award already made instead of making another."""
    existing = session.scalar(select(ActivityClaim).where(ActivityClaim.reference == body.reference))
    if existing is None:
        citizen = _citizen(session, body.citizen)
        existing = record_staff_award(session, citizen, body, f"{staff.label}#{staff.token_id}")
    if existing.status == ClaimStatus.APPROVED:
        with state.chain() as ledger:
            award_one(session, ledger, existing)
    return _public(existing, state)


def _citizen(session: SessionDep, ref: str) -> Citizen:
    by_address = ref.startswith("0x") and len(ref) == 42
    query = select(Citizen).where(Citizen.address == checksum(ref) if by_address else Citizen.id == ref)
    citizen = session.scalar(query)
    if citizen is None:
        raise ApiError(404, "citizen_not_found", f"no citizen {ref}")
    return citizen


@router.post("/admin/activity-kinds", response_model=list[str])
def set_activity_kind(body: ActivityKindSet, state: StateDep, _: AdminDep) -> list[str]:
    """Enables (or disables) an activity kind the city awards points for, e.g. 1 = volunteering."""
    with state.chain() as ledger:
        return [ledger.set_activity_kind(body.kind, body.enabled, body.label).tx_hash]
