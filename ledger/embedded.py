"""A durable embedded chain: eth-tester in-process, kept on disk as a write-ahead journal.

Every raw transaction is appended to the journal, with the timestamp of the block that mined
it, and flushed to disk (fsync) before its hash is returned; so is every block mined by moving
time. On start the journal is replayed over the same genesis (fixed timestamp, deterministic
``mix_hash``), which rebuilds the chain block for block: same block numbers, hashes, transaction
hashes and log indexes. A crash loses at most a transaction whose hash was never returned.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from eth_tester import EthereumTester
from eth_tester.backends.pyevm.main import PyEVMBackend, get_default_genesis_params
from eth_utils import keccak
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import RPCEndpoint, RPCResponse

from .errors import ChainInUse, ConfigurationError

__all__ = ["DurableTesterProvider", "LockedTesterProvider", "close_all", "open_durable_chain"]

_OPEN: list[DurableTesterProvider] = []

_ZERO_ADDRESS = b"\0" * 20


class _DeterministicBackend(PyEVMBackend):
    """py-evm backend whose blocks depend only on their contents and timestamps: eth-tester
    draws ``mix_hash`` at random, which would give a replayed chain other block hashes."""

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = _ZERO_ADDRESS) -> tuple[bytes, ...]:
        from eth.vm.forks.cancun.state import get_total_blob_gas

        hashes = []
        for _ in range(num_blocks):
            header = self.chain.header
            mix_hash = keccak(header.parent_hash + header.block_number.to_bytes(32, "big"))
            transactions = self.chain.get_block().transactions
            block = self.chain.mine_block(
                coinbase=coinbase,
                mix_hash=mix_hash,
                blob_gas_used=sum(get_total_blob_gas(tx) for tx in transactions),
            )
            hashes.append(block.hash)
        return tuple(hashes)

    def set_next_timestamp(self, timestamp: int) -> None:
        self.chain.header = self.chain.header.copy(timestamp=timestamp)


class LockedTesterProvider(EthereumTesterProvider):
    """eth-tester is not thread-safe: one request at a time, whichever thread asks. Requests are
    served in-process in microseconds to milliseconds, so a lock costs the service nothing and
    lets reads (verification, health) run without any lock of the service's own."""

    def __init__(self, ethereum_tester: EthereumTester | None = None) -> None:
        self._lock = threading.RLock()
        super().__init__(ethereum_tester)

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            return super().make_request(method, params)


class DurableTesterProvider(LockedTesterProvider):
    """An eth-tester provider whose chain survives restarts through its journal."""

    def __init__(self, journal: Path) -> None:
        self.journal = journal
        journal.parent.mkdir(parents=True, exist_ok=True)
        # One process owns a journal at a time; a second one would interleave writes.
        self._owner = open(journal.with_suffix(".lock"), "w")  # noqa: SIM115 - held for the provider's life
        try:
            fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._owner.close()
            raise ChainInUse(
                f"the embedded chain in {journal.parent} is in use by another process: stop it, "
                "or point CIVIC_RPC_URL at a node"
            ) from exc
        entries = _read_journal(journal)
        if entries:
            header = entries[0]
            if header.get("kind") != "genesis":
                raise ConfigurationError(f"{journal} is not an embedded-chain journal")
            genesis_timestamp = int(header["timestamp"])
        else:
            genesis_timestamp = int(time.time())
        params = get_default_genesis_params()
        params["timestamp"] = genesis_timestamp
        self.backend = _DeterministicBackend(genesis_parameters=params)
        self.tester = EthereumTester(backend=self.backend)
        super().__init__(self.tester)
        self.replayed = 0
        if entries:
            self._replay(entries[1:])
        else:
            self._append({"kind": "genesis", "timestamp": genesis_timestamp})
        self._handle = open(journal, "a", encoding="utf-8")  # noqa: SIM115 - kept open for the provider's life
        _OPEN.append(self)

    def _replay(self, entries: list[dict[str, Any]]) -> None:
        tester = self.tester
        for entry in entries:
            self.backend.set_next_timestamp(int(entry["timestamp"]))
            if entry["kind"] == "tx":
                tester.send_raw_transaction(entry["raw"])
            elif entry["kind"] == "mine":
                tester.mine_blocks()
            self.replayed += 1

    def _append(self, entry: dict[str, Any]) -> None:
        line = json.dumps(entry, separators=(",", ":")) + "\n"
        handle = getattr(self, "_handle", None)
        if handle is None:
            with open(self.journal, "a", encoding="utf-8") as fresh:
                fresh.write(line)
                fresh.flush()
                os.fsync(fresh.fileno())
            return
        handle.write(line)
        handle.flush()
        os.fsync(handle.fileno())

    def _latest_timestamp(self) -> int:
        return int(self.tester.get_block_by_number("latest")["timestamp"])

    def make_request(self, method: RPCEndpoint, params: Any) -> RPCResponse:
        with self._lock:
            response = super().make_request(method, params)
            if method != "eth_sendRawTransaction":
                return response
            if "result" in response:
                raw = params[0] if isinstance(params[0], str) else "0x" + bytes(params[0]).hex()
                self._append({"kind": "tx", "raw": raw, "timestamp": self._latest_timestamp()})
            return response

    def advance_time(self, seconds: int) -> None:
        """Mines an empty block ``seconds`` after the latest one, and journals it."""
        with self._lock:
            timestamp = self._latest_timestamp() + seconds
            self.backend.set_next_timestamp(timestamp)
            self.tester.mine_blocks()
            self._append({"kind": "mine", "timestamp": timestamp})

    def close(self) -> None:
        """Releases the journal (and its lock) for another process."""
        if not self._handle.closed:
            self._handle.close()
            self._owner.close()
        if self in _OPEN:
            _OPEN.remove(self)


def close_all() -> None:
    """Closes every durable chain this process opened (for commands that end)."""
    for provider in list(_OPEN):
        provider.close()


def _read_journal(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    entries = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            if not line.endswith("\n"):
                break  # a write cut short by a crash: its transaction was never acknowledged
            entries.append(json.loads(line))
    return entries


def open_durable_chain(directory: Path) -> Web3:
    """A Web3 on the embedded chain kept in ``directory`` (created, or replayed if it exists)."""
    return Web3(DurableTesterProvider(directory / "chain.jsonl"))
