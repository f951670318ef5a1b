"""Shared state and FastAPI dependencies: the store session, the ledger, who is calling."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import Ledger
from ledger.rules import PointsRules

from .errors import ApiError
from .indexer import Indexer
from .ratelimit import RateLimiter
from .security import Cipher, hash_token
from .settings import ApiSettings
from .store import Citizen, CitizenSession, StaffToken, Store, utcnow

__all__ = [
    "AppState",
    "CitizenDep",
    "SessionDep",
    "StaffPrincipal",
    "StateDep",
    "rate_limited",
    "require_staff",
]

#: Staff roles; each mirrors an on-chain role (reviewing claims is the minter's job).
STAFF_ROLES = ("admin", "minter", "issuer", "redeemer", "pauser")


@dataclass
class AppState:
    settings: ApiSettings
    store: Store
    ledger: Ledger
    cipher: Cipher
    limiter: RateLimiter
    rules: PointsRules = field(default_factory=PointsRules)
    # eth-tester is not thread-safe and one signing key needs ordered nonces: chain work is serialised.
    chain_lock: threading.RLock = field(default_factory=threading.RLock)
    indexer: Indexer = field(init=False)

    def __post_init__(self) -> None:
        self.indexer = Indexer(self.store)

    @contextmanager
    def chain(self) -> Iterator[Ledger]:
        with self.chain_lock:
            yield self.ledger


def get_state(request: Request) -> AppState:
    state: AppState = request.app.state.civic
    return state


StateDep = Annotated[AppState, Depends(get_state)]


def get_session(state: StateDep) -> Iterator[Session]:
    with state.store.session() as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class StaffPrincipal:
    token_id: int
    label: str
    role: str


def _bearer(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise ApiError(401, "not_authenticated", "send an Authorization: Bearer token", {"WWW-Authenticate": "Bearer"})
    return token.strip()


def require_staff(*roles: str):  # type: ignore[no-untyped-def]
    """A dependency admitting staff tokens of ``roles`` (admin is admitted everywhere)."""

    def dependency(request: Request, session: SessionDep) -> StaffPrincipal:
        token = _bearer(request)
        row = session.scalar(select(StaffToken).where(StaffToken.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None:
            if token.startswith("cit_"):
                raise ApiError(403, "forbidden", "this route is for city staff")
            raise ApiError(401, "invalid_token", "the token is unknown or revoked")
        if row.role != "admin" and row.role not in roles:
            raise ApiError(403, "forbidden", f"this route needs one of the roles: {', '.join(('admin', *roles))}")
        return StaffPrincipal(row.id, row.label, row.role)

    return dependency


def current_citizen(request: Request, session: SessionDep) -> Citizen:
    token = _bearer(request)
    row = session.get(CitizenSession, hash_token(token))
    if row is None:
        if token.startswith("staff_"):
            raise ApiError(403, "forbidden", "this route is for citizens")
        raise ApiError(401, "invalid_token", "the session is unknown; sign in again")
    if row.expires_at <= utcnow():
        raise ApiError(401, "session_expired", "the session has expired; sign in again")
    citizen = session.get(Citizen, row.citizen_id)
    if citizen is None:
        raise ApiError(401, "invalid_token", "the session's citizen no longer exists")
    return citizen


CitizenDep = Annotated[Citizen, Depends(current_citizen)]


def rate_limited(bucket: str):  # type: ignore[no-untyped-def]
    def dependency(request: Request, state: StateDep) -> None:
        client = request.client.host if request.client else "unknown"
        state.limiter.check(client, bucket)

    return Depends(dependency)


AdminDep = Annotated[StaffPrincipal, Depends(require_staff("admin"))]
MinterDep = Annotated[StaffPrincipal, Depends(require_staff("minter"))]
IssuerDep = Annotated[StaffPrincipal, Depends(require_staff("issuer"))]
PauserDep = Annotated[StaffPrincipal, Depends(require_staff("pauser"))]
#: Staff who may enrol citizens without a wallet.
EnrollerDep = Annotated[StaffPrincipal, Depends(require_staff("minter", "issuer"))]
#: Any valid staff token, whatever its role (``require_staff()`` alone would admit admins only).
AnyStaffDep = Annotated[StaffPrincipal, Depends(require_staff(*STAFF_ROLES))]
