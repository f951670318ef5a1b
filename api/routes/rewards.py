"""The reward catalogue, redemption with the citizen's consent, and reversals."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query

from ..deps import AdminDep, CitizenDep, CtxDep, KeyDep
from ..presenters import reward_public
from ..schemas import (
    ConsentRequest,
    RedemptionCreate,
    RedemptionPublic,
    ReversalPublic,
    Reverse,
    RewardCreate,
    RewardPublic,
    RewardUpdate,
)
from ..services import admin, rewards
from ..services.rewards import RewardChange

router = APIRouter(tags=["rewards"])


@router.get("/rewards", response_model=list[RewardPublic])
def list_rewards(ctx: CtxDep, include_retired: Annotated[bool, Query()] = False) -> list[RewardPublic]:
    return [reward_public(r) for r in rewards.list_rewards(ctx, include_retired=include_retired)]


@router.post("/rewards", response_model=RewardPublic, status_code=201)
def create_reward(body: RewardCreate, ctx: CtxDep, _: AdminDep) -> RewardPublic:
    return reward_public(rewards.create(ctx, body.title, body.cost, body.stock))


@router.patch("/rewards/{reward_id}", response_model=RewardPublic)
def change_reward(
    reward_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: RewardUpdate, ctx: CtxDep, _: AdminDep
) -> RewardPublic:
    """Edits a reward, restocks it (``stock``; ``unlimited`` for no limit) or retires it (``active: false``)."""
    change = RewardChange(body.title, body.cost, body.stock, body.unlimited, body.active)
    return reward_public(rewards.change(ctx, reward_id, change))


@router.get("/redemptions/consent", response_model=ConsentRequest)
def consent_request(
    citizen: CitizenDep, ctx: CtxDep, reward_id: Annotated[int, Query(ge=1, le=2**63 - 1)]
) -> ConsentRequest:
    """The EIP-712 typed data a citizen with their own wallet signs to spend points on a reward."""
    typed, deadline = rewards.consent_document(ctx, citizen, reward_id)
    return ConsentRequest(typed_data=typed, deadline=deadline)


@router.post("/redemptions", response_model=RedemptionPublic, status_code=201)
def redeem(body: RedemptionCreate, citizen: CitizenDep, ctx: CtxDep, keyed: KeyDep) -> RedemptionPublic:
    """Spends the reward's cost in points, exactly once per request (and per Idempotency-Key:
    a retry, even after a crash, finds the first redemption). A custodial citizen's request is
    their consent; a wallet citizen sends the signature."""
    answer = rewards.redeem(
        ctx,
        citizen,
        body.reward_id,
        signature=None if body.signature is None else bytes.fromhex(body.signature[2:]),
        deadline=body.deadline,
        principal=keyed.principal,
        key=keyed.key,
    )
    return RedemptionPublic(**answer)


@router.post("/activities/{activity_id}/reverse", response_model=ReversalPublic, tags=["administration"])
def reverse_award(
    activity_id: Annotated[int, Path(ge=1, le=2**63 - 1)], body: Reverse, ctx: CtxDep, _: AdminDep, keyed: KeyDep
) -> ReversalPublic:
    """Reverses a wrongful award: a new on-chain record and a balance correction, never an edit.
    The contract takes back exactly what was awarded, from whom (proved against the award's batch)."""
    return ReversalPublic(**admin.reverse(ctx, activity_id, body.reason_code, principal=keyed.principal, key=keyed.key))
