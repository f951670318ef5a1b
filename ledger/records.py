"""Typed records the ledger takes and returns. Pure data: no chain access here.

Inputs (:class:`ActivityAward`, :class:`SignedVoucher`, :class:`RedemptionConsent`,
:class:`RebindingConsent`) are validated when built. Everything read from the chain is a
:class:`ChainRecord` subclass carrying its :class:`OnChainRef`, decoded in one place
(``ledger._events``) for every reader: history, verification, the indexer, proofs and the audit.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass, field, fields
from typing import Literal

from eth_utils import is_address, is_checksum_address, keccak, to_checksum_address

from .errors import InvalidInput

__all__ = [
    "ROLE_CONTRACTS",
    "ActivityAward",
    "ActivityKindSet",
    "AwardRecorded",
    "AwardReversed",
    "BadgeIssued",
    "BadgeReissued",
    "BadgeRevoked",
    "BadgesMoved",
    "ChainRecord",
    "CitizenRebound",
    "CityEvent",
    "EventCreated",
    "Finality",
    "LimitsChanged",
    "Metrics",
    "OnChainRef",
    "PauseChanged",
    "PointsRedeemed",
    "PointsTransferred",
    "RebindingConsent",
    "RecordsAnchored",
    "RedemptionConsent",
    "Role",
    "RoleChanged",
    "SignedVoucher",
    "TxResult",
    "Venue",
    "checksum",
    "finality",
    "record_from_json",
    "record_to_json",
]

_UINT32 = 2**32 - 1
_UINT64 = 2**64 - 1
_UINT256 = 2**256 - 1
PLOGGING = 0
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"

Finality = Literal["pending", "confirmed", "final"]


def finality(block_number: int | None, final_block: int) -> Finality:
    """The one finality rule: ``pending`` until mined, ``confirmed`` once mined, ``final`` once
    the block is at or below ``final_block`` (the head minus the configured confirmations)."""
    if block_number is None:
        return "pending"
    return "final" if block_number <= final_block else "confirmed"


#: EIP-55 form of 20 address bytes (or their hex): one Keccak hash per address, not per use —
#: a batch's logs and a city's members repeat the same few thousand addresses.
to_checksum = functools.lru_cache(maxsize=1 << 16)(to_checksum_address)


def checksum(address: str, what: str = "address") -> str:
    """``address`` in checksum form, or :class:`InvalidInput` naming ``what``."""
    found = _checked(address) if isinstance(address, str) else None
    if found is None:
        raise InvalidInput(f"{what} {address!r} is not an Ethereum address")
    if not found:
        # Mixed case is an EIP-55 checksum; a wrong one means a mistyped address.
        raise InvalidInput(f"{what} {address!r} fails its EIP-55 checksum: check for a typo")
    return found


@functools.lru_cache(maxsize=1 << 16)
def _checked(address: str) -> str | None:
    """The checksum form; None for no address; "" for a mixed-case text with a wrong checksum."""
    if not is_address(address):
        return None
    digits = address[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(address):
        return ""
    return to_checksum(address)


def _check_range(name: str, value: int, high: int, low: int = 0) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{name} must be an integer from {low} to {high}, got {value!r}")


class Role(enum.Enum):
    """The on-chain roles; :data:`ROLE_CONTRACTS` says which contracts each is granted on."""

    ADMIN = "admin"
    MINTER = "minter"
    ISSUER = "issuer"
    REDEEMER = "redeemer"
    PAUSER = "pauser"
    ANCHOR = "anchor"

    @property
    def role_id(self) -> bytes:
        if self is Role.ADMIN:
            return b"\0" * 32
        return keccak(text=f"{self.name}_ROLE")

    @property
    def contracts(self) -> tuple[str, ...]:
        return ROLE_CONTRACTS[self]

    @classmethod
    def from_id(cls, role_id: bytes) -> Role | None:
        return next((r for r in cls if r.role_id == role_id), None)


#: Which contracts (by deployment name) each role is granted on.
ROLE_CONTRACTS: dict[Role, tuple[str, ...]] = {
    Role.ADMIN: ("points", "badges", "anchors"),
    Role.MINTER: ("points",),
    Role.ISSUER: ("badges",),
    Role.REDEEMER: ("points",),
    Role.PAUSER: ("points", "badges"),
    Role.ANCHOR: ("anchors",),
}


class Venue(enum.IntEnum):
    PHYSICAL = 0
    METAVERSE = 1


@dataclass(frozen=True)
class Metrics:
    """An outing's measurements; packed into 128 bits on-chain (see ICivicPoints.Award)."""

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


