"""The node goes away under the running service, and comes back.

The service (a subprocess) runs against a real anvil whose state is kept in a file. While anvil
is down, writes that need the chain answer 503 ``chain_unavailable`` promptly (never 500, never a
hang), claims are still recorded, /v1/health says the chain is unavailable, and public
verification keeps answering from the service's index (with the block it is as of). Once anvil
is back on the same port with the same state, the same service process carries on by itself,
and every acknowledged award is on-chain exactly once.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
from eth_account import Account

from devtools.node import AnvilNode
from ledger import ActivityAward, AwardRecorded, Deployment, Ledger, LedgerSettings, connect
from ledger.errors import ChainUnavailable
from tests.helpers import outing

from .conftest import requires_anvil
from .harness import ANVIL_DEV_KEY, Service

pytestmark = requires_anvil

SEED = int(os.environ.get("CIVIC_FAULT_SEED", "8545"))
OUTAGES = 4
POINTS = 10
#: Between two awards of the stream.
PAUSE = 0.02
#: A request the node's absence makes fail must say so well within this many seconds.
PROMPT = 35.0
#: How long the service may take to catch up once the node is back (on a loaded machine).
SETTLE = 60.0


def _award(client: httpx.Client, service: Service, citizen: str, reference: str) -> httpx.Response:
    body = {"citizen": citizen, "points": POINTS, "reference": reference, "note": "system test"}
    return client.post("/v1/awards", json=body, headers=service.admin())


def _assert_unavailable(call: Callable[[], httpx.Response]) -> None:
    start = time.monotonic()
    response = call()
    elapsed = time.monotonic() - start
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "chain_unavailable", response.text
    assert elapsed < PROMPT, f"the answer took {elapsed:.1f}s"


def _verified(client: httpx.Client, address: str) -> dict[str, Any]:
    response = client.get(f"/v1/verify/citizens/{address}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _statement(client: httpx.Client, address: str, balance: int, timeout: float = SETTLE) -> dict[str, Any]:
    """The citizen's public statement once it shows ``balance``, adding up and verified (the
    index follows the chain a moment behind)."""
    deadline = time.monotonic() + timeout
    while True:
        body = _verified(client, address)
        if body["balance"] == balance == body["rebuilt_balance"] and body["consistent"] and body["verified"]:
            return body
        assert time.monotonic() < deadline, f"the statement never showed {balance} points, verified: {body}"
        time.sleep(0.2)


def _wait_until_awarded(client: httpx.Client, claim_id: int, auth: dict[str, str]) -> dict[str, Any]:
    deadline = time.monotonic() + SETTLE
    while True:
        claim = client.get(f"/v1/claims/{claim_id}", headers=auth)
        if claim.status_code == 200 and claim.json()["status"] == "awarded":
            body: dict[str, Any] = claim.json()
            return body
        assert time.monotonic() < deadline, f"the chain writer stopped awarding: {claim.text}"
        time.sleep(0.2)


def _outbox(service: Service) -> dict[str, int]:
    return {status: n for status, n in service.sql("SELECT status, count(*) FROM outbox GROUP BY status")}


def _wait_for_outbox_settled(service: Service) -> dict[str, int]:
    deadline = time.monotonic() + SETTLE
    while _outbox(service).get("signed", 0) and time.monotonic() < deadline:
        time.sleep(0.5)
    return _outbox(service)


def _awards_on_chain(service: Service) -> list[AwardRecorded]:
    """Every award on-chain, read from the node itself (not the service's index)."""
    return [r for r in service.chain_records() if isinstance(r, AwardRecorded)]


def test_service_node_away_for_a_while_keeps_answering_and_carries_on(node_service: Service) -> None:
    service = node_service
    assert service.process is not None and service.node is not None
    pid = service.process.pid
    with service.client() as client:
        member = service.enrol(client, "outage")
        before = [f"before-{i}" for i in range(5)]
        for reference in before:
            response = _award(client, service, member["citizen_id"], reference)
            assert response.status_code == 201, response.text
            assert response.json()["status"] == "awarded", response.text
        as_of = _statement(client, member["address"], POINTS * len(before))["as_of_block"]

        plogger = service.enrol(client, "plogger")

        service.node.stop()  # SIGTERM: anvil dumps its state file
        down_since = time.monotonic()
        _assert_unavailable(lambda: client.get("/v1/health"))
        # Verification answers from the service's index, as of the last block it indexed.
        started = time.monotonic()
        offline = _verified(client, member["address"])
        assert time.monotonic() - started < PROMPT
        assert offline["balance"] == POINTS * len(before) and offline["as_of_block"] == as_of, offline
        # A claim needs no chain to be recorded; the chain writer awards it later.
        claim = client.post("/v1/claims", json=outing(), headers=plogger["headers"])
        assert claim.status_code == 201, claim.text
        assert claim.json()["status"] == "approved", claim.text
        time.sleep(max(0.0, down_since + 2.0 - time.monotonic()))  # the writer tries meanwhile

        service.node.start()  # the same port, the same state file; the service is not restarted
        health = client.get("/v1/health")
        assert health.status_code == 200, health.text
        _statement(client, member["address"], POINTS * len(before))  # no acknowledged award was lost
        response = _award(client, service, member["citizen_id"], "after-0")
        assert response.status_code == 201, response.text
        verified = _statement(client, member["address"], POINTS * (len(before) + 1))
        awarded = _wait_until_awarded(client, claim.json()["claim_id"], plogger["headers"])
        assert _statement(client, plogger["address"], claim.json()["points"])["balance"] == awarded["points"]
    assert service.process.pid == pid and service.process.poll() is None, "the service itself was restarted"
    assert service.starts == 1
    ids = [a["activity_id"] for a in verified["activities"]]
    assert len(ids) == len(set(ids)) == len(before) + 1
    assert response.json()["activity_id"] in ids
    assert _wait_for_outbox_settled(service).get("signed", 0) == 0


def test_staff_award_node_down_answers_503_and_completes_on_retry(node_service: Service) -> None:
    service = node_service
    assert service.node is not None
    with service.client() as client:
        member = service.enrol(client, "outage")
        service.node.stop()
        try:
            _assert_unavailable(lambda: _award(client, service, member["citizen_id"], "during-0"))
        finally:
            service.node.start()
        response = _award(client, service, member["citizen_id"], "during-0")
        assert response.status_code == 201, response.text
        again = _award(client, service, member["citizen_id"], "during-0")
        assert again.status_code == 201, again.text
        verified = _statement(client, member["address"], POINTS)
    assert response.json()["activity_id"] == again.json()["activity_id"] is not None
    assert [a["activity_id"] for a in verified["activities"]] == [response.json()["activity_id"]]
    assert [(r.citizen, r.points) for r in _awards_on_chain(service)] == [(member["address"], POINTS)]


#: What a staff award may answer while the node comes and goes, besides 201: 503
#: chain_unavailable (nothing was sent, or the node vanished under it) and 202 (the chain work
#: goes on past the request's wait). A retry with the same reference finds the award.
UNACKNOWLEDGED = {202, 503}


@dataclass
class Stream:
    """Staff awards sent one after another from a thread, round-robin over ``citizens``."""

    service: Service
    citizens: list[str]  # citizen ids
    stop: threading.Event = field(default_factory=threading.Event)
    #: reference -> (citizen, status codes answered in order; 0 for a dropped connection)
    answers: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)  # reference -> activity id answered
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    slowest: float = 0.0

    def send(self, client: httpx.Client, reference: str, citizen: str) -> int:
        self.requests += 1
        codes = self.answers.setdefault(reference, (citizen, []))[1]
        start = time.monotonic()
        try:
            response = _award(client, self.service, citizen, reference)
        except httpx.TimeoutException:
            self.errors.append(f"{reference}: no answer within {time.monotonic() - start:.1f}s")
            codes.append(0)
            return 0
        except httpx.TransportError as exc:
            self.errors.append(f"{reference}: the connection dropped: {exc!r}")
            codes.append(0)
            return 0
        self.slowest = max(self.slowest, time.monotonic() - start)
        codes.append(response.status_code)
        if response.status_code == 201:
            activity_id = response.json()["activity_id"]
            if activity_id is None:
                self.errors.append(f"{reference}: acknowledged without an activity id: {response.text}")
            else:
                self.acked[reference] = activity_id
        elif response.status_code not in UNACKNOWLEDGED:
            self.errors.append(f"{reference}: {response.status_code} {response.text}")
        elif response.status_code == 503 and response.json()["error"]["code"] != "chain_unavailable":
            self.errors.append(f"{reference}: {response.text}")
        elif response.status_code == 503 and time.monotonic() - start > PROMPT:
            self.errors.append(f"{reference}: 503 after {time.monotonic() - start:.1f}s")
        return response.status_code

    def run(self) -> None:
        with self.service.client() as client:
            n = 0
            while not self.stop.is_set():
                self.send(client, f"stream-{n}", self.citizens[n % len(self.citizens)])
                n += 1
                time.sleep(PAUSE)


