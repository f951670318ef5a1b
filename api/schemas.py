"""Request and response bodies. Requests forbid unknown fields (422); each response schema says
what it holds (a reversal is a ``ReversalPublic``, not a redemption)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    model_validator,
)

Address = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{40}$")]
Hash32 = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{64}$")]
Signature = Annotated[str, StringConstraints(pattern=r"^0x[0-9a-fA-F]{130}$")]
UInt32 = Annotated[StrictInt, Field(ge=0, le=2**32 - 1)]
#: Ids kept in the database: a signed 64-bit integer.
DbId = Annotated[StrictInt, Field(ge=1, le=2**63 - 1)]
ReasonCode = Annotated[int, Field(ge=0, le=65_535)]
StaffRole = Literal["admin", "minter", "issuer", "redeemer", "pauser"]
Finality = Literal["pending", "confirmed", "final"]
#: 9999-12-31T23:59:59Z: times beyond it cannot be shown as dates.
LAST_SECOND = 253_402_300_799


def _text_time(value: Any) -> Any:
    """Only text (or a datetime, from Python callers) is read as an ISO 8601 time: a number is
    Unix seconds (below) and a fraction or a boolean is neither. (Pydantic's strict mode would
    refuse the text too: FastAPI validates the decoded JSON as Python objects.)"""
    if isinstance(value, str | datetime):
        return value
    raise ValueError("expected ISO 8601 text with a time zone")


#: A time as ISO 8601 text with a zone, or whole Unix seconds (not a fraction, not a boolean).
IsoTime = Annotated[AwareDatetime, BeforeValidator(_text_time)]
UnixSeconds = Annotated[StrictInt, Field(ge=0, le=LAST_SECOND)]
#: Outings before this are not plogging-club outings but typing mistakes.
EARLIEST_OUTING = datetime(2000, 1, 1, tzinfo=UTC)


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)


class OnChainRefPublic(BaseModel):
    chain_id: int
    contract: str
    tx_hash: str
    block_number: int
    block_hash: str
    log_index: int
    #: "confirmed" once mined; "final" once the configured confirmations follow it.
    finality: Finality = "confirmed"
    #: The transaction on the configured block explorer, if one is configured.
    explorer_url: str | None = None


class CheckPublic(BaseModel):
    """One verification step: passed, failed, or "unknown" (could not be checked)."""

    name: str
    outcome: Literal["passed", "failed", "unknown"]
    detail: str


class Accepted(BaseModel):
    """The chain work goes on: retry with the same Idempotency-Key, or poll the intent."""

    intent_id: str
    status: str
    poll: str


# ---------------------------------------------------------------- auth and citizens


class SiweNonceResponse(BaseModel):
    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_id: int


class SiweVerify(Request):
    message: Annotated[str, StringConstraints(max_length=2_000)]
    signature: Signature


class CardSignIn(Request):
    code: Annotated[str, StringConstraints(min_length=16, max_length=40)]
    pin: Annotated[str, StringConstraints(min_length=4, max_length=8, pattern=r"^[0-9]+$")]


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
    created_at: datetime | None = None
    last_used_at: datetime | None = None
    revoked: bool = False
    #: Shown once, when the token is created.
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
    former_addresses: list[str] = []


class CardPublic(BaseModel):
    """A sign-in card to print and hand over: the citizen activates it by choosing a PIN."""

    code: str
    activate_by: datetime
    activate_url: str


class CustodialCitizenCreated(CitizenPublic):
    card: CardPublic


class KeyExportRequest(Request):
    #: A fresh confirmation: the PIN of the citizen's sign-in card.
    pin: Annotated[str, StringConstraints(min_length=4, max_length=8, pattern=r"^[0-9]+$")]


class KeyExport(BaseModel):
    address: str
    private_key: str


class RebindingRequest(Request):
    new_address: Address
    reason_code: ReasonCode = 1
    deadline: Annotated[int, Field(ge=0, le=2**63 - 1)]
    signature: Signature


class RebindingPublic(BaseModel):
    citizen_id: str
    old: str
    new: str
    tx_hash: str


# ---------------------------------------------------------------- activity claims


class ClaimCreate(Request):
    started_at: AwareDatetime
    ended_at: AwareDatetime
    distance_meters: UInt32
    duration_seconds: UInt32
    steps: UInt32
    litter_grams: UInt32
    photo_hash: Hash32
    track_hash: Hash32

    @model_validator(mode="after")
    def _plausible_dates(self) -> ClaimCreate:
        for name in ("started_at", "ended_at"):
            if getattr(self, name) < EARLIEST_OUTING:
                raise ValueError(f"{name} must be after {EARLIEST_OUTING:%Y-%m-%d}")
        return self


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


class ActivityKindPublic(BaseModel):
    kind: int
    label: str
    enabled: bool


class ReviewPublic(BaseModel):
    reviewer: str
    decision: str
    reason: str
    decided_at: datetime


class ClaimPublic(BaseModel):
    claim_id: int
    #: The on-chain activity id, given when the claim is put in an award transaction.
    activity_id: int | None
    citizen_id: str
    status: str
    points: int
    mission_completed: bool
    hold_reasons: list[str]
    #: The reviewer's reason for the last decision (a rejection's is what an appeal answers).
    reviewer_reason: str | None = None
    appealed: bool = False
    started_at: datetime | None
    ended_at: datetime | None
    tx_hash: str | None
    block_number: int | None
    #: On-chain state of the award: "pending" until mined, then "confirmed", then "final".
    finality: Finality = "pending"


class ClaimWithReviews(ClaimPublic):
    reviews: list[ReviewPublic]


class ReviewCreate(Request):
    decision: Literal["approve", "reject"]
    reason: Annotated[str, StringConstraints(min_length=1, max_length=500)]


class AppealCreate(Request):
    note: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class SettleResult(BaseModel):
    awarded: int
    transactions: list[str]


# ---------------------------------------------------------------- events and badges


class EventCreate(Request):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    title_en: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    description: Annotated[str, StringConstraints(max_length=2_000)] = ""
    description_en: Annotated[str, StringConstraints(max_length=2_000)] | None = None
    venue: Literal["physical", "metaverse"]
    #: ISO 8601 with a time zone (e.g. 2026-11-26T19:00:00+09:00); Unix seconds are accepted too
    #: (up to the end of year 9999, the last instant a date can be shown).
    claim_start: IsoTime | UnixSeconds
    claim_end: IsoTime | UnixSeconds
    capacity: UInt32 = 0

    @model_validator(mode="after")
    def _window_in_range(self) -> EventCreate:
        """Datetimes too are Unix seconds on-chain: from 1970 to the end of year 9999."""
        for name in ("claim_start", "claim_end"):
            value = getattr(self, name)
            seconds = int(value.timestamp()) if isinstance(value, datetime) else value
            if not 0 <= seconds <= LAST_SECOND:
                raise ValueError(f"{name} must be between 1970-01-01 and 9999-12-31 (UTC)")
        return self


class EventPublic(BaseModel):
    event_id: int
    title: str
    title_en: str | None = None
    description: str = ""
    venue: str
    claim_start: datetime
    claim_end: datetime
    capacity: int
    attendees: int
    #: Whether badges can be claimed now.
    open: bool
    metadata_url: str
    tx_hash: str


class BadgeIssue(Request):
    """Attendees as addresses or citizen ids."""

    attendees: Annotated[list[Annotated[str, StringConstraints(max_length=64)]], Field(min_length=1, max_length=5_000)]


class BadgeIssueResult(BaseModel):
    event_id: int
    issued: int
    transactions: list[str]
    #: Attendees not issued and why: they hold the badge already, or theirs was revoked
    #: (re-issuing a revoked badge is an explicit act).
    skipped: dict[str, list[str]] = {}


class BadgeRevoke(Request):
    reason_code: ReasonCode


class ClaimCodePublic(BaseModel):
    event_id: int
    code: str
    expires_at: datetime
    claim_url: str
    single_use: bool


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
    #: Units available; omitted means no limit.
    stock: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None


class RewardUpdate(Request):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    cost: Annotated[int, Field(ge=1, le=2**63 - 1)] | None = None
    stock: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    unlimited: bool = False
    active: bool | None = None


class RewardPublic(BaseModel):
    reward_id: int
    title: str
    cost: int
    stock: int | None = None
    active: bool = True


class RedemptionCreate(Request):
    reward_id: DbId
    #: For citizens with their own wallet: the EIP-712 consent from GET /v1/redemptions/consent.
    deadline: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    signature: Signature | None = None


class RedemptionPublic(BaseModel):
    reward_id: int
    points: int
    tx_hash: str
    balance: int


class ReversalPublic(BaseModel):
    activity_id: int
    #: The points taken back (negative).
    points: int
    reason_code: int
    tx_hash: str
    balance: int


class ConsentRequest(BaseModel):
    typed_data: dict[str, Any]
    deadline: int


class Reverse(Request):
    reason_code: ReasonCode


class RoleChange(Request):
    role: StaffRole
    address: Address
    grant: bool


# ---------------------------------------------------------------- verification


class StatementLinePublic(BaseModel):
    action: str
    points_delta: int
    address: str
    activity_id: int | None = None
    event_id: int | None = None
    reward_id: int | None = None
    reason_code: int | None = None
    counterpart: str | None = None
    ref: OnChainRefPublic


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
    reversal_reason_code: int | None = None
    verified: bool
    checks: list[CheckPublic]


class CitizenVerified(BaseModel):
    address: str
    addresses: list[str]
    chain_id: int
    points_contract: str
    badges_contract: str
    #: The contract's balance at ``as_of_block``, as the indexer read it (None: not read).
    balance: int | None
    #: What the records listed below add up to.
    rebuilt_balance: int
    consistent: bool
    verified: bool
    as_of_block: int | None
    checks: list[CheckPublic]
    records: list[StatementLinePublic]
    activities: list[ActivityVerified]
    badges: list[BadgePublic]


class BadgeVerified(BaseModel):
    event_id: int
    attendee: str
    holds_badge: bool
    ref: OnChainRefPublic | None
    verified: bool
    checks: list[CheckPublic]


class HealthPublic(BaseModel):
    status: str
    chain_id: int
    block: int
    paused: bool
    indexed_block: int | None
    #: The process holding the chain-writer lease, and the process answering.
    writer: str | None
    process: str