class PackedAward:
    """An award as the points contract packs it (``ICivicPoints.Award``), for the award to send
    and the award recorded alike."""

    activity_id: int
    citizen: str
    points: int
    kind: int
    metrics: Metrics

    @property
    def head(self) -> int:
        return (int(self.citizen, 16) << 96) | (self.points << 32)

    @property
    def body(self) -> int:
        return (self.activity_id << 192) | (self.kind << 128) | self.metrics.pack()

    def leaf(self) -> bytes:
        """The award's leaf in its batch's Merkle root (what a reversal proves)."""
        return keccak(self.head.to_bytes(32, "big") + self.body.to_bytes(32, "big"))


@dataclass(frozen=True)
class ActivityAward(PackedAward):
    """One activity to award points for. ``evidence_hash`` commits to off-chain evidence.
    Activity ids must increase across every award the contract takes (see the service's
    allocator); ``activity_id`` is at most 64 bits."""

    activity_id: int
    citizen: str
    points: int
    kind: int = PLOGGING
    metrics: Metrics = field(default_factory=Metrics)
    evidence_hash: bytes = b"\0" * 32

    def __post_init__(self) -> None:
        _check_range("activity_id", self.activity_id, _UINT64, low=1)
        _check_range("points", self.points, _UINT64, low=1)
        _check_range("kind", self.kind, 255)
        object.__setattr__(self, "citizen", checksum(self.citizen, "citizen"))
        if not isinstance(self.evidence_hash, bytes) or len(self.evidence_hash) != 32:
            raise InvalidInput("evidence_hash must be 32 bytes")

    def packed(self) -> tuple[int, int, bytes]:
        """The three calldata words of ``ICivicPoints.Award``."""
        return (self.head, self.body, self.evidence_hash)


@dataclass(frozen=True)
class OnChainRef:
    """Where a record stands on-chain, enough to check it on any node."""

    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int


@dataclass(frozen=True)
class ChainRecord:
    """A record decoded from a contract's logs."""

    ref: OnChainRef


@dataclass(frozen=True)
class AwardRecorded(ChainRecord, PackedAward):
    """Points awarded for one activity (a ``Transfer`` from zero plus ``ActivityRecorded``)."""

    activity_id: int
    citizen: str
    points: int
    kind: int
    metrics: Metrics
    evidence_hash: str


@dataclass(frozen=True)
class AwardReversed(ChainRecord):
    activity_id: int
    citizen: str
    points: int
    reason_code: int


@dataclass(frozen=True)
class PointsRedeemed(ChainRecord):
    citizen: str
    reward_id: int
    points: int
    relayer: str


@dataclass(frozen=True)
class PointsTransferred(ChainRecord):
    """An ERC-20 ``Transfer``: every change of a balance has one (zero address on either end
    for awards, reversals and redemptions; two citizens' addresses for a re-binding)."""

    sender: str
    recipient: str
    points: int


@dataclass(frozen=True)
class CitizenRebound(ChainRecord):
    old: str
    new: str
    reason_code: int


@dataclass(frozen=True)
class BadgesMoved(ChainRecord):
    """The badges a re-binding moved (an ERC-1155 ``TransferBatch``)."""

    old: str
    new: str
    event_ids: tuple[int, ...]


