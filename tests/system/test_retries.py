"""Retries against a real node: a client that gives up and tries again with its Idempotency-Key
gets one record; a transaction stuck in the pool is replaced at its nonce with a fee bump and
mined once; a nonce the node lost below queued transactions (a nonce gap) is reported and
filled, and the running service fills it by itself and mines every award queued behind it."""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from eth_account import Account

from devtools.node import AnvilNode
from ledger import ActivityAward, AwardRecorded, Deployment, Ledger, LedgerSettings, OutboxEntry, connect
from ledger.errors import ChainUnavailable
from tests.helpers import outing

from .conftest import requires_anvil
from .harness import ANVIL_DEV_KEY, Service

pytestmark = requires_anvil

POINTS = 10
#: So short that the client always gives up before the service has answered.
IMPATIENT = httpx.Timeout(5.0, read=0.01)
#: How long the service may take to settle what it was given (on a loaded machine).
SETTLE = 60.0


def _rpc(url: str, method: str, *params: Any) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10)
    body = answer.json()
    assert "error" not in body, f"{method}: {body['error']}"
    return body.get("result")


def _pool(url: str) -> tuple[int, int]:
    """(pending, queued) transactions in the node's pool."""
    status = _rpc(url, "txpool_status")
    return int(status["pending"], 16), int(status["queued"], 16)


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout}s"
        time.sleep(0.01)


def _outbox(service: Service) -> dict[str, int]:
    return {status: n for status, n in service.sql("SELECT status, count(*) FROM outbox GROUP BY status")}


