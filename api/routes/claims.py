"""Activity claims by citizens, review and appeal, settlement, and staff awards."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ..deps import CitizenDep, CtxDep, KeyDep, MinterDep, rate_limited
from ..presenters import claim_public
from ..schemas import (
    AppealCreate,
    ClaimCreate,
    ClaimPublic,
    ClaimWithReviews,
    ReviewCreate,
    SettleResult,
    StaffAwardCreate,
)
from ..services import citizens, claims
from ..services.claims import NewClaim, StaffAward
from ..services.intents import outcome, submit
from ..store import ClaimStatus

router = APIRouter(tags=["claims"])

ClaimIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


@router.post("/claims", response_model=ClaimPublic, status_code=201, dependencies=[rate_limited("claims")])
def create_claim(body: ClaimCreate, citizen: CitizenDep, ctx: CtxDep) -> ClaimPublic:
    """Records a plogging outing. Plausible claims are approved (if the city approves
    automatically) and awarded on-chain in the next settlement; the rest are held for a reviewer
    with the reasons (outings older than the age limit always are)."""
    view = claims.submit_claim(ctx, citizen, NewClaim(**body.model_dump()))
    return claim_public(ctx, view)


@router.get("/claims", response_model=list[ClaimPublic])
def list_my_claims(citizen: CitizenDep, ctx: CtxDep) -> list[ClaimPublic]:
    final_block = ctx.ledger.final_block()
    return [claim_public(ctx, v, final_block=final_block) for v in claims.mine(ctx, citizen)]


@router.get("/claims/{claim_id}", response_model=ClaimWithReviews)
def read_my_claim(claim_id: ClaimIdPath, citizen: CitizenDep, ctx: CtxDep) -> ClaimPublic:
    """One of the citizen's claims, with every review decision and its reason."""
    return claim_public(ctx, claims.get(ctx, claim_id, citizen), reviews=True)


@router.post("/claims/{claim_id}/appeal", response_model=ClaimWithReviews)
def appeal_claim(claim_id: ClaimIdPath, body: AppealCreate, citizen: CitizenDep, ctx: CtxDep) -> ClaimPublic:
    """Appeals a rejected claim, once: it goes back to review with the citizen's note."""
    return claim_public(ctx, claims.appeal(ctx, citizen, claim_id, body.note), reviews=True)


@router.get("/review/claims", response_model=list[ClaimWithReviews])
def list_claims_for_review(
    ctx: CtxDep, _: MinterDep, status: Annotated[ClaimStatus, Query()] = ClaimStatus.HELD
) -> list[ClaimPublic]:
    final_block = ctx.ledger.final_block()
    return [claim_public(ctx, v, final_block=final_block, reviews=True) for v in claims.for_review(ctx, status)]


@router.post("/review/claims/{claim_id}", response_model=ClaimWithReviews)
def review_claim(claim_id: ClaimIdPath, body: ReviewCreate, ctx: CtxDep, reviewer: MinterDep) -> ClaimPublic:
    """Approves or rejects a held claim; the decision is recorded with who, when and why."""
    return claim_public(ctx, claims.review(ctx, claim_id, body.decision, body.reason, reviewer.name), reviews=True)


@router.post("/awards/flush", response_model=SettleResult)
def settle_now(ctx: CtxDep, _: MinterDep, keyed: KeyDep) -> SettleResult:
    """Awards every approved claim on-chain now, in batches (the service also does this every
    few seconds)."""
    result = outcome(ctx, submit(ctx, "settle", {}, principal=keyed.principal, key=keyed.key))
    return SettleResult(awarded=result["awarded"], transactions=result["transactions"])


@router.post("/awards", response_model=ClaimPublic, status_code=201)
def award_points(body: StaffAwardCreate, ctx: CtxDep, staff: MinterDep) -> ClaimPublic:
    """Awards points directly, in one transaction of its own. ``reference`` makes it safe to
    retry: the same reference returns the award already made instead of making another."""
    citizen = citizens.find(ctx, body.citizen)
    award = StaffAward(body.citizen, body.points, body.kind, body.reference, body.note, body.evidence_hash)
    return claim_public(ctx, claims.staff_award(ctx, award, staff.name, citizen))
