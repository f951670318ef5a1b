"""Sign-In with Ethereum for citizens with a wallet, and staff API tokens."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Path
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..deps import AdminDep, SessionDep, StateDep, rate_limited
from ..errors import ApiError
from ..schemas import SessionPublic, SiweNonceResponse, SiweVerify, StaffTokenCreate, StaffTokenPublic
from ..security import hash_token, new_token, parse_siwe, recover_signer
from ..store import Citizen, CitizenSession, SiweNonce, StaffToken, utcnow

router = APIRouter(prefix="/v1", tags=["auth"])


@router.post("/auth/siwe/nonce", response_model=SiweNonceResponse, dependencies=[rate_limited("sign-in")])
def siwe_nonce(state: StateDep, session: SessionDep) -> SiweNonceResponse:
    """A single-use nonce to put in an EIP-4361 message."""
    nonce = secrets.token_hex(16)
    expires = utcnow() + timedelta(seconds=state.settings.siwe_nonce_ttl_seconds)
    session.add(SiweNonce(nonce=nonce, expires_at=expires))
    session.commit()
    return SiweNonceResponse(
        nonce=nonce,
        expires_at=expires,
        domain=state.settings.siwe_domain,
        uri=state.settings.siwe_uri,
        chain_id=state.ledger.deployment.chain_id,
    )


@router.post("/auth/siwe/verify", response_model=SessionPublic, dependencies=[rate_limited("sign-in")])
def siwe_verify(body: SiweVerify, state: StateDep, session: SessionDep) -> SessionPublic:
    """Checks the signed message (domain, URI, chain, nonce, expiry, signer) and opens a session."""
    try:
        message = parse_siwe(body.message)
        signer = recover_signer(body.message, body.signature)
    except ValueError as exc:
        raise ApiError(401, "siwe_invalid", str(exc)) from exc
    now = utcnow()
    settings = state.settings
    if message.domain != settings.siwe_domain or message.uri != settings.siwe_uri:
        raise ApiError(
            401, "siwe_wrong_domain", f"the message must be for {settings.siwe_domain} ({settings.siwe_uri})"
        )
    if message.chain_id != state.ledger.deployment.chain_id:
        raise ApiError(401, "siwe_wrong_chain", f"the message must name chain {state.ledger.deployment.chain_id}")
    if message.expiration_time is not None and message.expiration_time <= now:
        raise ApiError(401, "siwe_expired", "the sign-in message has expired")
    if message.not_before is not None and message.not_before > now:
        raise ApiError(401, "siwe_not_yet_valid", "the sign-in message is not valid yet (Not Before)")
    if signer.lower() != message.address.lower():
        raise ApiError(401, "siwe_bad_signature", "the signature is not from the address in the message")
    nonce = session.get(SiweNonce, message.nonce)
    if nonce is None or nonce.expires_at <= now:
        raise ApiError(401, "siwe_unknown_nonce", "the nonce is unknown or expired; ask for a new one")
    # Spend the nonce with one conditional write: of concurrent requests replaying one signed
    # message, only the first finds it unused (a read-then-write let every one of them in).
    spent = session.execute(
        update(SiweNonce).where(SiweNonce.nonce == message.nonce, SiweNonce.used_at.is_(None)).values(used_at=now)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise ApiError(401, "siwe_nonce_used", "the nonce has already been used")
    session.commit()
    citizen = _citizen_for(session, signer)
    token = new_token("cit")
    expires = now + timedelta(seconds=settings.session_ttl_seconds)
    session.add(CitizenSession(token_hash=hash_token(token), citizen_id=citizen.id, expires_at=expires))
    session.commit()
    return SessionPublic(token=token, citizen_id=citizen.id, address=citizen.address, expires_at=expires)


def _citizen_for(session: SessionDep, address: str) -> Citizen:
    """The citizen signing in as ``address``, created on the first sign-in. Two first sign-ins
    racing each other both end with the one row the unique address allows."""
    citizen = session.scalar(select(Citizen).where(Citizen.address == address))
    if citizen is not None:
        return citizen
    session.add(Citizen(id=str(uuid.uuid4()), address=address, custodial=False))
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
    return session.scalars(select(Citizen).where(Citizen.address == address)).one()


@router.post("/staff-tokens", response_model=StaffTokenPublic, status_code=201)
def create_staff_token(body: StaffTokenCreate, session: SessionDep, _: AdminDep) -> StaffTokenPublic:
    """A new staff API token; it is shown once and stored hashed."""
    token = new_token("staff")
    row = StaffToken(label=body.label, role=body.role, token_hash=hash_token(token))
    session.add(row)
    session.commit()
    return StaffTokenPublic(id=row.id, label=row.label, role=row.role, token=token)


@router.delete("/staff-tokens/{token_id}", response_model=StaffTokenPublic)
def revoke_staff_token(
    token_id: Annotated[int, Path(ge=1, le=2**63 - 1)], session: SessionDep, _: AdminDep
) -> StaffTokenPublic:
    row = session.get(StaffToken, token_id)
    if row is None:
        raise ApiError(404, "staff_token_not_found", f"no staff token {token_id}")
    row.revoked_at = utcnow()
    session.commit()
    return StaffTokenPublic(id=row.id, label=row.label, role=row.role)
