"""Anchors of the off-chain records (evidence commitments, review decisions): an inclusion
proof for one record, the export an auditor checks (``civic audit --records``), and anchoring
now. The proofs are public; the records' content stays off-chain."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path

from ..deps import AdminDep, CtxDep, KeyDep, rate_limited
from ..services import anchoring

router = APIRouter(prefix="/anchors", tags=["anchors"])


@router.get("/records", response_model=list[dict[str, Any]], dependencies=[rate_limited("public", public=True)])
def export(ctx: CtxDep) -> list[dict[str, Any]]:
    """Every anchored record with its leaf, root, proof and the content hash the city holds now."""
    return anchoring.export(ctx)


@router.get(
    "/{record_type}/{record_id}", response_model=dict[str, Any], dependencies=[rate_limited("public", public=True)]
)
def proof(
    record_type: Literal["evidence", "review"], record_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: CtxDep
) -> dict[str, Any]:
    """The inclusion proof of one record: ``evidence`` (a claim's evidence commitment, by claim
    id) or ``review`` (a review decision, by its id)."""
    return anchoring.proof_of(ctx, record_type, record_id)


@router.post("", response_model=dict[str, Any])
def anchor(ctx: CtxDep, _: AdminDep, keyed: KeyDep) -> dict[str, Any]:
    """Anchors now whatever is not anchored yet (the service also does it periodically)."""
    return anchoring.request_anchor(ctx, principal=keyed.principal, key=keyed.key)
