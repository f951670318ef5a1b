"""Service settings from the environment, prefix ``CIVIC_`` (shared with the ledger's)."""

from __future__ import annotations

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["ApiSettings"]


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVIC_", extra="ignore")

    #: SQLAlchemy URL of the off-chain store: SQLite by default, PostgreSQL by URL.
    database_url: str = "sqlite:///var/civic.db"
    #: Fernet key (urlsafe base64, 32 bytes) encrypting personal data and custodial keys at rest.
    data_key: SecretStr
    #: What Sign-In with Ethereum messages must name (EIP-4361 domain and URI).
    siwe_domain: str = "localhost:8000"
    siwe_uri: str = "http://localhost:8000"
    siwe_nonce_ttl_seconds: int = 600
    session_ttl_seconds: int = 12 * 3600
    #: Approve plausible activity claims without a reviewer.
    auto_approve: bool = True
    #: Fastest plausible plogging pace, km/h: faster claims are held for review.
    max_speed_kmh: float = 12.0
    #: Per-citizen daily cap the service applies before the contract's own.
    daily_points_cap: int = 3_000
    #: Claim codes shown at a venue rotate this often (seconds).
    claim_code_ttl_seconds: int = 60
    #: Requests per minute per client on the claim and sign-in endpoints.
    rate_limit_per_minute: int = 30
    #: Awards per on-chain transaction when approved claims are flushed.
    award_batch_size: int = 200
