"""The connection to a chain: the one object that holds a Web3, inside the ledger package.

:class:`Chain` reads blocks, logs, receipts and code, translates every node failure through
:func:`ledger.errors.translated`, and offers what development chains allow (moving time,
funding accounts, deploying an artifact) to the dev tools and tests, so that nothing outside
``ledger/`` touches web3.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from web3 import Web3
from web3.exceptions import BlockNotFound, TransactionNotFound, Web3Exception
from web3.providers.eth_tester import EthereumTesterProvider

from .errors import ChainUnavailable, RevertDecoder, translated

__all__ = ["Chain", "Receipt", "load_artifact"]


def _hex(value: Any) -> str:
    return value if isinstance(value, str) else "0x" + bytes(value).hex()


def _number(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


@dataclass(frozen=True)
class Receipt:
    """A mined transaction's receipt in one shape, whatever the source: a node's raw JSON-RPC
    answer (hex text, read without web3's per-field formatting: a batch's receipt carries
    hundreds of logs) or eth-tester's through web3. ``logs`` stay as the source gave them, for
    :class:`ledger._events.RawLog` to read."""

    tx_hash: str
    block_number: int
    block_hash: str
    status: int
    gas_used: int
    logs: tuple[Mapping[str, Any], ...]
    contract_address: str | None = None

    @property
    def succeeded(self) -> bool:
        return self.status == 1

    @classmethod
    def of(cls, receipt: Mapping[str, Any]) -> Receipt:
        created = receipt.get("contractAddress")
        return cls(
            tx_hash=_hex(receipt["transactionHash"]),
            block_number=_number(receipt["blockNumber"]),
            block_hash=_hex(receipt["blockHash"]),
            status=_number(receipt["status"]),
            gas_used=_number(receipt["gasUsed"]),
            logs=tuple(receipt["logs"]),
            contract_address=Web3.to_checksum_address(created) if created else None,
        )


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """A compiled contract's artifact, shipped as package data (no Node.js at run time)."""
    import json

    text = resources.files("ledger").joinpath("artifacts", f"{name}.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


@cache
def revert_decoder() -> RevertDecoder:
    return RevertDecoder(
        [load_artifact(name)["abi"] for name in ("CivicPoints", "CivicBadges", "CivicAnchors", "ReentrantAttendee")]
    )


class Chain:
    """A node (JSON-RPC) or the embedded eth-tester chain, behind one interface."""

    def __init__(self, w3: Web3) -> None:
        self._w3 = w3
        with self.translated("asking the node for its chain id"):
            self.chain_id = int(w3.eth.chain_id)

    @property
    def embedded(self) -> bool:
        return isinstance(self._w3.provider, EthereumTesterProvider)

    @contextmanager
    def translated(self, doing: str = "the node request") -> Iterator[None]:
        with translated(revert_decoder(), doing):
            yield

    # ------------------------------------------------------------------ reads

    def head(self) -> int:
        with self.translated("reading the head block"):
            return int(self._w3.eth.block_number)

    def block_hash(self, number: int) -> str | None:
        """The canonical hash of block ``number``, or None beyond the head."""
        try:
            with self.translated("reading a block"):
                block = self._w3.eth.get_block(number)
        except ChainUnavailable as exc:
            if isinstance(exc.__cause__, BlockNotFound):
                return None
            raise
        return block["hash"].to_0x_hex()

    def block_time(self, number: int | str = "latest") -> int:
        with self.translated("reading a block"):
            return int(self._w3.eth.get_block(number)["timestamp"])  # type: ignore[arg-type]

    def next_block_time(self) -> int:
        """The timestamp the next block will carry: the node's pending block (anvil and
        eth-tester keep it at the wall clock, or ahead of it after time travel); the latest
        block's where a node offers no pending block. A chain that mines only when there are
        transactions can have a latest block hours old: a window checked against it would be
        wrong by as much."""
        with self.translated("reading a block"):
            latest = int(self._w3.eth.get_block("latest")["timestamp"])
            try:
                pending = int(self._w3.eth.get_block("pending")["timestamp"])
            except (Web3Exception, ValueError, KeyError):  # no pending block on this node
                return latest
        return max(latest, pending)

    def block_gas_limit(self) -> int:
        with self.translated("reading a block"):
            return int(self._w3.eth.get_block("latest")["gasLimit"])

    def code(self, address: str, block: int | str = "latest") -> bytes:
        with self.translated("reading contract code"):
            return bytes(self._w3.eth.get_code(Web3.to_checksum_address(address), block_identifier=block))  # type: ignore[arg-type]

    def storage_at(self, address: str, slot: int, block: int | str = "latest") -> bytes:
        with self.translated("reading contract storage"):
            address = Web3.to_checksum_address(address)
            return bytes(self._w3.eth.get_storage_at(address, slot, block_identifier=block))  # type: ignore[arg-type]

    def logs(self, addresses: Sequence[str], from_block: int, to_block: int) -> list[dict[str, Any]]:
        """Raw logs of ``addresses`` in the block range, as the node sends them (no web3
        formatting: the audit reads hundreds of thousands)."""
        if self.embedded:  # eth-tester takes its own parameter names: let web3 translate them
            query: Any = {
                "address": [Web3.to_checksum_address(a) for a in addresses],
                "fromBlock": from_block,
                "toBlock": to_block,
            }
            with self.translated("reading logs"):
                return [dict(log) for log in self._w3.eth.get_logs(query)]
        params = [
            {
                "address": [Web3.to_checksum_address(a) for a in addresses],
                "fromBlock": hex(from_block),
                "toBlock": hex(to_block),
            }
        ]
        with self.translated("reading logs"):
            response = self._w3.provider.make_request("eth_getLogs", params)  # type: ignore[arg-type]
        if "error" in response:
            raise ChainUnavailable(f"eth_getLogs {from_block}-{to_block} failed: {response['error']}")
        result: list[dict[str, Any]] = list(response["result"])
        return result

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of ``tx_hash`` on the canonical chain, or None while it has none."""
        if self.embedded:
            try:
                with self.translated("reading a receipt"):
                    return Receipt.of(self._w3.eth.get_transaction_receipt(tx_hash))  # type: ignore[arg-type]
            except ChainUnavailable as exc:
                if isinstance(exc.__cause__, TransactionNotFound):
                    return None
                raise
        with self.translated("reading a receipt"):
            response = self._w3.provider.make_request("eth_getTransactionReceipt", [tx_hash])  # type: ignore[arg-type]
        if "error" in response:
            raise ChainUnavailable(f"eth_getTransactionReceipt {tx_hash} failed: {response['error']}")
        found = response.get("result")
        return None if found is None else Receipt.of(found)

    def transaction(self, tx_hash: str) -> dict[str, Any] | None:
        try:
            with self.translated("reading a transaction"):
                return dict(self._w3.eth.get_transaction(tx_hash))  # type: ignore[arg-type]
        except ChainUnavailable as exc:
            if isinstance(exc.__cause__, TransactionNotFound):
                return None
            raise

    def nonce(self, address: str, block: str = "latest") -> int:
        with self.translated("reading an account's nonce"):
            return int(self._w3.eth.get_transaction_count(Web3.to_checksum_address(address), block))  # type: ignore[arg-type]

    def balance(self, address: str) -> int:
        with self.translated("reading an account's balance"):
            return int(self._w3.eth.get_balance(Web3.to_checksum_address(address)))

    def call(self, contract: Any, function: str, *args: Any, block: int | str = "latest") -> Any:
        """A contract view, translated."""
        with self.translated(f"calling {function}"):
            return getattr(contract.functions, function)(*args).call(block_identifier=block)

    def contract(self, name: str, address: str | None = None) -> Any:
        abi = load_artifact(name)["abi"]
        if address is None:
            return self._w3.eth.contract(abi=abi, bytecode=load_artifact(name)["bytecode"])
        return self._w3.eth.contract(address=Web3.to_checksum_address(address), abi=abi)

    # ------------------------------------------------------------------ development chains

    def advance_time(self, seconds: int) -> None:
        """Moves a development chain's clock forward and mines a block (eth-tester or anvil)."""
        from .embedded import DurableTesterProvider

        provider = self._w3.provider
        if isinstance(provider, DurableTesterProvider):
            provider.advance_time(seconds)
            return
        if isinstance(provider, EthereumTesterProvider):
            tester: Any = provider.ethereum_tester
            # The pending block may already be ahead of the latest (the wall clock moved on, or
            # a snapshot was reverted): eth-tester only travels forward from it.
            pending = int(tester.get_block_by_number("pending")["timestamp"])
            with self.translated("moving the chain's time"):
                tester.time_travel(max(self.block_time() + seconds, pending + 1))
                tester.mine_blocks()
            return
        with self.translated("moving the chain's time"):
            provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
            provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def mine(self) -> None:
        """Mines one block on a development chain."""
        with self.translated("mining a block"):
            if isinstance(self._w3.provider, EthereumTesterProvider):
                self.advance_time(1)
            else:
                self._w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]

    def send_plain(self, account: Any, call: Any, *, gas: int = 15_000_000) -> Receipt:
        """Signs and sends a contract call (or constructor) from ``account`` and waits for it:
        no outbox, no nonce allocator. For development tools measuring contracts the ledger does
        not drive (gas baselines); the ledger's own writes never go this way."""
        w3 = self._w3
        with self.translated("sending a development transaction"):
            tx = call.build_transaction(
                {
                    "from": account.address,
                    "gas": gas,
                    "nonce": w3.eth.get_transaction_count(account.address),
                    "maxFeePerGas": 2 * int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0) + 10**9,
                    "maxPriorityFeePerGas": 10**9,
                }
            )
            tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
        receipt = self.wait_for_receipt(tx_hash.to_0x_hex())
        if not receipt.succeeded:
            raise ChainUnavailable(f"development transaction {tx_hash.to_0x_hex()} failed")
        return receipt

    def fund(self, funder: Any, address: str, wei: int) -> None:
        """Sends ``wei`` of the chain's coin from ``funder`` (development chains)."""
        w3 = self._w3
        with self.translated("funding an account"):
            tx = {
                "to": Web3.to_checksum_address(address),
                "value": wei,
                "gas": 21_000,
                "nonce": w3.eth.get_transaction_count(funder.address),
                "chainId": self.chain_id,
                "maxFeePerGas": 2 * int(w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0) + 10**9,
                "maxPriorityFeePerGas": 10**9,
            }
            tx_hash = w3.eth.send_raw_transaction(funder.sign_transaction(tx).raw_transaction)
        self.wait_for_receipt(tx_hash.to_0x_hex())

    def snapshot(self) -> Any:
        """A development chain's state now, to :meth:`revert` to (tests share one deployment)."""
        provider = self._w3.provider
        if isinstance(provider, EthereumTesterProvider):
            return provider.ethereum_tester.take_snapshot()  # type: ignore[union-attr]
        return self.rpc("evm_snapshot", [])

    def revert(self, snapshot: Any) -> None:
        provider = self._w3.provider
        if isinstance(provider, EthereumTesterProvider):
            provider.ethereum_tester.revert_to_snapshot(snapshot)  # type: ignore[union-attr]
            return
        if not self.rpc("evm_revert", [snapshot]):
            raise ChainUnavailable(f"the node could not revert to snapshot {snapshot}")

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC request (for development nodes' own methods: snapshots, tampering)."""
        with self.translated(method):
            response = self._w3.provider.make_request(method, params)  # type: ignore[arg-type]
        if "error" in response:
            raise ChainUnavailable(f"{method} failed: {response['error']}")
        return response.get("result")

    def wait_for_receipt(self, tx_hash: str, timeout: float = 60.0, poll: float = 0.01) -> Receipt:
        deadline = time.monotonic() + timeout
        while True:
            receipt = self.receipt(tx_hash)
            if receipt is not None:
                return receipt
            if time.monotonic() > deadline:
                raise ChainUnavailable(f"{tx_hash} was not mined within {timeout}s")
            time.sleep(poll)