def _statement(client: httpx.Client, address: str, balance: int) -> dict[str, Any]:
    """The citizen's public statement once it shows ``balance``, adding up and verified."""
    deadline = time.monotonic() + SETTLE
    while True:
        response = client.get(f"/v1/verify/citizens/{address}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["balance"] == balance == body["rebuilt_balance"] and body["consistent"] and body["verified"]:
            return body
        assert time.monotonic() < deadline, f"the statement never showed {balance} points, verified: {body}"
        time.sleep(0.2)


def _awards_on_chain(service: Service) -> list[AwardRecorded]:
    return [r for r in service.chain_records() if isinstance(r, AwardRecorded)]


def test_staff_award_client_timeout_retry_with_the_same_key_makes_one_record(node_service: Service) -> None:
    service = node_service
    with service.client() as client:
        member = service.enrol(client, "impatient")
    awards = [f"impatient-{i}" for i in range(5)]
    timeouts = in_use = attempts = 0
    answers: dict[str, dict[str, Any]] = {}
    for reference in awards:
        body = {"citizen": member["citizen_id"], "points": POINTS, "reference": reference}
        headers = service.admin(**{"Idempotency-Key": f"key-{reference}"})
        with httpx.Client(base_url=service.base, timeout=IMPATIENT) as impatient:
            attempts += 1
            try:
                impatient.post("/v1/awards", json=body, headers=headers)
            except httpx.TimeoutException:
                timeouts += 1  # the client gave up; the service carries on with the request
        with service.client() as client:
            deadline = time.monotonic() + SETTLE
            while True:
                attempts += 1
                response = client.post("/v1/awards", json=body, headers=headers)
                if response.status_code == 201:
                    answers[reference] = response.json()
                    break
                assert response.status_code == 409, response.text
                assert response.json()["error"]["code"] == "idempotency_key_in_use", response.text
                in_use += 1
                assert time.monotonic() < deadline, "the first request never finished"
                time.sleep(0.1)

    with service.client() as client:
        verified = _statement(client, member["address"], POINTS * len(awards))
    rows = service.sql("SELECT reference, status FROM activity_claims")
    on_chain = [a["activity_id"] for a in verified["activities"]]
    print(
        "\nretried after client timeouts:",
        json.dumps({"requests": attempts, "client_timeouts": timeouts, "in_use_409": in_use, "awards": len(awards)}),
    )
    assert timeouts == len(awards), "the client did not give up first: nothing was tested"
    assert sorted(on_chain) == sorted(a["activity_id"] for a in answers.values())
    assert len(on_chain) == len(set(on_chain)) == len(awards)
    assert all(a["status"] == "awarded" for a in answers.values()), answers
    assert sorted(reference for reference, _ in rows) == sorted(awards), "one store record per award"
    assert all(status == "AWARDED" for _, status in rows), rows
    assert _outbox(service) == {"mined": len(awards)}
    assert len(_awards_on_chain(service)) == len(awards)


# ---------------------------------------------------------------------- the ledger on its own


@pytest.fixture
def node_deployment(node: AnvilNode) -> Iterator[tuple[AnvilNode, Deployment]]:
    """The contracts deployed on ``node`` by anvil's development account."""
    chain = connect(LedgerSettings(rpc_url=node.url))
    ledger = Ledger.deploy(chain, Account.from_key(ANVIL_DEV_KEY))
    yield node, ledger.deployment


def _ledger(node: AnvilNode, deployment: Deployment, **options: Any) -> Ledger:
    """A ledger of its own (a fresh nonce counter and in-memory outbox) on ``node``."""
    return Ledger(connect(LedgerSettings(rpc_url=node.url)), deployment, Account.from_key(ANVIL_DEV_KEY), **options)


def _send_in_thread(ledger: Ledger, award: ActivityAward, intent: str) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = ledger.award_points([award], intent=intent)
        except Exception as exc:  # reported to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _entries(ledger: Ledger, intent: str) -> list[OutboxEntry]:
    return ledger._sender.outbox.for_intent(intent)


def _awards(ledger: Ledger, citizen: str) -> list[int]:
    return [r.activity_id for r in ledger.history(citizen) if isinstance(r, AwardRecorded)]


def test_await_stuck_transaction_is_replaced_with_a_fee_bump_and_mined_once(
    node_deployment: tuple[AnvilNode, Deployment],
) -> None:
    node, deployment = node_deployment
    ledger = _ledger(node, deployment, replace_after=0.5, receipt_timeout=30)
    citizen = Account.create().address
    _rpc(node.url, "evm_setAutomine", False)
    try:
        thread, outcome = _send_in_thread(ledger, ActivityAward(1, citizen, 40), "stuck")
        # Two fee bumps while nothing is mined; the block comes right after the second.
        _wait_for(lambda: len(_entries(ledger, "stuck")) >= 3, 20, "two fee bumps")
        _rpc(node.url, "evm_mine")
        thread.join(30)
    finally:
        _rpc(node.url, "evm_setAutomine", True)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    entries = _entries(ledger, "stuck")
    statuses = sorted(e.status for e in entries)
    assert statuses.count("mined") == 1 and statuses.count("replaced") >= 2, statuses
    assert set(statuses) == {"mined", "replaced"}, statuses
    assert len({e.nonce for e in entries}) == 1
    mined = next(e for e in entries if e.status == "mined")
    assert mined.tx_hash == outcome["result"][0].tx_hash
    assert ledger.balance_of(citizen) == 40
    assert _awards(ledger, citizen) == [1]


def test_resume_node_restarted_while_a_transaction_is_being_replaced_settles_the_nonce_once(
    node_deployment: tuple[AnvilNode, Deployment],
) -> None:
    """The node goes away after fee bumps were recorded: resume settles the nonce once, whichever
    of its transactions the restarted node mines, instead of waiting for the others for ever."""
    node, deployment = node_deployment
    ledger = _ledger(node, deployment, replace_after=0.5, receipt_timeout=10)
    citizen = Account.create().address
    _rpc(node.url, "evm_setAutomine", False)
    thread, outcome = _send_in_thread(ledger, ActivityAward(1, citizen, 40), "bumped")
    _wait_for(lambda: len(_entries(ledger, "bumped")) >= 2, 20, "a fee bump")
    node.stop()  # the pending pool goes with it
    thread.join(20)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), ChainUnavailable), outcome
    entries = _entries(ledger, "bumped")
    assert len(entries) >= 2 and {e.status for e in entries} == {"signed"}, entries  # none settled
    node.start()  # automining again (a new process), the same state
    start = time.monotonic()
    settled = ledger.resume()
    took = time.monotonic() - start
    assert settled == 1
    assert took < 5, f"resume waited {took:.1f}s for a transaction that could never be mined"
    statuses = sorted(e.status for e in _entries(ledger, "bumped"))
    assert statuses.count("mined") == 1 and set(statuses) == {"mined", "replaced"}, statuses
    assert ledger.balance_of(citizen) == 40
    assert _awards(ledger, citizen) == [1]


