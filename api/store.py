"""The off-chain store: what must not go on-chain and what the workflow needs.

SQLite by default, PostgreSQL by URL; the schema is owned by Alembic migrations
(``api/migrations``), applied by :meth:`Store.migrate` at start-up, and a test checks that the
migrations and these models describe the same schema.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

__all__ = [
    "ActivityClaim",
    "AnchorPeriod",
    "AnchoredRecord",
    "AuditEntry",
    "Base",
    "ChainRecordRow",
    "Citizen",
    "CitizenCard",
    "CitizenSession",
    "CitizenState",
    "CityEventRow",
    "ClaimCode",
    "ClaimStatus",
    "EvidenceFile",
    "EvidenceUse",
    "IdAllocator",
    "IdempotencyRecord",
    "IndexedBlock",
    "Intent",
    "IntentStatus",
    "Lease",
    "OutboxRow",
    "RateHit",
    "RedemptionRow",
    "ReviewDecision",
    "Reward",
    "SiweNonce",
    "StaffToken",
    "Store",
    "utcnow",
]


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware datetimes on every backend: SQLite drops the zone, so values are stored
    as UTC and given the zone back when read."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetimes are not stored: give a time zone")
            value = value.astimezone(UTC)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class ClaimStatus(enum.StrEnum):
    HELD = "held"  # waiting for a reviewer
    APPROVED = "approved"  # waiting to be awarded on-chain
    SENDING = "sending"  # in an award transaction not yet settled
    AWARDED = "awarded"
    REJECTED = "rejected"


class IntentStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class Citizen(Base):
    __tablename__ = "citizens"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # pseudonymous id
    #: The citizen's current address (after a re-binding, the new one).
    address: Mapped[str] = mapped_column(String(42), unique=True, index=True)
    custodial: Mapped[bool] = mapped_column(Boolean)
    encrypted_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    encrypted_profile: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Addresses this citizen's record lived at before re-bindings, oldest first, comma separated.
    former_addresses: Mapped[str] = mapped_column(Text, default="")


class CitizenCard(Base):
    """The sign-in card of a citizen without a wallet: a code printed for them, and a PIN only
    they chose when they activated it. Staff can re-issue (a new code; the old one stops) and
    revoke it, never sign in with it."""

    __tablename__ = "citizen_cards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    pin_hash: Mapped[str | None] = mapped_column(String(200))
    activate_by: Mapped[datetime] = mapped_column(UTCDateTime())
    activated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    issued_by: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StaffToken(Base):
    __tablename__ = "staff_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CitizenSession(Base):
    __tablename__ = "citizen_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    #: How the citizen signed in: "wallet" (Sign-In with Ethereum) or "card".
    method: Mapped[str] = mapped_column(String(10), default="wallet")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SiweNonce(Base):
    __tablename__ = "siwe_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class IdAllocator(Base):
    """Counters that hand out ids once (activity ids: they must only increase on-chain)."""

    __tablename__ = "id_allocators"
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    next_value: Mapped[int] = mapped_column(BigInteger)


class ActivityClaim(Base):
    """A citizen's recorded outing, or points staff award directly. ``activity_id`` is its
    on-chain id, given when it is put in an award transaction (ids only increase on-chain)."""

    __tablename__ = "activity_claims"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    activity_id: Mapped[int | None] = mapped_column(BigInteger, unique=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    kind: Mapped[int] = mapped_column(Integer, default=0)
    #: When the outing was (None once the citizen's personal data is erased).
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    distance_meters: Mapped[int] = mapped_column(BigInteger)
    duration_seconds: Mapped[int] = mapped_column(BigInteger)
    steps: Mapped[int] = mapped_column(BigInteger)
    litter_grams: Mapped[int] = mapped_column(BigInteger)
    #: "citizen" for a claimed outing, "staff" for points city staff award directly.
    source: Mapped[str] = mapped_column(String(10), default="citizen")
    note: Mapped[str | None] = mapped_column(Text)
    #: The caller's unique reference for a staff award: a retry finds the award, not a new one.
    reference: Mapped[str | None] = mapped_column(String(100), unique=True)
    photo_hash: Mapped[str | None] = mapped_column(String(66))
    track_hash: Mapped[str | None] = mapped_column(String(66))
    #: Salt of the on-chain evidence commitment; deleted on erasure, so the commitment no longer
    #: links to the evidence.
    evidence_salt: Mapped[str | None] = mapped_column(String(66))
    evidence_commitment: Mapped[str] = mapped_column(String(66))
    points: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[ClaimStatus] = mapped_column(Enum(ClaimStatus, native_enum=False, length=20), index=True)
    hold_reasons: Mapped[str] = mapped_column(Text, default="")
    appeal_note: Mapped[str | None] = mapped_column(Text)
    appealed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Not to be awarded before this time (the on-chain daily cap was reached: tomorrow).
    settle_after: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The award transaction it went out in (the intent that settles it).
    settlement: Mapped[str | None] = mapped_column(String(36), index=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvidenceUse(Base):
    """Each photo or GPS-track hash may back one claim only, whoever submits it."""

    __tablename__ = "evidence_uses"
    evidence_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("activity_claims.id"))


class EvidenceFile(Base):
    """An uploaded photo or track, kept off-chain (its hash backs a claim); erasable."""

    __tablename__ = "evidence_files"
    evidence_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    content_type: Mapped[str] = mapped_column(String(100))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReviewDecision(Base):
    __tablename__ = "review_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("activity_claims.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(120))
    #: "approve", "reject", or "appeal" (the citizen's).
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class CityEventRow(Base):
    __tablename__ = "city_events"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # on-chain event id
    title: Mapped[str] = mapped_column(String(200))
    title_en: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    description_en: Mapped[str | None] = mapped_column(Text)
    venue: Mapped[str] = mapped_column(String(20))
    claim_start: Mapped[int] = mapped_column(BigInteger)
    claim_end: Mapped[int] = mapped_column(BigInteger)
    capacity: Mapped[int] = mapped_column(BigInteger)
    client_ref: Mapped[str] = mapped_column(String(66), unique=True)
    tx_hash: Mapped[str] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ClaimCode(Base):
    """A claim code shown at a venue; only its hash is kept. Kiosk codes are single-use."""

    __tablename__ = "claim_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    single_use: Mapped[bool] = mapped_column(Boolean, default=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    used_by: Mapped[str | None] = mapped_column(String(36))


class Reward(Base):
    __tablename__ = "rewards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    cost: Mapped[int] = mapped_column(BigInteger)
    #: Units left; None means no limit.
    stock: Mapped[int | None] = mapped_column(BigInteger)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class RedemptionRow(Base):
    __tablename__ = "redemptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    intent_id: Mapped[str] = mapped_column(String(36), unique=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("principal", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    principal: Mapped[str] = mapped_column(String(100))
    key: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[str | None] = mapped_column(Text)
    #: The process that runs it; a record left by a process that is gone (or that answered
    #: 5xx) may be run again: the work's intent makes that run find what the first one did.
    owner: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Intent(Base):
    """A piece of chain work, recorded before anything is sent: the unit of exactly-once.

    A retry with the same (principal, key), or a restart, finds the intent and reconciles it
    from the outbox (its transactions are recorded under its id) instead of doing it again."""

    __tablename__ = "intents"
    __table_args__ = (UniqueConstraint("principal", "key"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    principal: Mapped[str | None] = mapped_column(String(100))
    key: Mapped[str | None] = mapped_column(String(200))
    status: Mapped[IntentStatus] = mapped_column(Enum(IntentStatus, native_enum=False, length=10), index=True)
    payload: Mapped[str] = mapped_column(Text)
    #: What the work has done so far (chunks sent, a signed consent): survives a crash.
    progress: Mapped[str] = mapped_column(Text, default="{}")
    result: Mapped[str | None] = mapped_column(Text)
    error_kind: Mapped[str | None] = mapped_column(String(20))
    error_code: Mapped[str | None] = mapped_column(String(60))
    error_message: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Lease(Base):
    """Who does a one-at-a-time job (the chain writer for a key, the indexer) until when."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(100), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class RateHit(Base):
    """Requests per client, bucket and minute, shared by every API process."""

    __tablename__ = "rate_hits"
    client: Mapped[str] = mapped_column(String(100), primary_key=True)
    bucket: Mapped[str] = mapped_column(String(40), primary_key=True)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)


