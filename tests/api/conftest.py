"""API test fixtures: the real app (with its chain writer and indexer threads) over one embedded
chain deployed per session and reverted after each test, and a fresh store per test.

With ``CIVIC_TEST_DATABASES=sqlite,postgresql`` every test runs on both stores (a throwaway
PostgreSQL server for the session, a database of its own per test).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from eth_account import Account
from eth_account.messages import encode_defunct
from eth_account.signers.local import LocalAccount
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app
from api.outbox import SqlOutbox
from api.services import auth
from api.services.context import Context
from api.services.security import Cipher
from api.settings import ApiSettings
from api.store import Store
from ledger import Deployment, Ledger
from tests.conftest import TestChain, eth_tester_chain
from tests.helpers import outing

__all__ = ["Api", "outing"]

PIN = "246810"


@dataclass
class Api:
    """The test client plus the context behind it, and helpers that act as staff or citizens."""

    client: TestClient
    ctx: Context
    test_chain: TestChain

    @property
    def ledger(self) -> Ledger:
        return self.ctx.ledger

    def staff(self, role: str = "admin", label: str | None = None) -> dict[str, str]:
        _, token = auth.create_staff_token(self.ctx, label or f"{role}-tester", role, "test")
        return {"Authorization": f"Bearer {token}"}

    def custodial_citizen(self, **profile: str) -> tuple[dict[str, str], dict[str, Any]]:
        """A citizen enrolled by staff who activated their card with :data:`PIN`."""
        response = self.client.post("/v1/citizens", json=profile, headers=self.staff("minter"))
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        signed_in = self.client.post("/v1/auth/card/activate", json={"code": body["card"]["code"], "pin": PIN})
        assert signed_in.status_code == 200, signed_in.text
        return {"Authorization": f"Bearer {signed_in.json()['token']}"}, body

    def siwe_message(self, account: LocalAccount, nonce: str, **overrides: object) -> str:
        settings = self.ctx.settings
        issued = datetime.now(UTC)
        fields = {
            "domain": settings.siwe_domain,
            "uri": settings.public_base_url,
            "chain_id": self.ledger.chain_id,
            "issued_at": issued.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "expiration_time": (issued + timedelta(minutes=5))
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
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

    def settle(self) -> dict[str, Any]:
        """Awards every approved claim now (POST /v1/awards/flush as a minter)."""
        response = self.client.post("/v1/awards/flush", headers=self.staff("minter"))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def award(self, headers: dict[str, str], **overrides: object) -> dict[str, Any]:
        """A claim recorded and settled: the awarded claim."""
        claim = self.client.post("/v1/claims", json=outing(**overrides), headers=headers)
        assert claim.status_code == 201, claim.text
        self.settle()
        body: dict[str, Any] = self.client.get(f"/v1/claims/{claim.json()['claim_id']}", headers=headers).json()
        assert body["status"] == "awarded", body
        return body


@dataclass
class _Deployed:
    test_chain: TestChain
    deployment: Deployment
    city: LocalAccount


@pytest.fixture(scope="session")
def api_chain() -> _Deployed:
    test_chain = eth_tester_chain()
    city = test_chain.funder
    ledger = Ledger.deploy(
        test_chain.chain, city, max_points_per_award=500, daily_cap=3_000, metadata_base_url="http://testserver"
    )
    return _Deployed(test_chain, ledger.deployment, city)


#: The stores the API tests run on: ``CIVIC_TEST_DATABASES`` (comma separated; ``scripts/test`` sets
#: ``sqlite,postgresql`` where PostgreSQL's server binaries are installed).
DATABASES = [d.strip() for d in os.environ.get("CIVIC_TEST_DATABASES", "sqlite").split(",") if d.strip()]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Any]:
    """One throwaway PostgreSQL server for the session (a database per test)."""
    from devtools.postgres import PostgresServer

    with PostgresServer() as server:
        yield server


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty store for one test: a SQLite file, or a database of its own on PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/civic.db"
        return
    with _postgres_database(request.getfixturevalue("postgres_server")) as url:
        yield url


@contextmanager
def _postgres_database(server: Any) -> Iterator[str]:
    """A database of its own on the session's PostgreSQL server, dropped after."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    admin = server.admin_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")
    try:
        yield server.url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def _api_factory(api_chain: _Deployed, tmp_path: Any, url: str) -> Iterator[Callable[..., Api]]:
    """Builds apps over ``url`` with settings overrides; the chain goes back where it was after."""
    made: list[tuple[TestClient, Store]] = []
    snapshot = api_chain.test_chain.chain.snapshot()

    def make(**overrides: Any) -> Api:
        defaults: dict[str, Any] = {
            "database_url": url,
            "data_key": SecretStr(Fernet.generate_key().decode()),
            "public_base_url": "http://testserver",
            "rate_limit_per_minute": 1_000,
            "award_interval_seconds": 3_600,
            # Beside the test's files whatever the database (PostgreSQL has no folder of its own).
            "issuer_key_path": tmp_path / "issuer-key.json",
        }
        settings = ApiSettings(**(defaults | overrides))
        store = Store(url)
        store.migrate()
        ledger = Ledger(api_chain.test_chain.chain, api_chain.deployment, api_chain.city, outbox=SqlOutbox(store))
        ctx = Context(settings, store, ledger, Cipher(settings.data_key.get_secret_value()))  # type: ignore[union-attr]
        client = TestClient(create_app(ctx))
        client.__enter__()
        made.append((client, store))
        return Api(client, ctx, api_chain.test_chain)

    try:
        yield make
    finally:
        for client, store in made:
            client.__exit__(None, None, None)
            store.dispose()
        api_chain.test_chain.chain.revert(snapshot)


@pytest.fixture
def make_api(api_chain: _Deployed, tmp_path: Any, database_url: str) -> Iterator[Callable[..., Api]]:
    """Builds the app with settings overrides (one per test)."""
    with _api_factory(api_chain, tmp_path, database_url) as make:
        yield make


@pytest.fixture
def api(make_api: Callable[..., Api]) -> Api:
    return make_api()


@pytest.fixture(scope="module", params=DATABASES)
def module_api(
    request: pytest.FixtureRequest, api_chain: _Deployed, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Api]:
    """One app for a whole module, on each store: for many cases that each must change nothing
    (bad input), where building an app and its world per case would cost minutes."""
    tmp = tmp_path_factory.mktemp("module-api")
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp}/civic.db"
        else:
            url = stack.enter_context(_postgres_database(request.getfixturevalue("postgres_server")))
        make = stack.enter_context(_api_factory(api_chain, tmp, url))
        yield make()