def test_fill_nonce_gaps_nonce_lost_below_a_queued_transaction_is_reported_and_filled(
    node_deployment: tuple[AnvilNode, Deployment],
) -> None:
    node, deployment = node_deployment
    ledger = _ledger(node, deployment)
    account = Account.from_key(ANVIL_DEV_KEY)
    citizen = Account.create().address
    expected = ledger.chain.nonce(account.address)
    assert ledger.nonce_gap() is None
    # An award signed and recorded for the nonce after next, and queued by the node: the
    # transaction before it was lost, so the award waits behind the gap.
    points = ledger.chain.contract("CivicPoints", deployment.points_address)
    fees = {"maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9}
    tx = points.functions.awardPointsBatch([ActivityAward(1, citizen, 10).packed()]).build_transaction(
        {"from": account.address, "nonce": expected + 1, "gas": 300_000, "chainId": ledger.chain_id, **fees}
    )
    signed = account.sign_transaction(tx)
    ledger._sender.outbox.record(
        OutboxEntry(
            account.address, expected + 1, signed.hash.to_0x_hex(), bytes(signed.raw_transaction), intent="queued"
        )
    )
    _rpc(node.url, "eth_sendRawTransaction", signed.raw_transaction.to_0x_hex())
    assert _pool(node.url) == (0, 1)
    assert ledger.nonce_gap() == (expected, expected + 1)

    assert ledger.fill_nonce_gaps() == [expected]
    assert ledger.resume() == 2
    assert ledger.nonce_gap() is None
    assert [(e.nonce, e.status) for e in _entries(ledger, "gap-filler")] == [(expected, "mined")]
    assert [(e.nonce, e.status) for e in _entries(ledger, "queued")] == [(expected + 1, "mined")]
    assert ledger.chain.nonce(account.address) == expected + 2
    assert _pool(node.url) == (0, 0)
    assert ledger.balance_of(citizen) == 10


#: Claims the chain writer sends at consecutive nonces, one transaction each.
QUEUE = 5
#: The service's fee-bump delay (CIVIC_REPLACE_AFTER), short for the test.
REPLACE_AFTER = 5


@pytest.fixture
def gap_service(tmp_path: Any, node: AnvilNode) -> Iterator[Service]:
    yield from Service(
        tmp_path / "service",
        node=node,
        env_extra={"CIVIC_AWARD_BATCH_SIZE": "1", "CIVIC_REPLACE_AFTER": str(REPLACE_AFTER)},
    ).running()


def test_chain_writer_nonce_gap_in_the_pool_is_filled_and_every_queued_award_mined(gap_service: Service) -> None:
    service = gap_service
    assert service.node is not None
    url = service.node.url
    with service.client() as client:
        members = [service.enrol(client, f"queued {i}") for i in range(QUEUE)]

    health: Counter[int] = Counter()
    slowest = [0.0]
    stop = threading.Event()

    def watch_health() -> None:
        with service.client(timeout=30) as watcher:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    health[watcher.get("/v1/health").status_code] += 1
                except httpx.HTTPError:
                    health[0] += 1
                slowest[0] = max(slowest[0], time.monotonic() - started)
                time.sleep(0.1)

    watcher = threading.Thread(target=watch_health, daemon=True)
    watcher.start()
    blocked: list[httpx.Response] = []
    try:
        _rpc(url, "evm_setAutomine", False)
        # The writer is held on a staff award whose block is not mined yet while the claims come
        # in, so that it then sends them all at once, at consecutive nonces.
        with service.client() as client:
            blocker = threading.Thread(
                target=lambda: blocked.append(_award_request(service, members[0]["citizen_id"])), daemon=True
            )
            blocker.start()
            _wait_for(lambda: _pool(url)[0] >= 1, SETTLE, "the staff award's transaction")
            claims = []
            for member in members:
                claim = client.post("/v1/claims", json=outing(), headers=member["headers"])
                assert claim.status_code == 201 and claim.json()["status"] == "approved", claim.text
                claims.append(claim.json())
            _rpc(url, "evm_mine")
            blocker.join(SETTLE)
        assert blocked and blocked[0].status_code == 201, blocked and blocked[0].text

        _wait_for(
            lambda: _outbox(service).get("signed", 0) == QUEUE and _pool(url)[0] == QUEUE,
            SETTLE,
            f"{QUEUE} award transactions in the pool",
        )
        signed = service.sql("SELECT nonce, raw FROM outbox WHERE status = 'signed' ORDER BY nonce, seq")
        lowest = signed[0][0]
        assert [nonce for nonce, _ in signed] == list(range(lowest, lowest + QUEUE)), signed
        # The node loses the lowest transaction. (anvil drops a transaction with every one after
        # it, so those are given back to it: they wait, queued, behind the missing nonce.)
        _rpc(url, "anvil_dropAllTransactions")
        for _, raw in signed[1:]:
            _rpc(url, "eth_sendRawTransaction", "0x" + bytes(raw).hex())
        assert _pool(url) == (0, QUEUE - 1), "no nonce gap was made"
        gap_made = time.monotonic()
        _rpc(url, "evm_setIntervalMining", 1)  # blocks keep coming; the queue waits behind the gap

        ids = [c["claim_id"] for c in claims]
        deadline = time.monotonic() + SETTLE + 30
        while True:
            statuses = dict(service.sql("SELECT id, status FROM activity_claims WHERE source = 'citizen'"))
            if all(statuses.get(i) == "AWARDED" for i in ids) and not _outbox(service).get("signed", 0):
                break
            assert time.monotonic() < deadline, (
                f"the queue behind the gap never moved: claims {statuses}, pool {_pool(url)}, "
                f"outbox {service.sql('SELECT nonce, status, intent FROM outbox ORDER BY nonce, seq')}\n"
                f"{service.log_tail()}"
            )
            time.sleep(0.2)
        healed = time.monotonic() - gap_made
    finally:
        stop.set()
        watcher.join(40)

    outbox = _outbox(service)
    mined = sorted(n for (n,) in service.sql("SELECT nonce FROM outbox WHERE status = 'mined'"))
    account = Account.from_key(ANVIL_DEV_KEY).address
    figures = {
        "queued": QUEUE,
        "gap_at_nonce": lowest,
        "filled_after_s": round(healed, 1),
        "gap_fillers": service.sql("SELECT count(*) FROM outbox WHERE intent = 'gap-filler'")[0][0],
        "outbox": outbox,
        "health": dict(health),
        "slowest_health_s": round(slowest[0], 2),
    }
    print("\nnonce gap in the pool:", json.dumps(figures))
    assert set(health) == {200}, health
    assert slowest[0] < 10, f"/v1/health took {slowest[0]:.1f}s"
    assert _pool(url) == (0, 0), "transactions left in the pool"
    assert mined == list(range(mined[0], mined[-1] + 1)), "every nonce is mined once"
    assert int(_rpc(url, "eth_getTransactionCount", account, "latest"), 16) == mined[-1] + 1
    rows = dict(service.sql("SELECT id, activity_id FROM activity_claims WHERE source = 'citizen'"))
    on_chain = Counter(a.activity_id for a in _awards_on_chain(service))
    assert all(on_chain[rows[c["claim_id"]]] == 1 for c in claims), (rows, on_chain)
    with service.client() as client:
        for member, claim in zip(members, claims, strict=True):
            extra = POINTS if member is members[0] else 0
            _statement(client, member["address"], claim["points"] + extra)


def _award_request(service: Service, citizen: str) -> httpx.Response:
    with service.client() as client:
        return client.post(
            "/v1/awards", json={"citizen": citizen, "points": POINTS, "reference": "blocker"}, headers=service.admin()
        )
