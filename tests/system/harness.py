"""One harness for every test that drives the running service: started the way ``scripts/run``
starts it (``civic demo --if-empty`` then ``civic serve`` on the embedded chain), or over an anvil
node after ``civic deploy`` (the README's way for a node), as a subprocess that can be stopped,
killed, frozen and restarted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet
from pydantic import SecretStr

from devtools.node import AnvilNode, free_port
from ledger import ChainRecord, LedgerSettings, open_ledger

__all__ = ["ANVIL_DEV_KEY", "Service", "civic"]

ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
#: Every client request is bounded: a request the service leaves hanging fails the test.
CLIENT_TIMEOUT = 60.0


def civic(*args: str) -> list[str]:
    """The ``civic`` command, run with this interpreter."""
    return [sys.executable, "-m", "civic.cli", *args]


@dataclass
class Service:
    """The service as a subprocess: on the embedded chain in ``directory`` (seeded with the demo
    club, as scripts/run does), or over ``node``."""

    directory: Path
    node: AnvilNode | None = None
    demo: bool = True
    env_extra: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    data_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    process: subprocess.Popen[bytes] | None = None
    admin_token: str = ""
    starts: int = 0
    #: Several services may share a directory (one store and deployment): each its own log.
    name: str = "service"

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.directory / f"{self.name}.log"

    @property
    def database(self) -> Path:
        return self.directory / "civic.db"

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        for name in list(env):
            if name.startswith("CIVIC_") and name not in ("CIVIC_TEST_BACKENDS", "CIVIC_ANVIL_BIN"):
                del env[name]
        env.update(
            {
                "CIVIC_PUBLIC_BASE_URL": self.base,
                "CIVIC_RATE_LIMIT_PER_MINUTE": "100000",
                "CIVIC_PUBLIC_RATE_LIMIT_PER_MINUTE": "1000000",
                "CIVIC_AWARD_INTERVAL_SECONDS": "0.5",
            }
        )
        if self.node is None:
            env["CIVIC_EMBEDDED_DIR"] = str(self.directory)
        else:
            env.update(
                {
                    "CIVIC_RPC_URL": self.node.url,
                    "CIVIC_PRIVATE_KEY": ANVIL_DEV_KEY,
                    "CIVIC_DEPLOYMENT_PATH": str(self.directory / "deployment.json"),
                    "CIVIC_DATABASE_URL": f"sqlite:///{self.database}",
                    "CIVIC_DATA_KEY": self.data_key,
                    "CIVIC_RECEIPT_POLL": "0.02",
                }
            )
        env.update(self.env_extra)
        return env

    def run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """A ``civic`` command with the service's configuration."""
        return subprocess.run(civic(*args), env=self.env(), capture_output=True, text=True, timeout=timeout)

    def prepare(self) -> None:
        """What happens before the first start: the demo seed on the embedded chain (as
        scripts/run does), or deploy and a staff token on a node (as the README says)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.node is None and self.demo:
            seeded = self.run("demo", "--if-empty", timeout=300)
            assert seeded.returncode == 0, seeded.stderr[-3000:]
            self.admin_token = json.loads((self.directory / "demo-tokens.json").read_text())["admin"]
            return
        deployed = self.run("deploy")
        assert deployed.returncode == 0, deployed.stderr[-3000:]
        token = self.run("staff-token", "--role", "admin", "--label", "system test")
        assert token.returncode == 0, token.stderr[-3000:]
        self.admin_token = token.stdout.strip()

    def demo_tokens(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.directory / "demo-tokens.json").read_text())
        return data

    def start(self, timeout: float = 90) -> Service:
        if not self.admin_token:
            self.prepare()
        self.process = subprocess.Popen(
            civic("serve", "--port", str(self.port)),
            env=self.env(),
            stdout=subprocess.DEVNULL,
            stderr=open(self.log, "ab"),  # noqa: SIM115 - the child owns it
        )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited during start-up:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the service did not come up:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            if self._frozen():
                self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no clean-up, as a crash or a power cut."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def freeze(self) -> None:
        """SIGSTOP: the process stops where it is (to let the chain move on under it)."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def _frozen(self) -> bool:
        try:
            return Path(f"/proc/{self.process.pid}/stat").read_text().split()[2] == "T"  # type: ignore[union-attr]
        except (OSError, IndexError):
            return False

    def running(self) -> Iterator[Service]:
        """The service started, for a fixture to ``yield from``; stopped after, whatever happened."""
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def chain_records(self) -> list[ChainRecord]:
        """Every record on the node since the deployment, read from the node itself (not the
        service's index)."""
        assert self.node is not None
        settings = LedgerSettings(
            rpc_url=self.node.url,
            deployment_path=self.directory / "deployment.json",
            private_key=SecretStr(ANVIL_DEV_KEY),
        )
        ledger = open_ledger(settings)
        return ledger.records_between(ledger.deployment.block_number, ledger.head())

    def restart(self) -> Service:
        self.stop()
        return self.start()

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def client(self, timeout: float = CLIENT_TIMEOUT) -> httpx.Client:
        return httpx.Client(base_url=self.base, timeout=timeout)

    def admin(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}", **extra}

    def staff(self, client: httpx.Client, role: str) -> dict[str, str]:
        created = client.post(
            "/v1/staff-tokens", json={"label": f"{role} {time.time()}", "role": role}, headers=self.admin()
        )
        assert created.status_code == 201, created.text
        return {"Authorization": f"Bearer {created.json()['token']}"}

    def enrol(self, client: httpx.Client, name: str, pin: str = "135790") -> dict[str, Any]:
        """A citizen without a wallet, enrolled by staff, who activated their card: the
        enrolment answer plus ``headers`` for the citizen's session."""
        enrolled = client.post("/v1/citizens", json={"display_name": name}, headers=self.admin())
        assert enrolled.status_code == 201, enrolled.text
        body: dict[str, Any] = enrolled.json()
        session = client.post("/v1/auth/card/activate", json={"code": body["card"]["code"], "pin": pin})
        assert session.status_code == 200, session.text
        body["headers"] = {"Authorization": f"Bearer {session.json()['token']}"}
        body["pin"] = pin
        return body

    def sql(self, query: str, *args: Any) -> list[tuple[Any, ...]]:
        import sqlite3

        db = sqlite3.connect(self.database)
        try:
            return db.execute(query, args).fetchall()
        finally:
            db.close()
