"""Retries against a real node: a client that gives up and tries again with its Idempotency-Key
gets one record; a transaction stuck in the pool is replaced at its nonce with a fee bump and
mined once; a nonce gap is reported."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
from eth_account import Account

from ledger import ActivityAward, Ledger
from ledger.errors import ChainUnavailable
from ledger.outbox import MemoryOutbox, OutboxEntry

from .conftest import Chain, NodeService, requires_anvil

pytestmark = requires_anvil

POINTS = 10
#: So short that the client always gives up before the service has answered.
IMPATIENT = httpx.Timeout(5.0, read=0.01)


def test_retry_with_the_same_idempotency_key_after_a_client_timeout_makes_one_record(service: NodeService) -> None:
    with service.client() as client:
        citizen = service.create_citizen(client, "impatient")
    awards = [f"impatient-{i}" for i in range(5)]
    timeouts = in_use = attempts = 0
    answers: dict[str, dict] = {}
    for reference in awards:
        body = {"citizen": citizen, "points": POINTS, "reference": reference}
        headers = service.headers(**{"Idempotency-Key": f"key-{reference}"})
        with httpx.Client(base_url=service.base, timeout=IMPATIENT) as impatient:
            attempts += 1
            try:
                impatient.post("/v1/awards", json=body, headers=headers)
            except httpx.TimeoutException:
                timeouts += 1  # the client gave up; the service carries on with the request
        with service.client() as client:
            deadline = time.monotonic() + 30
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
        verified = client.get(f"/v1/verify/citizens/{citizen}").json()
    rows = service.claim_rows()
    on_chain = [a["activity_id"] for a in verified["activities"]]
    print(
        "\nretried after client timeouts:",
        json.dumps({"requests": attempts, "client_timeouts": timeouts, "in_use_409": in_use, "awards": len(awards)}),
    )
    assert timeouts == len(awards), "the client did not give up first: nothing was tested"
    assert sorted(on_chain) == sorted(a["activity_id"] for a in answers.values())
    assert len(on_chain) == len(set(on_chain)) == len(awards)
    assert verified["balance"] == POINTS * len(awards)
    assert sorted(ref for _, ref, _, _ in rows) == sorted(awards), "one store record per award"
    assert all(status == "AWARDED" for _, _, status, _ in rows)
    assert service.outbox() == {"mined": len(awards)}


def _send_in_thread(ledger: Ledger, award: ActivityAward) -> tuple[threading.Thread, dict[str, Any]]:
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = ledger.award_points(award)
        except Exception as exc:  # reported to the test
            outcome["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def _entries(ledger: Ledger) -> list[OutboxEntry]:
    outbox = ledger.tx.outbox
    assert isinstance(outbox, MemoryOutbox)
    return list(outbox.entries.values())


def test_stuck_transaction_is_replaced_with_a_fee_bump_and_mined_once(chain: Chain) -> None:
    ledger = chain.ledger(replace_after=0.5, receipt_timeout=20)
    citizen = Account.create().address
    chain.automine(False)
    try:
        thread, outcome = _send_in_thread(ledger, ActivityAward(1, citizen, 40))
        time.sleep(1.5)  # two or three fee bumps while nothing is mined
        chain.mine()
        thread.join(25)
    finally:
        chain.automine(True)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome
    entries = _entries(ledger)
    statuses = sorted(e.status for e in entries)
    assert statuses.count("mined") == 1 and statuses.count("replaced") >= 1, statuses
    assert set(statuses) == {"mined", "replaced"}, statuses
    assert len({e.nonce for e in entries}) == 1
    mined = next(e for e in entries if e.status == "mined")
    assert mined.tx_hash == outcome["result"].tx_hash
    assert ledger.balance_of(citizen) == 40
    assert [a.activity_id for a in ledger.activities_of(citizen)] == [1]


def test_node_restarted_while_a_transaction_is_being_replaced(chain: Chain) -> None:
    """The node goes away after fee bumps were recorded: resume settles the nonce once, whichever
    of its transactions the restarted node mines, instead of waiting for the others for ever."""
    ledger = chain.ledger(replace_after=0.5, receipt_timeout=10)
    citizen = Account.create().address
    chain.automine(False)
    thread, outcome = _send_in_thread(ledger, ActivityAward(2, citizen, 40))
    time.sleep(1.2)
    chain.node.stop()  # the pending pool goes with it
    thread.join(15)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), ChainUnavailable), outcome
    assert len(_entries(ledger)) >= 2  # the original and at least one replacement, none settled
    chain.node.start()  # automining again
    start = time.monotonic()
    receipts = ledger.tx.resume()
    took = time.monotonic() - start
    assert len(receipts) == 1 and receipts[0]["status"] == 1
    assert took < 5, f"resume waited {took:.1f}s for a transaction that could never be mined"
    statuses = sorted(e.status for e in _entries(ledger))
    assert statuses.count("mined") == 1 and set(statuses) == {"mined", "replaced"}, statuses
    assert ledger.balance_of(citizen) == 40
    assert [a.activity_id for a in ledger.activities_of(citizen)] == [2]


def test_nonce_gap_is_reported(chain: Chain) -> None:
    ledger = chain.ledger()
    account = chain.node.dev_account()
    expected = chain.w3.eth.get_transaction_count(account.address, "latest")
    assert ledger.tx.nonce_gap() is None
    # A transaction signed and recorded for the nonce after next: the one before it was lost.
    fees = {"maxFeePerGas": 10 * 10**9, "maxPriorityFeePerGas": 10**9}
    award = ActivityAward(3, Account.create().address, 10)
    tx = ledger.points.functions.awardPoints(award.as_tuple()).build_transaction(
        {"from": account.address, "nonce": expected + 1, "gas": 300_000, "chainId": ledger.tx.chain_id, **fees}
    )
    signed = account.sign_transaction(tx)
    ledger.tx.outbox.record(
        OutboxEntry(account.address, expected + 1, signed.hash.to_0x_hex(), bytes(signed.raw_transaction))
    )
    assert ledger.tx.nonce_gap() == (expected, expected + 1)
