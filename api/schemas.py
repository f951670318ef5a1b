"""Request and response bodies. Requests forbid unknown fields (422)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
Hash32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
UInt32 = Annotated[StrictInt, Field(ge=0, le=2**32 - 1)]
#: Ids kept in the database: a signed 64-bit integer.
DbId = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
StaffRole = Literal["admin", "minter", "issuer", "redeemer", "pauser"]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class OnChainRefPublic(BaseModel):
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    log_index: int
    #: "confirmed" once mined; "final" once the configured confirmations follow it.
    finality: Literal["confirmed", "final"] = "confirmed"


# ---------------------------------------------------------------- auth and citizens


class SiweNonceResponse(BaseModel):
    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_id: int


class SiweVerify(Request):
    message: Annotated[str, StringConstraints(max_length=2_000)]
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]


class SessionPublic(BaseModel):
    token: str
    citizen_id: str
    address: str
    expires_at: datetime


class StaffTokenCreate(Request):
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    role: StaffRole


class StaffTokenPublic(BaseModel):
    id: int
    label: str
    role: str
    token: str | None = None


class CitizenCreate(Request):
    """Personal data is optional, encrypted at rest, and never sent to the chain."""

    display_name: Annotated[str, StringConstraints(max_length=100)] | None = None
    email: Annotated[str, StringConstraints(max_length=200)] | None = None
    phone: Annotated[str, StringConstraints(max_length=40)] | None = None


class CitizenPublic(BaseModel):
    citizen_id: str
    address: str
    custodial: bool
    display_name: str | None = None
    email: str | None = None
    phone: str | None = None
    erased: bool = False


class CustodialCitizenCreated(CitizenPublic):
    session_token: str


class KeyExport(BaseModel):
    address: str
    private_key: str


# ---------------------------------------------------------------- activity claims


class ClaimCreate(Request):
    started_at: datetime
    ended_at: datetime
    distance_meters: UInt32
    duration_seconds: UInt32
    steps: UInt32
    litter_grams: UInt32
    photo_hash: Hash32
    track_hash: Hash32


class StaffAwardCreate(Request):
    """Points city staff award directly (e.g. credited volunteer hours), one transaction each."""

    citizen: Annotated[str, StringConstraints(min_length=1, max_length=64)]  # address or citizen id
    points: Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
    kind: Annotated[StrictInt, Field(ge=0, le=255)] = 0
    reference: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    note: Annotated[str, StringConstraints(max_length=500)] | None = None
    evidence_hash: Hash32 | None = None


class ActivityKindSet(Request):
    kind: Annotated[StrictInt, Field(ge=0, le=255)]
    label: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    enabled: bool


class ClaimPublic(BaseModel):
    activity_id: int
    citizen_id: str
    status: str
    points: int
    mission_completed: bool
    hold_reasons: list[str]
    started_at: datetime
    ended_at: datetime
    tx_hash: str | None
    block_number: int | None
    #: On-chain state of the award: "pending" until mined, then "confirmed", then "final".
    finality: Literal["pending", "confirmed", "final"] = "pending"


class ReviewCreate(Request):
    decision: Literal["approve", "reject"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class ReviewPublic(BaseModel):
    reviewer: str
    decision: str
    reason: str
    decided_at: datetime


class ClaimWithReviews(ClaimPublic):
    reviews: list[ReviewPublic]


class FlushResult(BaseModel):
    awarded: int
    transactions: list[str]


# ---------------------------------------------------------------- events and badges


class EventCreate(Request):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    venue: Literal["physical", "metaverse"]
    claim_start: Annotated[int, Field(ge=0, le=2**63 - 1)]
    claim_end: Annotated[int, Field(ge=0, le=2**63 - 1)]
    capacity: UInt32 = 0
    uri: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class EventPublic(BaseModel):
    event_id: int
    title: str
    venue: str
    claim_start: int
    claim_end: int
    capacity: int
    attendees: int
    uri: str


class BadgeIssue(Request):
    """Attendees as addresses or citizen ids."""

    attendees: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(min_length=1, max_length=5_000)]


class BadgeIssueResult(BaseModel):
    event_id: int
    issued: int
    transactions: list[str]


class BadgeRevoke(Request):
    reason_code: Annotated[int, Field(ge=0, le=65_535)]


class ClaimCodePublic(BaseModel):
    event_id: int
    code: str
    expires_at: datetime
    claim_url: str


class BadgeClaim(Request):
    code: Annotated[str, StringConstraints(min_length=16, max_length=100)]


class BadgePublic(BaseModel):
    event_id: int
    attendee: str
    ref: OnChainRefPublic


# ---------------------------------------------------------------- rewards and redemption


class RewardCreate(Request):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    cost: Annotated[int, Field(ge=1, le=2**63 - 1)]


class RewardPublic(BaseModel):
    reward_id: int
    title: str
    cost: int


class RedemptionCreate(Request):
    reward_id: DbId
    #: For citizens with their own wallet: the EIP-712 consent from GET /v1/redemptions/consent.
    deadline: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    signature: Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")] | None = None


class RedemptionPublic(BaseModel):
    reward_id: int
    points: int
    tx_hash: str
    balance: int


class ConsentRequest(BaseModel):
    typed_data: dict[str, object]
    deadline: int


class Reverse(Request):
    reason_code: Annotated[int, Field(ge=0, le=65_535)]


class RoleChange(Request):
    role: StaffRole
    address: Address
    grant: bool


# ---------------------------------------------------------------- verification


class ActivityVerified(BaseModel):
    activity_id: int
    citizen: str
    points: int
    kind: int
    distance_meters: int
    duration_seconds: int
    litter_grams: int
    steps: int
    evidence_commitment: str
    ref: OnChainRefPublic
    reversed: bool
    reversal_ref: OnChainRefPublic | None = None


class CitizenVerified(BaseModel):
    address: str
    chain_id: int
    points_contract: str
    badges_contract: str
    balance: int
    rebuilt_balance: int
    consistent: bool
    activities: list[ActivityVerified]
    badges: list[BadgePublic]


class BadgeVerified(BaseModel):
    event_id: int
    attendee: str
    holds_badge: bool
    ref: OnChainRefPublic | None
