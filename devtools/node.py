"""A local anvil node (from the pinned npm package) on loopback, its state persisted to disk.

A development tool: the service reaches any node through CIVIC_RPC_URL and never starts one."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx

from ledger.errors import ChainUnavailable, ConfigurationError

__all__ = ["ANVIL_DEV_KEY", "AnvilNode", "anvil_binary", "free_port"]

ROOT = Path(__file__).resolve().parent.parent
#: anvil's first default development account (from its well-known test mnemonic). Only ever
#: funded on local development chains.
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def anvil_binary() -> str:
    """The anvil executable: CIVIC_ANVIL_BIN, the platform binary from node_modules, or PATH."""
    configured = os.environ.get("CIVIC_ANVIL_BIN")
    if configured:
        return configured
    arch = {"x86_64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(platform.machine(), platform.machine())
    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system(), platform.system().lower())
    shipped = ROOT / "node_modules" / "@foundry-rs" / f"anvil-{system}-{arch}" / "bin" / "anvil"
    if shipped.exists():
        return str(shipped)
    found = shutil.which("anvil")
    if found:
        return found
    raise ConfigurationError("anvil not found: run `npm ci` (it pins @foundry-rs/anvil) or set CIVIC_ANVIL_BIN")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class AnvilNode:
    """Starts anvil on 127.0.0.1. With ``state_path`` the chain is loaded from and dumped to
    that file (every ``state_interval`` seconds and on a clean stop)."""

    def __init__(
        self,
        *,
        port: int | None = None,
        state_path: Path | None = None,
        state_interval: int = 1,
        block_time: float | None = None,
        chain_id: int = 31337,
    ) -> None:
        self.port = port or free_port()
        self.state_path = state_path
        self.state_interval = state_interval
        self.block_time = block_time
        self.chain_id = chain_id
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [anvil_binary(), "--host", "127.0.0.1", "--port", str(self.port), "--chain-id", str(self.chain_id)]
        if self.state_path is not None:
            self.state_path.parent.mkdir(parents=True, exist_ok=True)
            cmd += ["--state", str(self.state_path), "--state-interval", str(self.state_interval)]
        if self.block_time is not None:
            cmd += ["--block-time", str(self.block_time)]
        return cmd

    def start(self, timeout: float = 20.0) -> AnvilNode:
        # Another node on the port would answer the readiness check in anvil's place.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                raise ChainUnavailable(f"cannot start anvil: port {self.port} is already in use")
        self.process = subprocess.Popen(self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        request = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                err = self.process.stderr.read().decode() if self.process.stderr else ""
                raise ChainUnavailable(f"anvil exited with {self.process.returncode}: {err.strip()[-500:]}")
            try:
                if int(httpx.post(self.url, json=request, timeout=2).json()["result"], 16) == self.chain_id:
                    return self
            except (httpx.HTTPError, KeyError, ValueError):  # not listening yet
                time.sleep(0.05)
        self.stop()
        raise ChainUnavailable(f"anvil did not answer on {self.url} within {timeout}s")

    def stop(self, timeout: float = 10.0) -> None:
        """Stops anvil with SIGTERM, so that it writes its state file."""
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.process.stderr is not None:
            self.process.stderr.close()

    def __enter__(self) -> AnvilNode:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