class OutboxRow(Base):
    """A signed transaction, recorded before it is broadcast (see ledger's Outbox)."""

    __tablename__ = "outbox"
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    sender: Mapped[str] = mapped_column(String(42), index=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    intent: Mapped[str | None] = mapped_column(String(60), index=True)
    seq: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IndexedBlock(Base):
    """Hashes of recently indexed blocks: how the indexer notices a reorganisation."""

    __tablename__ = "indexed_blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))


class ChainRecordRow(Base):
    """One typed chain record, as the indexer decoded it (``ledger.records``); ``data`` holds
    the record itself, the other columns what queries select on."""

    __tablename__ = "chain_records"
    __table_args__ = (
        UniqueConstraint("tx_hash", "log_index"),
        Index("ix_chain_records_subject_order", "subject", "block_number", "log_index"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(40), index=True)
    #: The citizen or attendee the record is about (None for programme-wide records).
    subject: Mapped[str | None] = mapped_column(String(42))
    activity_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    event_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    #: The record's effect on ``subject``'s balance.
    points_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    #: The account that sent the record's transaction.
    sender: Mapped[str | None] = mapped_column(String(42))
    data: Mapped[str] = mapped_column(Text)


class CitizenState(Base):
    """A citizen's balance and badges as the contracts held them at ``block_number``: read by
    the indexer once per change, so that verification compares records with contract state
    without a chain call per request."""

    __tablename__ = "citizen_states"
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    balance: Mapped[int] = mapped_column(BigInteger)
    #: Event ids whose badge the contract says the citizen holds, as a JSON list.
    badges: Mapped[str] = mapped_column(Text)
    block_number: Mapped[int] = mapped_column(BigInteger)


class AuditEntry(Base):
    """What staff and citizens did that others must be able to trace (key exports, card
    re-issues, re-bindings, role changes)."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60))
    subject: Mapped[str] = mapped_column(String(120))
    details: Mapped[str] = mapped_column(Text, default="")


class AnchorPeriod(Base):
    """A period of off-chain records whose Merkle root was anchored on-chain."""

    __tablename__ = "anchor_periods"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_start: Mapped[datetime] = mapped_column(UTCDateTime())
    period_end: Mapped[datetime] = mapped_column(UTCDateTime())
    root: Mapped[str] = mapped_column(String(66), unique=True)
    records: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    anchored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AnchoredRecord(Base):
    """One leaf of an anchored period: which off-chain record, and its leaf hash."""

    __tablename__ = "anchored_records"
    __table_args__ = (UniqueConstraint("record_type", "record_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    period_id: Mapped[int] = mapped_column(ForeignKey("anchor_periods.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    record_type: Mapped[str] = mapped_column(String(20))
    record_id: Mapped[int] = mapped_column(BigInteger)
    leaf: Mapped[str] = mapped_column(String(66))


_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Store:
    """The database engine and sessions.

    Sessions are short: services open one, read or write, and close it before any chain work,
    so no pooled connection is held while a transaction is signed or mined.
    """

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.sqlite = url.startswith("sqlite")
        # Sessions are short and none is held across chain work, so requests waiting on the
        # chain never drain this pool.
        if self.sqlite:
            self.engine: Engine = create_engine(
                url, connect_args={"check_same_thread": False, "timeout": 30}, pool_size=10, max_overflow=40
            )
            event.listen(self.engine, "connect", _sqlite_pragmas)
        else:
            self.engine = create_engine(url, pool_size=10, max_overflow=40, pool_pre_ping=True)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Brings the schema to the newest migration."""
        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
    # WAL with synchronous=FULL: a committed row survives a crash of the process or the machine.
    # busy_timeout: a writer waits for another instead of failing at once.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
