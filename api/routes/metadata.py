"""Badge metadata for wallets and explorers: ERC-1155 JSON per event (the contract's ``uri``
points here with ``{id}``), badge images, and the collection's ERC-7572 metadata. Public."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from ..deps import CtxDep
from ..services import metadata

router = APIRouter(prefix="/badges", tags=["badge metadata"])

_CACHE = {"Cache-Control": "public, max-age=300"}


@router.get("/collection.json", response_model=dict[str, Any])
def collection(ctx: CtxDep) -> dict[str, Any]:
    """The collection's metadata (ERC-7572 ``contractURI``)."""
    return metadata.collection_metadata(ctx)


@router.get("/collection.svg", response_class=Response)
def collection_image(ctx: CtxDep) -> Response:
    return Response(metadata.badge_svg(ctx, None), media_type="image/svg+xml", headers=_CACHE)


@router.get("/{token}.json", response_model=dict[str, Any])
def event_metadata(
    token: str, ctx: CtxDep, locale: Annotated[str, Query(pattern="^(ko|en)$")] = "ko"
) -> dict[str, Any]:
    """ERC-1155 metadata of an event's badge; ``token`` is the id as 64 hex digits (what
    clients substitute for ``{id}``) or in decimal; ``locale`` ko (default) or en."""
    return metadata.event_metadata(ctx, metadata.token_id(token), locale)


@router.get("/{token}.svg", response_class=Response)
def event_image(token: str, ctx: CtxDep) -> Response:
    """The badge's image, generated (SVG, no external assets)."""
    return Response(metadata.badge_svg(ctx, metadata.token_id(token)), media_type="image/svg+xml", headers=_CACHE)
