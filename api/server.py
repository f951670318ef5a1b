"""Starting the service: the chain, the store, and (on the embedded chain) the demo seed."""

from __future__ import annotations

import json
import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.orm import Session

from ledger import Ledger, LedgerSettings, connect, embedded_funder, load_signer
from ledger.demo import seed_demo_club
from ledger.deployment import Deployment
from ledger.errors import ConfigurationError

from .deps import AppState
from .outbox import SqlOutbox
from .ratelimit import RateLimiter
from .security import Cipher, hash_token, new_token
from .settings import ApiSettings
from .store import Citizen, CitizenSession, CityEventRow, IdempotencyRecord, Reward, StaffToken, Store, utcnow

__all__ = ["Bootstrap", "build_state"]

log = logging.getLogger("civic.api")


@dataclass
class Bootstrap:
    state: AppState
    admin_token: str | None = None
    citizen_token: str | None = None
    citizen_address: str | None = None


def build_state(ledger_settings: LedgerSettings, *, seed_demo: bool = True) -> Bootstrap:
    """Connects to the chain and the store. The embedded chain is kept in ``CIVIC_EMBEDDED_DIR``
    (var/embedded): the first start deploys and seeds the demo club, later starts replay it."""
    if ledger_settings.embedded:
        if ledger_settings.embedded_dir is None:
            raise ConfigurationError("the service needs a durable chain: set CIVIC_EMBEDDED_DIR or CIVIC_RPC_URL")
        return _embedded(ledger_settings, ledger_settings.embedded_dir, seed_demo)
    settings = ApiSettings()  # type: ignore[call-arg]  # CIVIC_DATA_KEY is required here
    store = _store(settings)
    w3 = connect(ledger_settings)
    ledger = Ledger(
        w3,
        Deployment.load(ledger_settings.deployment_file),
        load_signer(ledger_settings),
        gas_strategy=ledger_settings.gas_strategy,
        confirmations=ledger_settings.confirmations,
        outbox=SqlOutbox(store),
    )
    return Bootstrap(_state(settings, store, ledger))


def _store(settings: ApiSettings) -> Store:
    store = Store(settings.database_url)
    store.migrate()
    with store.session() as session:
        # Requests in progress when the last process stopped will never finish: forget their
        # Idempotency-Keys so a retry runs again (every write is safe to run again).
        stale = session.scalars(select(IdempotencyRecord).where(IdempotencyRecord.status_code.is_(None))).all()
        for record in stale:
            session.delete(record)
        if stale:
            log.warning("cleared %d interrupted requests' idempotency keys", len(stale))
        session.commit()
    return store


def _state(settings: ApiSettings, store: Store, ledger: Ledger) -> AppState:
    """The service's state; first re-sends whatever a crash left signed but unsettled."""
    ledger.tx.resume()
    cipher = Cipher(settings.data_key.get_secret_value())
    return AppState(settings, store, ledger, cipher, RateLimiter(settings.rate_limit_per_minute))


def _secret_file(path: Path, make: Callable[[], str]) -> str:
    """A development secret kept beside the embedded chain (owner-readable only)."""
    if not path.exists():
        path.write_text(make())
        path.chmod(0o600)
    return path.read_text().strip()


def _embedded(ledger_settings: LedgerSettings, directory: Path, seed_demo: bool) -> Bootstrap:
    directory.mkdir(parents=True, exist_ok=True)
    defaults: dict[str, object] = {"database_url": f"sqlite:///{directory}/civic.db"}
    if not os.environ.get("CIVIC_DATA_KEY"):
        defaults["data_key"] = SecretStr(_secret_file(directory / "data.key", lambda: Fernet.generate_key().decode()))
    settings = ApiSettings(**defaults)  # type: ignore[arg-type]
    store = _store(settings)
    w3 = connect(ledger_settings)
    city = embedded_funder(w3)
    assert city is not None
    tokens_path = directory / "demo-tokens.json"
    deployment_path = ledger_settings.deployment_file
    if deployment_path.exists():
        ledger = Ledger(w3, Deployment.load(deployment_path), city, outbox=SqlOutbox(store))
        state = _state(settings, store, ledger)
        tokens = json.loads(tokens_path.read_text()) if tokens_path.exists() else {}
        return Bootstrap(state, tokens.get("admin"), tokens.get("citizen"), tokens.get("citizen_address"))

    ledger = Ledger.deploy(
        w3, city, max_points_per_award=500, daily_cap=settings.daily_points_cap, outbox=SqlOutbox(store)
    )
    ledger.deployment.save(deployment_path)
    state = _state(settings, store, ledger)
    admin_token = new_token("staff")
    boot = Bootstrap(state, admin_token=admin_token)
    with state.store.session() as session:
        session.add(StaffToken(label="demo admin", role="admin", token_hash=hash_token(admin_token)))
        session.add_all([Reward(title="Reusable tumbler", cost=60), Reward(title="Bus day pass", cost=150)])
        if seed_demo:
            _seed_demo(state, ledger, boot, session)
        session.commit()
    tokens_path.write_text(
        json.dumps({"admin": boot.admin_token, "citizen": boot.citizen_token, "citizen_address": boot.citizen_address})
    )
    tokens_path.chmod(0o600)
    return boot


def _seed_demo(state: AppState, ledger: Ledger, boot: Bootstrap, session: Session) -> None:
    club = seed_demo_club(ledger, weeks=4)
    for i, member in enumerate(club.members):
        profile = {"display_name": member.nickname, "email": f"{member.pseudonym}@example.org"}
        citizen = Citizen(
            id=str(uuid.uuid4()),
            address=member.address,
            custodial=True,
            encrypted_key=state.cipher.encrypt(member.account.key),
            encrypted_profile=state.cipher.encrypt(json.dumps(profile).encode()),
        )
        session.add(citizen)
        if i == 0:
            boot.citizen_token = new_token("cit")
            boot.citizen_address = member.address
            session.add(
                CitizenSession(
                    token_hash=hash_token(boot.citizen_token),
                    citizen_id=citizen.id,
                    expires_at=utcnow() + timedelta(days=365),
                )
            )
    for title, event_id in club.events.items():
        event = ledger.city_event(event_id)
        session.add(
            CityEventRow(
                id=event_id,
                title=title,
                venue=event.venue.name.lower(),
                claim_start=event.claim_start,
                claim_end=event.claim_end,
                capacity=event.capacity,
                uri=event.uri,
                tx_hash="",
            )
        )
