"""The off-chain store: what must not go on-chain and what the workflow needs.

SQLite by default, PostgreSQL by URL; the schema is owned by Alembic migrations
(``api/migrations``), applied by :func:`migrate` at start-up.
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
    DateTime,
    Enum,
    ForeignKey,
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
    "Base",
    "ChainEvent",
    "Citizen",
    "CitizenSession",
    "CityEventRow",
    "ClaimCode",
    "ClaimStatus",
    "EvidenceUse",
    "IdempotencyRecord",
    "IndexedBlock",
    "OutboxRow",
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
    AWARDED = "awarded"
    REJECTED = "rejected"


class Citizen(Base):
    __tablename__ = "citizens"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # pseudonymous id
    address: Mapped[str] = mapped_column(String(42), unique=True, index=True)
    custodial: Mapped[bool]
    encrypted_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    encrypted_profile: Mapped[bytes | None] = mapped_column(LargeBinary)
    key_exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class StaffToken(Base):
    __tablename__ = "staff_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    label: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CitizenSession(Base):
    __tablename__ = "citizen_sessions"
    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class SiweNonce(Base):
    __tablename__ = "siwe_nonces"
    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class ActivityClaim(Base):
    """A citizen's recorded outing. Its id is the on-chain activity id (dense ids share gas)."""

    __tablename__ = "activity_claims"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    kind: Mapped[int] = mapped_column(Integer, default=0)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime] = mapped_column(UTCDateTime())
    distance_meters: Mapped[int] = mapped_column(Integer)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    steps: Mapped[int] = mapped_column(Integer)
    litter_grams: Mapped[int] = mapped_column(Integer)
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
    points: Mapped[int] = mapped_column(Integer)
    status: Mapped[ClaimStatus] = mapped_column(Enum(ClaimStatus, native_enum=False, length=20), index=True)
    hold_reasons: Mapped[str] = mapped_column(Text, default="")
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class EvidenceUse(Base):
    """Each photo or GPS-track hash may back one claim only, whoever submits it."""

    __tablename__ = "evidence_uses"
    evidence_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("activity_claims.id"))


class ReviewDecision(Base):
    __tablename__ = "review_decisions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("activity_claims.id"), index=True)
    reviewer: Mapped[str] = mapped_column(String(100))
    decision: Mapped[str] = mapped_column(String(20))
    reason: Mapped[str] = mapped_column(Text)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class CityEventRow(Base):
    __tablename__ = "city_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)  # on-chain event id
    title: Mapped[str] = mapped_column(String(200))
    venue: Mapped[str] = mapped_column(String(20))
    claim_start: Mapped[int] = mapped_column(BigInteger)
    claim_end: Mapped[int] = mapped_column(BigInteger)
    capacity: Mapped[int] = mapped_column(Integer)
    uri: Mapped[str] = mapped_column(String(500))
    tx_hash: Mapped[str] = mapped_column(String(66))


class ClaimCode(Base):
    """A short-lived QR claim code shown at a venue; only its hash is kept."""

    __tablename__ = "claim_codes"
    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("city_events.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())


class Reward(Base):
    __tablename__ = "rewards"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    cost: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(default=True)


class RedemptionRow(Base):
    __tablename__ = "redemptions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    citizen_id: Mapped[str] = mapped_column(ForeignKey("citizens.id"), index=True)
    reward_id: Mapped[int] = mapped_column(ForeignKey("rewards.id"))
    points: Mapped[int] = mapped_column(Integer)
    tx_hash: Mapped[str] = mapped_column(String(66))
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class OutboxRow(Base):
    """A signed transaction, recorded before it is broadcast (see ledger's Outbox)."""

    __tablename__ = "outbox"
    tx_hash: Mapped[str] = mapped_column(String(66), primary_key=True)
    sender: Mapped[str] = mapped_column(String(42), index=True)
    nonce: Mapped[int] = mapped_column(BigInteger)
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    status: Mapped[str] = mapped_column(String(10), index=True)
    block_number: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class IndexedBlock(Base):
    """Hashes of recently indexed blocks: how the indexer notices a reorganisation."""

    __tablename__ = "indexed_blocks"
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[str] = mapped_column(String(66))


class ChainEvent(Base):
    """One contract event, as the indexer read it from the chain."""

    __tablename__ = "chain_events"
    __table_args__ = (UniqueConstraint("tx_hash", "log_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger, index=True)
    block_hash: Mapped[str] = mapped_column(String(66))
    tx_hash: Mapped[str] = mapped_column(String(66))
    log_index: Mapped[int] = mapped_column(Integer)
    contract: Mapped[str] = mapped_column(String(42))
    name: Mapped[str] = mapped_column(String(40), index=True)
    citizen: Mapped[str | None] = mapped_column(String(42), index=True)
    #: uint256 values kept as decimal text: they may exceed the database's integers.
    activity_id: Mapped[str | None] = mapped_column(String(78), index=True)
    event_id: Mapped[str | None] = mapped_column(String(78), index=True)
    points_delta: Mapped[int] = mapped_column(BigInteger, default=0)
    args: Mapped[str] = mapped_column(Text)


_MIGRATIONS = Path(__file__).resolve().parent / "migrations"


class Store:
    """The database engine and sessions."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.url = url
        self.engine: Engine = create_engine(url, connect_args=_connect_args(url))
        if url.startswith("sqlite"):
            event.listen(self.engine, "connect", _sqlite_pragmas)
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


def _connect_args(url: str) -> dict[str, object]:
    return {"check_same_thread": False, "timeout": 30} if url.startswith("sqlite") else {}


def _sqlite_pragmas(dbapi_connection, _record):  # type: ignore[no-untyped-def]
    # WAL with synchronous=FULL: a committed row survives a crash of the process or the machine.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()
