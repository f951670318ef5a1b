"""Shared fixtures. Ledger tests take the ``chain`` fixture and so run once per backend.

Backends come from ``CIVIC_TEST_BACKENDS`` (comma separated; default ``eth-tester``). Each backend
deploys the contracts once per session; every test runs inside a snapshot of that chain that is
reverted after it (a fresh deployment per test is not the point of most tests, and cost a
minute). ``fresh_chain`` gives a chain of its own where it is.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from devtools.node import AnvilNode
from ledger import Chain, Deployment, Ledger, LedgerSettings, Venue, connect, embedded_funder

BACKENDS = [b.strip() for b in os.environ.get("CIVIC_TEST_BACKENDS", "eth-tester").split(",") if b.strip()]
ETHER = 10**18
ANVIL_DEV_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


@dataclass
class TestChain:
    """A test chain: the ledger's connection, plain web3 on it (to read what a wallet or an
    explorer reads), a funded account to pay with, and ways to move time."""

    __test__ = False
    name: str
    chain: Chain
    funder: LocalAccount

    @property
    def w3(self) -> Web3:
        return self.chain._w3

    def fund(self, address: str, wei: int = 100 * ETHER) -> None:
        w3 = self.w3
        tx = {
            "to": address,
            "value": wei,
            "gas": 21_000,
            "nonce": w3.eth.get_transaction_count(self.funder.address, "pending"),
            "chainId": w3.eth.chain_id,
            "maxFeePerGas": 2 * (w3.eth.get_block("latest")["baseFeePerGas"]) + 10**9,
            "maxPriorityFeePerGas": 10**9,
        }
        tx_hash = w3.eth.send_raw_transaction(self.funder.sign_transaction(tx).raw_transaction)
        w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)

    def now(self) -> int:
        return self.chain.block_time()

    def advance(self, seconds: int) -> None:
        """Moves chain time forward by ``seconds`` and mines a block at the new time."""
        self.chain.advance_time(seconds)

    def new_account(self, funded: bool = False) -> LocalAccount:
        account: LocalAccount = Account.create()
        if funded:
            self.fund(account.address)
        return account


def eth_tester_chain() -> TestChain:
    chain = connect(LedgerSettings(rpc_url=None, embedded_dir=None))
    funder = embedded_funder(chain)
    assert funder is not None
    return TestChain("eth-tester", chain, funder)


@pytest.fixture(scope="session")
def anvil_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AnvilNode]:
    """One anvil for the session."""
    with AnvilNode(state_path=tmp_path_factory.mktemp("anvil") / "state.json") as node:
        yield node


def _test_chain(name: str, request: pytest.FixtureRequest) -> TestChain:
    if name == "eth-tester":
        return eth_tester_chain()
    node: AnvilNode = request.getfixturevalue("anvil_node")
    return TestChain("anvil", connect(LedgerSettings(rpc_url=node.url)), Account.from_key(ANVIL_DEV_KEY))


@dataclass
class Deployed:
    test_chain: TestChain
    city: LocalAccount
    deployment: Deployment


@pytest.fixture(scope="session", params=BACKENDS)
def deployed(request: pytest.FixtureRequest) -> Deployed:
    """The contracts deployed once per backend (1,000 points per award, 3,000 a day)."""
    test_chain = _test_chain(request.param, request)
    city = test_chain.new_account(funded=True)
    ledger = Ledger.deploy(test_chain.chain, city, max_points_per_award=1_000, daily_cap=3_000)
    return Deployed(test_chain, city, ledger.deployment)


@pytest.fixture
def chain(deployed: Deployed) -> Iterator[TestChain]:
    """The session's chain, reverted to its state before the test when the test ends."""
    snapshot = deployed.test_chain.chain.snapshot()
    try:
        yield deployed.test_chain
    finally:
        deployed.test_chain.chain.revert(snapshot)


@pytest.fixture(params=BACKENDS)
def fresh_chain(request: pytest.FixtureRequest) -> Iterator[TestChain]:
    """A chain with nothing deployed (eth-tester: a new one; anvil: a snapshot reverted after)."""
    test_chain = _test_chain(request.param, request)
    snapshot = test_chain.chain.snapshot()
    try:
        yield test_chain
    finally:
        test_chain.chain.revert(snapshot)


@pytest.fixture
def city(deployed: Deployed) -> LocalAccount:
    """The city's operating account: admin and holder of every operating role."""
    return deployed.city


@pytest.fixture
def ledger(chain: TestChain, deployed: Deployed) -> Ledger:
    """A ledger with its own sender (a fresh nonce counter and in-memory outbox)."""
    return Ledger(chain.chain, deployed.deployment, deployed.city)


@pytest.fixture
def citizens(chain: TestChain) -> list[LocalAccount]:
    """Five citizens with fresh keys and no ether (the city pays their gas)."""
    return [chain.new_account() for _ in range(5)]


def contract(test_chain: TestChain, ledger: Ledger, name: str) -> Any:
    """A plain web3 contract object (as a wallet or explorer builds it) for ``name``."""
    from ledger import load_artifact

    artifact = {"points": "CivicPoints", "badges": "CivicBadges", "anchors": "CivicAnchors"}[name]
    return test_chain.w3.eth.contract(address=ledger.deployment.contracts[name], abi=load_artifact(artifact)["abi"])


def send_as(chain: Any, account: Any, call: Any) -> Any:
    """Signs and sends ``call`` from ``account`` with plain web3, as a wallet would. A revert is
    caught by the gas estimate before anything is sent and raised as the ledger's error class
    (so a refused call from the city's account leaves the ledger's nonce counter in step)."""
    w3 = chain.w3
    with chain.chain.translated("sending a raw transaction"):
        tx = call.build_transaction(
            {"from": account.address, "nonce": w3.eth.get_transaction_count(account.address, "pending")}
        )
        tx_hash = w3.eth.send_raw_transaction(account.sign_transaction(tx).raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, poll_latency=0.01)
    assert receipt["status"] == 1
    return receipt


def clock(chain: Any) -> int:
    """The chain's time as the next transaction will see it. A transaction is sent first: after a
    snapshot revert the latest block can be older than the node's clock."""
    chain.fund(chain.funder.address, 0)
    now: int = chain.now()
    return now


def open_event(chain: Any, ledger: Ledger, capacity: int = 0) -> int:
    """An event whose claim window is open now and for the next day."""
    now = clock(chain)
    event_id, _ = ledger.create_event(Venue.PHYSICAL, now - 60, now + 86_400, capacity)
    return event_id
