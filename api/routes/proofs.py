"""Proof files: one record with everything needed to check it on any node (``civic proof
check FILE --rpc-url URL``), built from the index. Public."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from ..deps import CtxDep, IndexerDep
from ..services import proofs

router = APIRouter(prefix="/proofs", tags=["proofs"])


def _download(proof: dict[str, Any], name: str) -> JSONResponse:
    return JSONResponse(proof, headers={"Content-Disposition": f'attachment; filename="{name}.proof.json"'})


@router.get("/activities/{activity_id}", response_model=dict[str, Any])
def activity_proof(
    activity_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: CtxDep, indexer: IndexerDep
) -> JSONResponse:
    """The proof of an award."""
    return _download(proofs.of_activity(ctx, indexer, activity_id, reversal=False), f"activity-{activity_id}")


@router.get("/activities/{activity_id}/reversal", response_model=dict[str, Any])
def reversal_proof(
    activity_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: CtxDep, indexer: IndexerDep
) -> JSONResponse:
    """The proof of an award's reversal."""
    return _download(proofs.of_activity(ctx, indexer, activity_id, reversal=True), f"activity-{activity_id}-reversal")


@router.get("/badges/{event_id}/{address}", response_model=dict[str, Any])
def badge_proof(
    event_id: Annotated[int, Path(ge=1, le=2**63 - 1)], address: str, ctx: CtxDep, indexer: IndexerDep
) -> JSONResponse:
    """The proof of a badge's issue (or, once revoked, of its revocation)."""
    return _download(proofs.of_badge(ctx, indexer, event_id, address), f"badge-{event_id}-{address}")


@router.get("/records/{tx_hash}/{log_index}", response_model=dict[str, Any])
def record_proof(
    tx_hash: Annotated[str, Path(pattern=r"^0x[0-9a-fA-F]{64}$")],
    log_index: Annotated[int, Path(ge=0, le=2**31 - 1)],
    ctx: CtxDep,
    indexer: IndexerDep,
) -> JSONResponse:
    """The proof of any record (a redemption, say) by its transaction and log index."""
    return _download(proofs.of_record(ctx, indexer, tx_hash, log_index), f"{tx_hash[:10]}-{log_index}")
