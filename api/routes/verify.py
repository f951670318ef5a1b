"""Public verification: anyone can check a citizen, an activity or a badge, no account needed.
Every answer lists the checks made, each passed, failed or "unknown", and carries the on-chain
references to check it again on any node."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Response

from ..deps import CtxDep, IndexerDep, rate_limited
from ..presenters import activity_public, checks_public, citizen_verified, ref_public
from ..schemas import ActivityVerified, BadgeVerified, CitizenVerified
from ..services import verification

router = APIRouter(prefix="/verify", tags=["verification"], dependencies=[rate_limited("public", public=True)])


@router.get("/citizens/{address}", response_model=CitizenVerified)
def verify_citizen(address: str, ctx: CtxDep, indexer: IndexerDep) -> Response:
    """Every record that changed the citizen's points or badges (awards, reversals with their
    reason, redemptions, re-bindings, badges issued and revoked with their reason); the records
    add up to ``rebuilt_balance``, and ``verified`` says whether that and the badges equal the
    contracts' state at ``as_of_block``."""

    def render(statement: verification.CitizenStatement) -> bytes:
        return citizen_verified(ctx, statement).model_dump_json().encode()

    # Served as rendered once per indexed block: a public check repeated by many costs a query.
    return Response(verification.citizen_answer(ctx, indexer, address, render), media_type="application/json")


@router.get("/activities/{activity_id}", response_model=ActivityVerified)
def verify_activity(activity_id: Annotated[int, Path(ge=0)], ctx: CtxDep, indexer: IndexerDep) -> ActivityVerified:
    return activity_public(ctx, verification.activity(ctx, indexer, activity_id))


@router.get("/events/{event_id}/badges/{address}", response_model=BadgeVerified)
def verify_badge(event_id: Annotated[int, Path(ge=0)], address: str, ctx: CtxDep, indexer: IndexerDep) -> BadgeVerified:
    answer = verification.badge(ctx, indexer, event_id, address)
    found = answer.verification
    return BadgeVerified(
        event_id=answer.event_id,
        attendee=answer.attendee,
        holds_badge=answer.holds_badge,
        ref=ref_public(ctx, found.record.ref, found.finality) if found and found.record else None,
        verified=bool(found and found.verified and answer.holds_badge),
        checks=checks_public(found.checks) if found else [],
    )
