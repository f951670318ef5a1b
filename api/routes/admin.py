"""Running the programme: pause, roles, activity kinds, limits, health, and intents."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request

from ..deps import AdminDep, AnyStaffDep, CtxDep, IndexerDep, KeyDep, PauserDep, principal_of
from ..schemas import ActivityKindPublic, ActivityKindSet, HealthPublic, RoleChange
from ..services import admin, intents
from ..services.errors import NotFound

router = APIRouter(tags=["administration"])


@router.get("/health", response_model=HealthPublic, tags=["health"])
def health(ctx: CtxDep, indexer: IndexerDep) -> HealthPublic:
    """200 with the node's latest block and whether the contracts are paused; 503
    ``chain_unavailable`` while the node does not answer. Never waits for chain work."""
    h = admin.health(ctx, indexer)
    return HealthPublic(
        status="ok",
        chain_id=h.chain_id,
        block=h.block,
        paused=h.paused,
        indexed_block=h.indexed_block,
        writer=h.writer,
        process=ctx.process_id,
    )


@router.post("/admin/pause", response_model=list[str])
def pause(ctx: CtxDep, _: PauserDep, keyed: KeyDep) -> list[str]:
    """Pauses awards, redemptions and badge issuance; 409 ``already_paused`` if they are."""
    return admin.pause(ctx, True, principal=keyed.principal, key=keyed.key)


@router.post("/admin/unpause", response_model=list[str])
def unpause(ctx: CtxDep, _: PauserDep, keyed: KeyDep) -> list[str]:
    return admin.pause(ctx, False, principal=keyed.principal, key=keyed.key)


@router.get("/admin/roles", response_model=dict[str, dict[str, list[str]]])
def role_holders(ctx: CtxDep, indexer: IndexerDep, _: AnyStaffDep) -> dict[str, dict[str, list[str]]]:
    """Who holds each on-chain role on each contract, from the chain's own role history."""
    return admin.role_holders(ctx, indexer)


@router.post("/admin/roles", response_model=list[str])
def change_role(body: RoleChange, ctx: CtxDep, _: AdminDep, keyed: KeyDep) -> list[str]:
    """Grants or revokes an on-chain role; returns the transaction hashes."""
    return admin.change_role(ctx, body.role, body.address, body.grant, principal=keyed.principal, key=keyed.key)


@router.get("/admin/activity-kinds", response_model=list[ActivityKindPublic])
def activity_kinds(ctx: CtxDep, indexer: IndexerDep) -> list[ActivityKindPublic]:
    return [ActivityKindPublic(**k) for k in admin.activity_kinds(ctx, indexer).values()]


@router.post("/admin/activity-kinds", response_model=list[str])
def set_activity_kind(body: ActivityKindSet, ctx: CtxDep, _: AdminDep, keyed: KeyDep) -> list[str]:
    """Enables (or disables) an activity kind the city awards points for, e.g. 1 = volunteering."""
    return admin.set_activity_kind(ctx, body.kind, body.enabled, body.label, principal=keyed.principal, key=keyed.key)


@router.get("/admin/limits", response_model=list[dict[str, Any]])
def limits(ctx: CtxDep, indexer: IndexerDep, _: AnyStaffDep) -> list[dict[str, Any]]:
    """The per-award maximum and daily cap the contract has had, with when each took effect."""
    return admin.limits(ctx, indexer)


@router.get("/intents/{intent_id}", response_model=dict[str, Any], tags=["intents"])
def read_intent(intent_id: str, request: Request, ctx: CtxDep) -> dict[str, Any]:
    """Where a piece of chain work stands (a request answered 202 goes on here)."""
    row = intents.read(ctx, intent_id)
    if row.principal is not None and row.principal != principal_of(request):
        raise NotFound("intent_not_found", f"no intent {intent_id}")
    return {
        "intent_id": row.id,
        "kind": row.kind,
        "status": row.status.value,
        "result": json.loads(row.result) if row.result else None,
        "error": {"code": row.error_code, "message": row.error_message} if row.error_code else None,
    }