def test_staff_awards_node_restarted_mid_stream_each_on_chain_exactly_once(node_service: Service) -> None:
    service = node_service
    assert service.process is not None and service.node is not None
    pid = service.process.pid
    rng = random.Random(SEED)
    with service.client() as client:
        members = [service.enrol(client, f"member {i}") for i in range(6)]
    stream = Stream(service, [m["citizen_id"] for m in members])
    sender = threading.Thread(target=stream.run, daemon=True)
    sender.start()
    for _ in range(OUTAGES):
        time.sleep(rng.uniform(0.3, 1.2))
        service.node.stop()
        time.sleep(rng.uniform(0.2, 1.5))
        service.node.start()
    time.sleep(3.0)  # the stream carries on against the restarted node
    stream.stop.set()
    sender.join(90)
    assert not sender.is_alive(), "a request hung"

    unacked = [ref for ref in stream.answers if ref not in stream.acked]
    first_acked = len(stream.acked)
    status_counts: Counter[int] = Counter(code for _, codes in stream.answers.values() for code in codes)
    answered_in_stream = {reference: len(codes) for reference, (_, codes) in stream.answers.items()}
    with service.client() as client:
        for reference in unacked:
            citizen = stream.answers[reference][0]
            deadline = time.monotonic() + SETTLE
            while stream.send(client, reference, citizen) != 201 and time.monotonic() < deadline:
                time.sleep(0.5)

        deadline = time.monotonic() + SETTLE
        while time.monotonic() < deadline:
            pending = service.sql("SELECT count(*) FROM activity_claims WHERE status != 'AWARDED'")[0][0]
            if not pending and not _outbox(service).get("signed", 0):
                break
            time.sleep(0.5)
        expected = Counter(citizen for citizen, _ in stream.answers.values())
        statements = {
            m["citizen_id"]: _statement(client, m["address"], POINTS * expected[m["citizen_id"]]) for m in members
        }

    outbox = _outbox(service)
    rows = service.sql("SELECT reference, activity_id, status FROM activity_claims")
    on_chain = _awards_on_chain(service)
    on_chain_ids = Counter(a.activity_id for a in on_chain)
    row_ids = {reference: activity_id for reference, activity_id, _ in rows}
    report = {
        "requests": stream.requests,
        "outages": OUTAGES,
        "answers_in_stream": dict(sorted(status_counts.items())),
        "acknowledged_in_stream": first_acked,
        "retried": len(unacked),
        "answers_to_retries": dict(
            sorted(
                Counter(
                    code for ref, (_, codes) in stream.answers.items() for code in codes[answered_in_stream[ref] :]
                ).items()
            )
        ),
        "awards": len(stream.answers),
        "on_chain": len(on_chain),
        # An acknowledged activity id that is not on-chain.
        "lost": len(set(stream.acked.values()) - set(on_chain_ids)),
        # A second award of one activity id, an award no stored claim names (a claim sent twice
        # under two ids), or a second stored claim for one reference.
        "duplicated": sum(n - 1 for n in on_chain_ids.values())
        + len(set(on_chain_ids) - set(row_ids.values()))
        + max(0, len(rows) - len(stream.answers)),
        # Transactions an outage caught between recording and broadcasting, or before their
        # receipt: each had to be sent again from the outbox.
        "stranded": service.log.read_text(errors="replace").count("it stays queued"),
        "slowest_answer_s": round(stream.slowest, 2),
        "outbox": outbox,
    }
    print("\nnode restarted mid-stream:", json.dumps(report))
    assert not stream.errors, stream.errors  # no 500, no hang, no other failure
    assert set(stream.acked) == set(stream.answers), "an award could not be retried to completion"
    assert report["lost"] == 0 and report["duplicated"] == 0, report
    assert {ref: row_ids[ref] for ref in stream.acked} == stream.acked, (
        "an award's activity id changed after it was answered"
    )
    assert len(on_chain) == len(stream.answers) == len(rows)
    for member in members:
        statement = statements[member["citizen_id"]]
        count = expected[member["citizen_id"]]
        assert statement["balance"] == POINTS * count and statement["consistent"], member["citizen_id"]
        assert len(statement["activities"]) == count
    assert all(status == "AWARDED" for _, _, status in rows), Counter(status for _, _, status in rows)
    assert outbox.get("signed", 0) == 0, "a recorded transaction was never re-sent"
    assert service.process.pid == pid and service.process.poll() is None and service.starts == 1


