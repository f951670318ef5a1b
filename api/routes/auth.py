"""Signing in: Sign-In with Ethereum for citizens with a wallet, sign-in cards for citizens
without one, and staff API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from ..deps import AdminDep, CtxDep, bearer, rate_limited
from ..schemas import CardSignIn, SessionPublic, SiweNonceResponse, SiweVerify, StaffTokenCreate, StaffTokenPublic
from ..services import auth
from ..store import StaffToken

router = APIRouter(tags=["sign-in"])


def _session(session: auth.NewSession) -> SessionPublic:
    return SessionPublic(
        token=session.token, citizen_id=session.citizen_id, address=session.address, expires_at=session.expires_at
    )


@router.post("/auth/siwe/nonce", response_model=SiweNonceResponse, dependencies=[rate_limited("sign-in")])
def siwe_nonce(ctx: CtxDep) -> SiweNonceResponse:
    """A single-use nonce to put in an EIP-4361 message, with the domain, URI and chain it must name."""
    c = auth.siwe_challenge(ctx)
    return SiweNonceResponse(nonce=c.nonce, expires_at=c.expires_at, domain=c.domain, uri=c.uri, chain_id=c.chain_id)


@router.post("/auth/siwe/verify", response_model=SessionPublic, dependencies=[rate_limited("sign-in")])
def siwe_verify(body: SiweVerify, ctx: CtxDep) -> SessionPublic:
    """Checks the signed message (domain, URI, chain, nonce, expiry, signer) and opens a session."""
    return _session(auth.sign_in_with_ethereum(ctx, body.message, body.signature))


@router.post("/auth/card/activate", response_model=SessionPublic, dependencies=[rate_limited("sign-in")])
def activate_card(body: CardSignIn, ctx: CtxDep) -> SessionPublic:
    """The citizen activates the card staff handed them by choosing its PIN (4 to 8 digits)."""
    return _session(auth.activate_card(ctx, body.code, body.pin))


@router.post("/auth/card", response_model=SessionPublic, dependencies=[rate_limited("sign-in")])
def card_sign_in(body: CardSignIn, ctx: CtxDep) -> SessionPublic:
    """Signs in with a card's code and PIN; five wrong PINs lock the card for 15 minutes."""
    return _session(auth.sign_in_with_card(ctx, body.code, body.pin))


@router.post("/auth/sign-out", status_code=204)
def sign_out(request: Request, ctx: CtxDep) -> None:
    auth.sign_out(ctx, bearer(request))


def _token(row: StaffToken, token: str | None = None) -> StaffTokenPublic:
    return StaffTokenPublic(
        id=row.id,
        label=row.label,
        role=row.role,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
        token=token,
    )


@router.get("/staff-tokens", response_model=list[StaffTokenPublic], tags=["staff"])
def list_staff_tokens(ctx: CtxDep, _: AdminDep) -> list[StaffTokenPublic]:
    """Every staff token (never the secret itself), with its role and when it was last used."""
    return [_token(row) for row in auth.list_staff_tokens(ctx)]


@router.post("/staff-tokens", response_model=StaffTokenPublic, status_code=201, tags=["staff"])
def create_staff_token(body: StaffTokenCreate, ctx: CtxDep, admin: AdminDep) -> StaffTokenPublic:
    """A new staff API token; it is shown once and stored hashed."""
    row, token = auth.create_staff_token(ctx, body.label, body.role, admin.name)
    return _token(row, token)


@router.delete("/staff-tokens/{token_id}", response_model=StaffTokenPublic, tags=["staff"])
def revoke_staff_token(
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)], ctx: CtxDep, admin: AdminDep
) -> StaffTokenPublic:
    return _token(auth.revoke_staff_token(ctx, token_id, admin.name))