@dataclass(frozen=True)
class BadgeIssued(ChainRecord):
    """A badge minted to ``attendee`` (a ``TransferSingle`` from zero); ``voucher_issuer`` is the
    issuer whose voucher was claimed, or None for a direct issue by ``operator``."""

    event_id: int
    attendee: str
    operator: str
    voucher_issuer: str | None = None


@dataclass(frozen=True)
class BadgeRevoked(ChainRecord):
    event_id: int
    attendee: str
    reason_code: int


@dataclass(frozen=True)
class BadgeReissued(ChainRecord):
    event_id: int
    attendee: str
    reason_code: int


@dataclass(frozen=True)
class EventCreated(ChainRecord):
    event_id: int
    venue: Venue
    claim_start: int
    claim_end: int
    capacity: int
    client_ref: str


@dataclass(frozen=True)
class RoleChanged(ChainRecord):
    """A role granted or revoked on one contract, and by whom."""

    contract_name: str
    role: Role | None
    role_id: str
    account: str
    granted: bool
    by: str


@dataclass(frozen=True)
class LimitsChanged(ChainRecord):
    max_points_per_award: int
    daily_cap: int


@dataclass(frozen=True)
class ActivityKindSet(ChainRecord):
    kind: int
    enabled: bool
    label: str


@dataclass(frozen=True)
class PauseChanged(ChainRecord):
    contract_name: str
    paused: bool
    by: str


@dataclass(frozen=True)
class RecordsAnchored(ChainRecord):
    root: str
    period_start: int
    period_end: int
    records: int


@dataclass(frozen=True)
class TxResult:
    """A mined transaction of the ledger's and the records its logs hold."""

    tx_hash: str
    block_number: int
    gas_used: int
    records: tuple[ChainRecord, ...] = ()


@dataclass(frozen=True)
class CityEvent:
    event_id: int
    venue: Venue
    claim_start: int
    claim_end: int
    capacity: int
    attendees: int


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


@dataclass(frozen=True)
class RebindingConsent:
    """The new key's EIP-712 consent to receive the record of ``old`` (a lost key)."""

    old: str
    new: str
    reason_code: int
    deadline: int
    signature: bytes


# ---------------------------------------------------------------------- storing records

_RECORD_TYPES: dict[str, type[ChainRecord]] = {
    cls.__name__: cls
    for cls in (
        AwardRecorded,
        AwardReversed,
        PointsRedeemed,
        PointsTransferred,
        CitizenRebound,
        BadgesMoved,
        BadgeIssued,
        BadgeRevoked,
        BadgeReissued,
        EventCreated,
        RoleChanged,
        LimitsChanged,
        ActivityKindSet,
        PauseChanged,
        RecordsAnchored,
    )
}


def record_to_json(record: ChainRecord) -> dict[str, object]:
    """A record as plain JSON (for a store): its fields, and ``record`` its type name."""
    data: dict[str, object] = {"record": type(record).__name__}
    for item in fields(record):  # shallow, by hand: dataclasses.asdict deep-copies every value
        value = getattr(record, item.name)
        if isinstance(value, enum.Enum):
            value = value.value
        elif isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, OnChainRef | Metrics):
            value = {f.name: getattr(value, f.name) for f in fields(value)}
        data[item.name] = value
    return data


def record_from_json(data: dict[str, object]) -> ChainRecord:
    """The record :func:`record_to_json` stored."""
    fields = dict(data)
    cls = _RECORD_TYPES[str(fields.pop("record"))]
    ref = fields.pop("ref")
    assert isinstance(ref, dict)
    if "metrics" in fields:
        metrics = fields["metrics"]
        assert isinstance(metrics, dict)
        fields["metrics"] = Metrics(**metrics)
    if cls is EventCreated:
        fields["venue"] = Venue(int(fields["venue"]))  # type: ignore[call-overload]
    if cls is RoleChanged:
        fields["role"] = Role(fields["role"]) if fields["role"] is not None else None
    if cls is BadgesMoved:
        fields["event_ids"] = tuple(fields["event_ids"])  # type: ignore[arg-type]
    return cls(OnChainRef(**ref), **fields)
