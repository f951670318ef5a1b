"""System-test fixtures: a real anvil node (state persisted in ``tmp_path``), the contracts
deployed with ``civic deploy``, and the real service run as a subprocess against the node."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from web3 import Web3

from api.security import hash_token, new_token
from api.store import StaffToken, Store
from ledger import Deployment, Ledger, LedgerSettings, connect
from ledger.errors import ConfigurationError
from ledger.node import ANVIL_DEV_KEY, AnvilNode, anvil_binary, free_port


def anvil_available() -> bool:
    try:
        anvil_binary()
    except ConfigurationError:
        return False
    return True


requires_anvil = pytest.mark.skipif(not anvil_available(), reason="anvil not installed (npm ci)")

#: Every client request is bounded: a request the service leaves hanging fails the test.
CLIENT_TIMEOUT = 40.0


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from api.cli import main; main()", *args]


@dataclass
class NodeService:
    """The service (a subprocess) over an anvil node, with an admin staff token."""

    directory: Path
    node: AnvilNode
    admin_token: str
    port: int = field(default_factory=free_port)
    data_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def database(self) -> Path:
        return self.directory / "civic.db"

    @property
    def deployment(self) -> Path:
        return self.directory / "deployment.json"

    @property
    def log(self) -> Path:
        return self.directory / "service.log"

    def env(self) -> dict[str, str]:
        return os.environ | {
            "CIVIC_RPC_URL": self.node.url,
            "CIVIC_PRIVATE_KEY": ANVIL_DEV_KEY,
            "CIVIC_DEPLOYMENT_PATH": str(self.deployment),
            "CIVIC_DATABASE_URL": f"sqlite:///{self.database}",
            "CIVIC_DATA_KEY": self.data_key,
            "CIVIC_RATE_LIMIT_PER_MINUTE": "100000",
        }

    def headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}", **extra}

    def client(self, timeout: float = CLIENT_TIMEOUT) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=timeout)

    def start(self) -> None:
        self.process = subprocess.Popen(
            _cli("serve", "--no-demo", "--port", str(self.port)),
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115 - the child owns it
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited during start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the service did not come up:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def create_citizen(self, client: httpx.Client, name: str) -> str:
        """A custodial citizen (store only, no transaction); returns its address."""
        return str(self.enrol(client, name)["address"])

    def enrol(self, client: httpx.Client, name: str) -> dict[str, Any]:
        """A custodial citizen: its address, citizen id and session token."""
        response = client.post("/v1/citizens", json={"display_name": name}, headers=self.headers())
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def outbox(self) -> dict[str, int]:
        """The service's outbox rows counted by status."""
        db = sqlite3.connect(self.database)
        try:
            return dict(db.execute("SELECT status, count(*) FROM outbox GROUP BY status").fetchall())
        finally:
            db.close()

    def claim_rows(self) -> list[tuple[int, str | None, str, int]]:
        db = sqlite3.connect(self.database)
        try:
            return db.execute("SELECT id, reference, status, points FROM activity_claims ORDER BY id").fetchall()
        finally:
            db.close()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[AnvilNode]:
    """anvil on a free port, its state dumped to ``tmp_path`` (every second and on stop)."""
    anvil = AnvilNode(state_path=tmp_path / "anvil" / "state.json").start()
    try:
        yield anvil
    finally:
        anvil.stop()


@pytest.fixture
def service(tmp_path: Path, node: AnvilNode) -> Iterator[NodeService]:
    """The service started over ``node`` after ``civic deploy`` and with an admin token."""
    directory = tmp_path / "service"
    directory.mkdir()
    svc = NodeService(directory, node, new_token("staff"))
    deployed = subprocess.run(_cli("deploy"), env=svc.env(), capture_output=True, text=True, timeout=60)
    assert deployed.returncode == 0, deployed.stderr
    store = Store(f"sqlite:///{svc.database}")
    store.migrate()
    with store.session() as session:
        session.add(StaffToken(label="system-test admin", role="admin", token_hash=hash_token(svc.admin_token)))
        session.commit()
    store.engine.dispose()
    svc.start()
    try:
        yield svc
    finally:
        svc.stop()


@dataclass
class Chain:
    """The contracts deployed on ``node``, for ledger-level tests."""

    node: AnvilNode
    w3: Web3
    deployment: Deployment

    def ledger(self, **sender_options: Any) -> Ledger:
        """A ledger with its own sender (a fresh in-memory outbox and nonce counter)."""
        return Ledger(self.w3, self.deployment, self.node.dev_account(), **sender_options)

    def automine(self, enabled: bool) -> None:
        self.w3.provider.make_request("evm_setAutomine", [enabled])  # type: ignore[arg-type]

    def mine(self) -> None:
        self.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


@pytest.fixture
def chain(node: AnvilNode) -> Chain:
    w3 = connect(LedgerSettings(rpc_url=node.url))
    return Chain(node, w3, Ledger.deploy(w3, node.dev_account()).deployment)
