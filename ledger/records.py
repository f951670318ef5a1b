"""Typed records the ledger takes and returns. Pure data: no web3 here."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Literal

from eth_utils import is_address, is_checksum_address, to_checksum_address

from .errors import InvalidInput

__all__ = [
    "ActivityAward",
    "ActivityRecord",
    "BadgeRecord",
    "CityEvent",
    "HistoryEntry",
    "Metrics",
    "OnChainRef",
    "Redemption",
    "RedemptionConsent",
    "Reversal",
    "Role",
    "SignedVoucher",
    "TxResult",
    "Venue",
    "checksum",
]

_UINT32 = 2**32 - 1
_UINT64 = 2**64 - 1
_UINT256 = 2**256 - 1
PLOGGING = 0


def checksum(address: str, what: str = "address") -> str:
    """``address`` in checksum form, or :class:`InvalidInput` naming ``what``."""
    if not isinstance(address, str) or not is_address(address):
        raise InvalidInput(f"{what} {address!r} is not an Ethereum address")
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(address):
        # Mixed case is an EIP-55 checksum; a wrong one means a mistyped address.
        raise InvalidInput(f"{what} {address!r} fails its EIP-55 checksum: check for a typo")
    return to_checksum_address(address)


def _check_range(name: str, value: int, high: int, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}, got {value!r}")


class Role(enum.Enum):
    """The on-chain roles; ``contracts`` says which contracts each one is granted on."""

    ADMIN = "admin"
    MINTER = "minter"
    ISSUER = "issuer"
    REDEEMER = "redeemer"
    PAUSER = "pauser"

    @property
    def role_id(self) -> bytes:
        from eth_utils import keccak

        if self is Role.ADMIN:
            return b"\0" * 32
        return keccak(text=f"{self.name}_ROLE")

    @property
    def contracts(self) -> tuple[str, ...]:
        return {
            Role.ADMIN: ("points", "badges"),
            Role.MINTER: ("points",),
            Role.ISSUER: ("badges",),
            Role.REDEEMER: ("points",),
            Role.PAUSER: ("points", "badges"),
        }[self]


class Venue(enum.IntEnum):
    PHYSICAL = 0
    METAVERSE = 1


@dataclass(frozen=True)
class Metrics:
    """An outing's measurements; packed into one uint128 on-chain (see ICivicPoints.Activity)."""

    distance_meters: int = 0
    duration_seconds: int = 0
    litter_grams: int = 0
    steps: int = 0

    def __post_init__(self) -> None:
        for name in ("distance_meters", "duration_seconds", "litter_grams", "steps"):
            _check_range(name, getattr(self, name), _UINT32)

    def pack(self) -> int:
        return (self.distance_meters << 96) | (self.duration_seconds << 64) | (self.litter_grams << 32) | self.steps

    @classmethod
    def unpack(cls, packed: int) -> Metrics:
        return cls((packed >> 96) & _UINT32, (packed >> 64) & _UINT32, (packed >> 32) & _UINT32, packed & _UINT32)


@dataclass(frozen=True)
class ActivityAward:
    """One activity to award points for. ``evidence_hash`` commits to off-chain evidence."""

    activity_id: int
    citizen: str
    points: int
    kind: int = PLOGGING
    metrics: Metrics = field(default_factory=Metrics)
    evidence_hash: bytes = b"\0" * 32

    def __post_init__(self) -> None:
        _check_range("activity_id", self.activity_id, _UINT256)
        _check_range("points", self.points, _UINT64, low=1)
        _check_range("kind", self.kind, 255)
        object.__setattr__(self, "citizen", checksum(self.citizen, "citizen"))
        if not isinstance(self.evidence_hash, bytes) or len(self.evidence_hash) != 32:
            raise InvalidInput("evidence_hash must be 32 bytes")

    def as_tuple(self) -> tuple[int, str, int, int, int, bytes]:
        return (self.activity_id, self.citizen, self.points, self.kind, self.metrics.pack(), self.evidence_hash)


@dataclass(frozen=True)
class OnChainRef:
    """Where a record stands on-chain, enough to check it on any node."""

    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    log_index: int


@dataclass(frozen=True)
class TxResult:
    tx_hash: str
    block_number: int
    gas_used: int
    records: int = 1


@dataclass(frozen=True)
class Reversal:
    points: int
    reason_code: int
    ref: OnChainRef


@dataclass(frozen=True)
class ActivityRecord:
    activity_id: int
    citizen: str
    points: int
    kind: int
    metrics: Metrics
    evidence_hash: bytes
    ref: OnChainRef
    reversal: Reversal | None = None


@dataclass(frozen=True)
class Redemption:
    citizen: str
    reward_id: int
    points: int
    relayer: str
    ref: OnChainRef


@dataclass(frozen=True)
class CityEvent:
    event_id: int
    venue: Venue
    claim_start: int
    claim_end: int
    capacity: int
    attendees: int
    uri: str


@dataclass(frozen=True)
class BadgeRecord:
    """A badge a citizen holds: the event and where it was issued."""

    event_id: int
    attendee: str
    ref: OnChainRef


@dataclass(frozen=True)
class HistoryEntry:
    """One on-chain record touching a citizen, in chain order."""

    action: Literal["award", "reversal", "redemption", "badge_issued", "badge_revoked"]
    ref: OnChainRef
    points_delta: int = 0
    activity_id: int | None = None
    event_id: int | None = None
    reward_id: int | None = None
    reason_code: int | None = None


@dataclass(frozen=True)
class SignedVoucher:
    """An issuer's EIP-712 authorisation for ``attendee`` to claim ``event_id``'s badge."""

    event_id: int
    attendee: str
    nonce: int
    deadline: int
    signature: bytes
    issuer: str

    def as_tuple(self) -> tuple[int, str, int, int]:
        return (self.event_id, self.attendee, self.nonce, self.deadline)


@dataclass(frozen=True)
class RedemptionConsent:
    """A citizen's EIP-712 consent to spend ``points`` on ``reward_id``."""

    citizen: str
    points: int
    reward_id: int
    nonce: int
    deadline: int
    signature: bytes
