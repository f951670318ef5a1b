"""Shared fixtures. Ledger tests take the ``chain`` fixture and so run once per backend.

Backends come from ``CIVIC_TEST_BACKENDS`` (comma separated; default ``eth-tester``). Each
backend gives a fresh chain per test: a new eth-tester instance, or a snapshot reverted after
the test on a JSON-RPC node.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ledger import Ledger, LedgerSettings, connect, embedded_funder
from ledger.config import advance_chain_time
from ledger.node import AnvilNode

BACKENDS = [b.strip() for b in os.environ.get("CIVIC_TEST_BACKENDS", "eth-tester").split(",") if b.strip()]
ETHER = 10**18


@dataclass
class Chain:
    """A test chain: its Web3, a funded account to pay with, and ways to move time."""

    name: str
    w3: Web3
    funder: LocalAccount

    def fund(self, address: str, wei: int = 100 * ETHER) -> None:
        tx = {
            "to": address,
            "value": wei,
            "gas": 21_000,
            "nonce": self.w3.eth.get_transaction_count(self.funder.address, "pending"),
            "chainId": self.w3.eth.chain_id,
            "maxFeePerGas": 2 * (self.w3.eth.get_block("latest")["baseFeePerGas"]) + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        tx_hash = self.w3.eth.send_raw_transaction(self.funder.sign_transaction(tx).raw_transaction)
        self.w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)

    def now(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def advance(self, seconds: int) -> None:
        """Moves chain time forward by ``seconds`` and mines a block at the new time."""
        advance_chain_time(self.w3, seconds)

    def new_account(self, funded: bool = False) -> LocalAccount:
        account: LocalAccount = Account.create()
        if funded:
            self.fund(account.address)
        return account


def _eth_tester_chain() -> Chain:
    w3 = connect(LedgerSettings(rpc_url=None, embedded_dir=None))
    funder = embedded_funder(w3)
    assert funder is not None
    return Chain("eth-tester", w3, funder)


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chain]:
    """One anvil for the session; each test runs inside a snapshot that is reverted after it."""
    with AnvilNode(state_path=tmp_path_factory.mktemp("anvil") / "state.json") as node:
        w3 = connect(LedgerSettings(rpc_url=node.url))
        yield Chain("anvil", w3, node.dev_account())


@pytest.fixture(params=BACKENDS)
def chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    if request.param == "eth-tester":
        yield _eth_tester_chain()
        return
    node = request.getfixturevalue(f"{request.param}_node")
    snapshot = node.w3.provider.make_request("evm_snapshot", [])["result"]
    try:
        yield node
    finally:
        node.w3.provider.make_request("evm_revert", [snapshot])


@pytest.fixture
def city(chain: Chain) -> LocalAccount:
    """The city's operating account: admin and holder of every operating role."""
    return chain.new_account(funded=True)


@pytest.fixture
def ledger(chain: Chain, city: LocalAccount) -> Ledger:
    return Ledger.deploy(chain.w3, city, max_points_per_award=1_000, daily_cap=3_000)


@pytest.fixture
def citizens(chain: Chain) -> list[LocalAccount]:
    """Five citizens with fresh keys and no ether (the city pays their gas)."""
    return [chain.new_account() for _ in range(5)]
