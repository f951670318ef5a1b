"""The services' one exception tree, and the one mapping of ledger errors onto it.

Services know no HTTP: they raise :class:`ServiceError` subclasses naming what kind of failure it
is (not found, conflict, ...) with a stable ``code`` and a message for people. ``api.errors``
maps each kind to a status code once. Ledger errors are classified here (:func:`classify`), so a
service that lets a ledger error through, or an intent that stores one, answers the same way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ledger import errors as ledger_errors

__all__ = [
    "Conflict",
    "ErrorKind",
    "Failure",
    "Forbidden",
    "Gone",
    "Invalid",
    "NotFound",
    "RateLimited",
    "ServiceError",
    "Unauthenticated",
    "Unavailable",
    "classify",
]


class ErrorKind(StrEnum):
    INVALID = "invalid"
    UNAUTHENTICATED = "unauthenticated"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    GONE = "gone"
    RATE_LIMITED = "rate_limited"
    UNAVAILABLE = "unavailable"
    INTERNAL = "internal"


class ServiceError(Exception):
    """A failure a caller can act on: ``kind`` says which, ``code`` is stable snake_case."""

    kind = ErrorKind.INTERNAL

    def __init__(self, code: str, message: str, *, retry_after: int | None = None, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after
        self.details = details


class Invalid(ServiceError):
    kind = ErrorKind.INVALID


class Unauthenticated(ServiceError):
    kind = ErrorKind.UNAUTHENTICATED


class Forbidden(ServiceError):
    kind = ErrorKind.FORBIDDEN


class NotFound(ServiceError):
    kind = ErrorKind.NOT_FOUND


class Conflict(ServiceError):
    kind = ErrorKind.CONFLICT


class Gone(ServiceError):
    kind = ErrorKind.GONE


class RateLimited(ServiceError):
    kind = ErrorKind.RATE_LIMITED


class Unavailable(ServiceError):
    kind = ErrorKind.UNAVAILABLE


@dataclass(frozen=True)
class Failure:
    """A failure as stored with an intent, and as answered."""

    kind: ErrorKind
    code: str
    message: str

    def error(self) -> ServiceError:
        cls = next(c for c in _KINDS if c.kind == self.kind) if self.kind != ErrorKind.INTERNAL else ServiceError
        return cls(self.code, self.message)


_KINDS = (Invalid, Unauthenticated, Forbidden, NotFound, Conflict, Gone, RateLimited, Unavailable)

_REVERT_KIND: dict[type[ledger_errors.ContractRevert], ErrorKind] = {
    ledger_errors.AlreadyHasBadge: ErrorKind.CONFLICT,
    ledger_errors.BadgeWasRevoked: ErrorKind.CONFLICT,
    ledger_errors.BadgeNotRevoked: ErrorKind.CONFLICT,
    ledger_errors.VoucherAlreadyUsed: ErrorKind.CONFLICT,
    ledger_errors.ActivityAlreadyReversed: ErrorKind.CONFLICT,
    ledger_errors.ActivityIdNotIncreasing: ErrorKind.CONFLICT,
    ledger_errors.InsufficientPoints: ErrorKind.CONFLICT,
    ledger_errors.EventFull: ErrorKind.CONFLICT,
    ledger_errors.ClaimWindowClosed: ErrorKind.CONFLICT,
    ledger_errors.EventAlreadyCreated: ErrorKind.CONFLICT,
    ledger_errors.InvalidRebinding: ErrorKind.CONFLICT,
    ledger_errors.RebindTargetHoldsBadges: ErrorKind.CONFLICT,
    ledger_errors.AlreadyAnchored: ErrorKind.CONFLICT,
    ledger_errors.VoucherExpired: ErrorKind.GONE,
    ledger_errors.ConsentExpired: ErrorKind.GONE,
    ledger_errors.UnknownEvent: ErrorKind.NOT_FOUND,
    ledger_errors.NoBadge: ErrorKind.NOT_FOUND,
    ledger_errors.AwardNotFound: ErrorKind.NOT_FOUND,
    ledger_errors.LedgerPaused: ErrorKind.UNAVAILABLE,
    # The city's own key lacks a role: an operator must fix it.
    ledger_errors.NotAuthorized: ErrorKind.UNAVAILABLE,
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def classify(exc: BaseException) -> Failure:
    """The failure a caller sees for ``exc`` (a service error, or a ledger error)."""
    if isinstance(exc, ServiceError):
        return Failure(exc.kind, exc.code, exc.message)
    if isinstance(exc, ledger_errors.ContractRevert):
        # The code comes from the ledger's class, not the Solidity name it was decoded from:
        # OpenZeppelin's EnforcedPause is LedgerPaused, so the code is ledger_paused. A revert
        # no class knows keeps its own name.
        known = type(exc) is not ledger_errors.ContractRevert
        code = _snake(type(exc).__name__ if known else exc.name)
        return Failure(_REVERT_KIND.get(type(exc), ErrorKind.INVALID), code, str(exc))
    if isinstance(exc, ledger_errors.InvalidInput):
        return Failure(ErrorKind.INVALID, "invalid_input", str(exc))
    if isinstance(exc, ledger_errors.ChainUnavailable):
        return Failure(
            ErrorKind.UNAVAILABLE, "chain_unavailable", "the blockchain node is unavailable; try again shortly"
        )
    if isinstance(exc, ledger_errors.AccessDenied):
        return Failure(ErrorKind.UNAVAILABLE, "city_key_lacks_role", str(exc))
    if isinstance(exc, ledger_errors.LedgerError):
        return Failure(ErrorKind.INTERNAL, "ledger_error", str(exc))
    return Failure(ErrorKind.INTERNAL, "internal_error", "an unexpected error occurred")