# ---------------------------------------------------------------------- the ledger on its own


@pytest.fixture
def node_deployment(node: AnvilNode) -> Iterator[tuple[AnvilNode, Deployment]]:
    """The contracts deployed on ``node`` by anvil's development account."""
    chain = connect(LedgerSettings(rpc_url=node.url))
    ledger = Ledger.deploy(chain, Account.from_key(ANVIL_DEV_KEY))
    yield node, ledger.deployment


def test_send_after_a_transaction_recorded_but_not_broadcast_sends_it_first(
    node_deployment: tuple[AnvilNode, Deployment], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node vanishes between recording a transaction and broadcasting it: its nonce is taken
    but the node never saw it. The next write must send it first, or wait behind it for ever."""
    node, deployment = node_deployment
    chain = connect(LedgerSettings(rpc_url=node.url))
    ledger = Ledger(chain, deployment, Account.from_key(ANVIL_DEV_KEY), receipt_timeout=10)
    citizen = Account.create().address
    first_nonce = ledger.chain.nonce(ledger.address)
    sent = chain._w3.eth.send_raw_transaction

    def vanished(raw: object) -> object:
        monkeypatch.setattr(chain._w3.eth, "send_raw_transaction", sent)  # back for the next one
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(chain._w3.eth, "send_raw_transaction", vanished)
    with pytest.raises(ChainUnavailable):
        ledger.award_points([ActivityAward(1, citizen, 30)], intent="first")
    outbox = ledger._sender.outbox
    assert [(e.nonce, e.status) for e in outbox.unsettled(ledger.address)] == [(first_nonce, "signed")]
    assert ledger.chain.nonce(ledger.address, "pending") == first_nonce, "the node never saw it"

    start = time.monotonic()
    ledger.award_points([ActivityAward(2, citizen, 20)], intent="second")
    assert time.monotonic() - start < 5, "the next write waited behind the unsent transaction"
    assert [(e.nonce, e.status) for e in outbox.for_intent("first")] == [(first_nonce, "mined")]
    assert [(e.nonce, e.status) for e in outbox.for_intent("second")] == [(first_nonce + 1, "mined")]
    assert outbox.unsettled(ledger.address) == []
    assert ledger.balance_of(citizen) == 50
    assert sorted(r.activity_id for r in ledger.history(citizen) if isinstance(r, AwardRecorded)) == [1, 2]


def test_writes_node_down_raise_chain_unavailable_and_record_nothing(
    node_deployment: tuple[AnvilNode, Deployment],
) -> None:
    """Every write the node's absence stops says so with ChainUnavailable (what the service
    answers as 503 chain_unavailable), whichever node request it was making, and records nothing;
    once the node is back the same write goes through."""
    node, deployment = node_deployment
    ledger = Ledger(connect(LedgerSettings(rpc_url=node.url)), deployment, Account.from_key(ANVIL_DEV_KEY))
    citizen = Account.create().address
    node.stop()
    try:
        with pytest.raises(ChainUnavailable):
            ledger.award_points([ActivityAward(1, citizen, 30)], intent="award")
        with pytest.raises(ChainUnavailable):
            ledger.set_limits(1_000, 3_000, intent="limits")
    finally:
        node.start()
    assert ledger._sender.outbox.unsettled(ledger.address) == []
    ledger.award_points([ActivityAward(1, citizen, 30)], intent="award")
    assert ledger.balance_of(citizen) == 30
