"""Starting the service: the chain, the store, and (on the embedded chain) the demo seed."""

from __future__ import annotations

import json
import logging
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from pydantic import SecretStr

from ledger import Ledger, LedgerSettings, connect, embedded_funder, load_signer
from ledger.demo import seed_demo_club
from ledger.deployment import Deployment

from .deps import AppState
from .ratelimit import RateLimiter
from .security import Cipher, hash_token, new_token
from .settings import ApiSettings
from .store import Citizen, CitizenSession, CityEventRow, Reward, StaffToken, Store, utcnow

__all__ = ["Bootstrap", "build_state"]

log = logging.getLogger("civic.api")

EMBEDDED_DIR = Path("var/embedded")


@dataclass
class Bootstrap:
    state: AppState
    admin_token: str | None = None
    citizen_token: str | None = None
    citizen_address: str | None = None


def build_state(ledger_settings: LedgerSettings, *, seed_demo: bool = True) -> Bootstrap:
    """Connects to the chain and the store. On the embedded chain (which lives in this process)
    a fresh deployment and store are made and seeded with the demo club."""
    if ledger_settings.embedded:
        return _embedded(seed_demo)
    settings = ApiSettings()  # type: ignore[call-arg]  # CIVIC_DATA_KEY is required here
    w3 = connect(ledger_settings)
    ledger = Ledger(
        w3,
        Deployment.load(ledger_settings.deployment_path),
        load_signer(ledger_settings),
        gas_strategy=ledger_settings.gas_strategy,
    )
    store = Store(settings.database_url)
    store.migrate()
    state = AppState(
        settings,
        store,
        ledger,
        Cipher(settings.data_key.get_secret_value()),
        RateLimiter(settings.rate_limit_per_minute),
    )
    return Bootstrap(state)


def _embedded(seed_demo: bool) -> Bootstrap:
    # The embedded chain starts empty each time, so its store must too, or the two disagree.
    shutil.rmtree(EMBEDDED_DIR, ignore_errors=True)
    EMBEDDED_DIR.mkdir(parents=True)
    settings = ApiSettings(  # type: ignore[call-arg]
        database_url=f"sqlite:///{EMBEDDED_DIR}/civic.db", data_key=SecretStr(Fernet.generate_key().decode())
    )
    w3 = connect(LedgerSettings(rpc_url=None))
    city = embedded_funder(w3)
    assert city is not None
    ledger = Ledger.deploy(w3, city, max_points_per_award=500, daily_cap=settings.daily_points_cap)
    store = Store(settings.database_url)
    store.migrate()
    state = AppState(
        settings,
        store,
        ledger,
        Cipher(settings.data_key.get_secret_value()),
        RateLimiter(settings.rate_limit_per_minute),
    )
    boot = Bootstrap(state)
    boot.admin_token = new_token("staff")
    with store.session() as session:
        session.add(StaffToken(label="demo admin", role="admin", token_hash=hash_token(boot.admin_token)))
        session.add_all([Reward(title="Reusable tumbler", cost=60), Reward(title="Bus day pass", cost=150)])
        if seed_demo:
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
                            expires_at=utcnow().replace(year=utcnow().year + 1),
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
        session.commit()
    return boot
