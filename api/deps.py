"""FastAPI dependencies: the services' context, who is calling, their Idempotency-Key, rate limits."""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from .ratelimit import RateLimiter
from .services import auth
from .services.auth import StaffPrincipal
from .services.context import Context
from .services.errors import Forbidden, Invalid, Unauthenticated
from .services.indexer import Indexer
from .store import Citizen

__all__ = [
    "AdminDep",
    "AnyStaffDep",
    "CitizenDep",
    "CtxDep",
    "EnrollerDep",
    "IndexerDep",
    "IssuerDep",
    "KeyDep",
    "MinterDep",
    "PauserDep",
    "ReaderDep",
    "client_address",
    "rate_limited",
]


def get_ctx(request: Request) -> Context:
    ctx: Context = request.app.state.ctx
    return ctx


def get_indexer(request: Request) -> Indexer:
    indexer: Indexer = request.app.state.indexer
    return indexer


CtxDep = Annotated[Context, Depends(get_ctx)]
IndexerDep = Annotated[Indexer, Depends(get_indexer)]


#: Declares bearer auth in the OpenAPI document, so every protected operation shows its lock.
bearer_scheme = HTTPBearer(auto_error=False, description="A staff token (staff_...) or a citizen session (cit_...).")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


def bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("not_authenticated", "send an Authorization: Bearer token")
    return token.strip()


def principal_of(request: Request) -> str:
    """Whose Idempotency-Keys these are: the caller's credentials, hashed."""
    return hashlib.sha256(request.headers.get("authorization", "").encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Keyed:
    """The caller and the Idempotency-Key of a write, for the intent it records."""

    principal: str
    key: str | None


def idempotency(request: Request) -> Keyed:
    key = request.headers.get("idempotency-key")
    if key is not None and not 1 <= len(key) <= 200:
        raise Invalid("invalid_idempotency_key", "Idempotency-Key must be 1 to 200 characters")
    return Keyed(principal_of(request), key)


KeyDep = Annotated[Keyed, Depends(idempotency)]


def require_staff(*roles: str) -> Callable[..., StaffPrincipal]:
    """A dependency admitting staff tokens of ``roles`` (admin is admitted everywhere)."""

    def dependency(request: Request, ctx: CtxDep, _: Credentials) -> StaffPrincipal:
        principal = auth.authenticate_staff(ctx, bearer(request))
        if not principal.may(*roles):
            raise Forbidden("forbidden", f"this route needs one of the roles: {', '.join(('admin', *roles))}")
        request.state.actor = principal.name
        return principal

    return dependency


def current_citizen(request: Request, ctx: CtxDep, _: Credentials) -> Citizen:
    citizen = auth.authenticate_citizen(ctx, bearer(request))
    request.state.actor = f"citizen:{citizen.id}"
    return citizen


CitizenDep = Annotated[Citizen, Depends(current_citizen)]
AdminDep = Annotated[StaffPrincipal, Depends(require_staff("admin"))]
MinterDep = Annotated[StaffPrincipal, Depends(require_staff("minter"))]
IssuerDep = Annotated[StaffPrincipal, Depends(require_staff("issuer"))]
PauserDep = Annotated[StaffPrincipal, Depends(require_staff("pauser"))]
#: Staff who may enrol citizens without a wallet.
EnrollerDep = Annotated[StaffPrincipal, Depends(require_staff("minter", "issuer"))]
#: Staff whose work needs citizens' profiles (least privilege: not pausers or redeemers).
ReaderDep = Annotated[StaffPrincipal, Depends(require_staff("minter", "issuer"))]
#: Any valid staff token, whatever its role.
AnyStaffDep = Annotated[StaffPrincipal, Depends(require_staff(*auth.STAFF_ROLES))]


def client_address(request: Request, trusted: set[str]) -> str:
    """The client's address: the peer, or, when the peer is a configured proxy, the last
    address in X-Forwarded-For that is not one (a client cannot choose what a proxy appends)."""
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted:
        return peer
    forwarded = [p.strip() for p in request.headers.get("x-forwarded-for", "").split(",") if p.strip()]
    for hop in reversed(forwarded):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return peer
        if hop not in trusted:
            return hop
    return peer


def rate_limited(bucket: str, public: bool = False) -> Any:
    def dependency(request: Request, ctx: CtxDep) -> None:
        limiter: RateLimiter = request.app.state.limiter
        per_minute = ctx.settings.public_rate_limit_per_minute if public else ctx.settings.rate_limit_per_minute
        limiter.check(client_address(request, ctx.settings.proxies()), bucket, per_minute)

    return Depends(dependency)
