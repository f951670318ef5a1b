"""Service settings from the environment, prefix ``CIVIC_`` (shared with the ledger's)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from ledger import LedgerSettings

__all__ = ["ApiSettings", "default_database_url"]


def default_database_url(ledger: LedgerSettings) -> str:
    """The one place the store's default location is decided: beside the embedded chain, or
    var/civic.db for a node."""
    if ledger.embedded and ledger.embedded_dir is not None:
        return f"sqlite:///{ledger.embedded_dir}/civic.db"
    return "sqlite:///var/civic.db"


class ApiSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CIVIC_", extra="ignore")

    #: SQLAlchemy URL of the off-chain store: SQLite by default (see default_database_url),
    #: PostgreSQL by URL (postgresql+psycopg://...).
    database_url: str | None = None
    #: Fernet key (urlsafe base64, 32 bytes) encrypting personal data and custodial keys at rest.
    #: Required on a node; on the embedded chain one is generated beside it.
    data_key: SecretStr | None = None
    #: Where people reach the service: claim links, badge metadata, credentials and sign-in
    #: messages are built from it, never from the request's Host.
    public_base_url: str = "http://127.0.0.1:8000"
    #: A block explorer's transaction page, with {tx} (e.g. https://explorer.example/tx/{tx}); empty: none.
    explorer_tx_url: str = ""
    siwe_nonce_ttl_seconds: int = 600
    session_ttl_seconds: int = 12 * 3600
    #: Days a newly issued sign-in card may wait to be activated by its citizen.
    card_activation_days: int = 30
    #: Wrong PINs in a row before a card is locked for 15 minutes.
    card_pin_attempts: int = 5
    #: Approve plausible activity claims without a reviewer.
    auto_approve: bool = True
    #: Fastest plausible plogging pace, km/h: faster claims are held for review.
    max_speed_kmh: float = 12.0
    #: Outings older than this many days are held for review, not approved automatically.
    max_claim_age_days: int = 7
    #: Per-citizen daily cap the service applies before the contract's own (a day in the city's zone).
    daily_points_cap: int = 3_000
    #: Claim codes staff hand out rotate this often (seconds); kiosk codes are single-use and
    #: rotate every ``kiosk_code_ttl_seconds``.
    claim_code_ttl_seconds: int = 60
    kiosk_code_ttl_seconds: int = 15
    #: Requests per minute per client on the claim and sign-in endpoints; and on public reads.
    rate_limit_per_minute: int = 30
    public_rate_limit_per_minute: int = 600
    #: Addresses of reverse proxies whose X-Forwarded-For is believed (comma separated); empty: none.
    trusted_proxies: str = ""
    #: Request bodies above these sizes are refused before they are read: JSON bodies, and CSV
    #: or multipart uploads of attendee lists and evidence.
    max_body_bytes: int = 256 * 1024
    max_upload_bytes: int = 5 * 1024 * 1024
    #: Attendees one CSV issuance may list.
    max_csv_rows: int = 20_000
    #: Awards per on-chain transaction when approved claims are settled, and how often (seconds).
    award_batch_size: int = 200
    award_interval_seconds: float = 2.0
    #: How long a request waits for its chain work before answering 202 (it goes on).
    intent_wait_seconds: float = 25.0
    #: Seconds between anchors of the off-chain records (evidence commitments, review decisions).
    anchor_interval_seconds: float = 3600.0
    #: The city's Open Badges issuer: name, and the file holding its signing key (generated if absent).
    issuer_name: str = "Namyangju City"
    issuer_key_path: Path | None = None

    @property
    def siwe_domain(self) -> str:
        return self.public_base_url.split("://", 1)[-1].split("/", 1)[0]

    def proxies(self) -> set[str]:
        return {p.strip() for p in self.trusted_proxies.split(",") if p.strip()}
