"""API test fixtures: the real app over a fresh embedded chain and a fresh SQLite store."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.deps import AppState
from api.outbox import SqlOutbox
from api.ratelimit import RateLimiter
from api.security import Cipher, hash_token, new_token
from api.settings import ApiSettings
from api.store import StaffToken, Store
from ledger import Ledger, LedgerSettings, connect, embedded_funder


@dataclass
class Api:
    """The test client plus the state behind it, and helpers that act as staff or citizens."""

    client: TestClient
    state: AppState
    ledger: Ledger

    def staff(self, role: str = "admin", label: str | None = None) -> dict[str, str]:
        token = new_token("staff")
        with self.state.store.session() as session:
            session.add(StaffToken(label=label or f"{role}-tester", role=role, token_hash=hash_token(token)))
            session.commit()
        return {"Authorization": f"Bearer {token}"}

    def custodial_citizen(self, **profile: str) -> tuple[dict[str, str], dict]:
        response = self.client.post("/v1/citizens", json=profile, headers=self.staff("minter"))
        assert response.status_code == 201, response.text
        body = response.json()
        return {"Authorization": f"Bearer {body['session_token']}"}, body

    def siwe_message(self, account: LocalAccount, nonce: str, **overrides: object) -> str:
        settings = self.state.settings
        issued = datetime.now(UTC)
        fields = {
            "domain": settings.siwe_domain,
            "uri": settings.siwe_uri,
            "chain_id": self.ledger.deployment.chain_id,
            "issued_at": issued.isoformat().replace("+00:00", "Z"),
            "expiration_time": (issued + timedelta(minutes=5)).isoformat().replace("+00:00", "Z"),
            "address": account.address,
        } | overrides
        return (
            f"{fields['domain']} wants you to sign in with your Ethereum account:\n{fields['address']}\n\n"
            f"Sign in to the city's civic ledger.\n\nURI: {fields['uri']}\nVersion: 1\n"
            f"Chain ID: {fields['chain_id']}\nNonce: {nonce}\nIssued At: {fields['issued_at']}\n"
            f"Expiration Time: {fields['expiration_time']}"
        )

    def wallet_citizen(self) -> tuple[dict[str, str], LocalAccount]:
        account: LocalAccount = Account.create()
        nonce = self.client.post("/v1/auth/siwe/nonce").json()["nonce"]
        message = self.siwe_message(account, nonce)
        signature = account.sign_message(encode_defunct(text=message)).signature.to_0x_hex()
        response = self.client.post("/v1/auth/siwe/verify", json={"message": message, "signature": signature})
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['token']}"}, account


def outing(minutes_ago: int = 120, **overrides: object) -> dict[str, object]:
    """A plausible plogging outing: 5 km in an hour, 6,500 steps, 150 g of litter."""
    end = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    body: dict[str, object] = {
        "started_at": (end - timedelta(hours=1)).isoformat(),
        "ended_at": end.isoformat(),
        "distance_meters": 5_000,
        "duration_seconds": 3_600,
        "steps": 6_500,
        "litter_grams": 150,
        "photo_hash": "0x" + secrets.token_hex(32),
        "track_hash": "0x" + secrets.token_hex(32),
    }
    body.update(overrides)
    return body


@pytest.fixture
def api(tmp_path) -> Iterator[Api]:
    settings = ApiSettings(
        database_url=f"sqlite:///{tmp_path}/civic.db",
        data_key=SecretStr(Fernet.generate_key().decode()),
        rate_limit_per_minute=1_000,
    )
    w3 = connect(LedgerSettings(rpc_url=None, embedded_dir=None))
    city = embedded_funder(w3)
    assert city is not None
    store = Store(settings.database_url)
    store.migrate()
    ledger = Ledger.deploy(
        w3, city, max_points_per_award=500, daily_cap=settings.daily_points_cap, outbox=SqlOutbox(store)
    )
    state = AppState(
        settings,
        store,
        ledger,
        Cipher(settings.data_key.get_secret_value()),
        RateLimiter(settings.rate_limit_per_minute),
    )
    with TestClient(create_app(state, award_interval=0)) as client:
        yield Api(client, state, ledger)
