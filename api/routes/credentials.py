"""Open Badges 3.0 credentials: anyone fetches the signed credential of a badge held, and anyone
verifies one (signature by the city's published key, issuer, validity, and status on-chain).

``router`` goes under /v1; ``well_known_router`` at the root (``/.well-known/jwks.json``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from ..deps import CtxDep, IndexerDep, rate_limited
from ..presenters import checks_public
from ..schemas import CheckPublic
from ..services import credentials

__all__ = ["router", "well_known_router"]

router = APIRouter(prefix="/credentials", tags=["credentials"], dependencies=[rate_limited("public", public=True)])
well_known_router = APIRouter(tags=["credentials"], dependencies=[rate_limited("public", public=True)])

EventIdPath = Annotated[int, Path(ge=1, le=2**63 - 1)]


class BadgeCredential(BaseModel):
    #: The Open Badges 3.0 OpenBadgeCredential (VC Data Model 2.0).
    credential: dict[str, Any]
    #: The same credential as a compact VC-JWT (ES256, typ vc+jwt), the form wallets take.
    jwt: str
    #: LinkedIn's "Add to profile" link for the badge as a certification.
    add_to_profile: str


class CredentialVerify(BaseModel):
    jwt: str = Field(min_length=1, max_length=64 * 1024, description="A compact VC-JWT.")


class CredentialVerified(BaseModel):
    """``valid``: genuine and held on-chain; ``revoked``: genuine but revoked or no longer held;
    ``unknown``: genuine but the chain could not be asked (never called valid); ``invalid``:
    the check named failed."""

    outcome: Literal["valid", "revoked", "unknown", "invalid"]
    checks: list[CheckPublic]


@router.get("/issuer")
def read_issuer(ctx: CtxDep) -> dict[str, Any]:
    """The city's Open Badges issuer Profile, the ``issuer.id`` of its credentials, with the
    public key that signs them."""
    return credentials.issuer_profile(ctx)


@router.get("/badges/{event_id}/{address}", response_model=BadgeCredential)
def read_badge_credential(event_id: EventIdPath, address: str, ctx: CtxDep, indexer: IndexerDep) -> BadgeCredential:
    """The signed credential of a badge the address holds (404 ``badge_not_held`` otherwise)."""
    issued = credentials.badge_credential(ctx, indexer, event_id, address)
    return BadgeCredential(credential=issued.credential, jwt=issued.jwt, add_to_profile=issued.add_to_profile)


@router.post("/verify", response_model=CredentialVerified)
def verify_credential(body: CredentialVerify, ctx: CtxDep) -> CredentialVerified:
    """Checks a credential: its format, its signature by the published issuer key, its issuer
    and subject, its validity period, and its status on-chain. Always 200: the outcome and
    the checks say what was found."""
    result = credentials.verify(ctx, body.jwt)
    return CredentialVerified(outcome=result.outcome, checks=checks_public(result.checks))


@well_known_router.get("/.well-known/jwks.json")
def read_jwks(ctx: CtxDep) -> dict[str, Any]:
    """The public keys that sign the city's credentials (a JWK Set)."""
    return credentials.jwks(ctx)
