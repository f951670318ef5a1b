"""The node goes away under the running service, and comes back.

The service (a subprocess) runs against a real anvil whose state is kept in a file. While anvil
is down, requests that need the chain answer 503 ``chain_unavailable`` promptly (never 500, never
a hang); once anvil is back on the same port with the same state, the same service process
carries on by itself, and every acknowledged award is on-chain exactly once.
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import requests
from eth_account import Account

from ledger import ActivityAward
from ledger.errors import ChainUnavailable
from ledger.outbox import MemoryOutbox

from .conftest import Chain, NodeService, requires_anvil

pytestmark = requires_anvil

SEED = int(os.environ.get("CIVIC_FAULT_SEED", "8545"))
OUTAGES = 4
POINTS = 10
#: Between two awards of the stream.
PAUSE = 0.02
#: A request the node's absence makes fail must say so well within this many seconds.
PROMPT = 35.0
#: The service's background award batch runs this often (create_app's default).
AWARD_INTERVAL = 2.0


def _award(client: httpx.Client, service: NodeService, citizen: str, reference: str) -> httpx.Response:
    body = {"citizen": citizen, "points": POINTS, "reference": reference, "note": "system test"}
    return client.post("/v1/awards", json=body, headers=service.headers())


def _assert_unavailable(call: Callable[[], httpx.Response]) -> None:
    start = time.monotonic()
    response = call()
    elapsed = time.monotonic() - start
    assert response.status_code == 503, response.text
    assert response.json()["error"]["code"] == "chain_unavailable", response.text
    assert elapsed < PROMPT, f"the answer took {elapsed:.1f}s"


def _outing() -> dict[str, object]:
    """A plausible plogging outing that ended an hour ago: 5 km, 6,500 steps, 150 g of litter."""
    end = datetime.now(UTC) - timedelta(hours=1)
    return {
        "started_at": (end - timedelta(hours=1)).isoformat(),
        "ended_at": end.isoformat(),
        "distance_meters": 5_000,
        "duration_seconds": 3_600,
        "steps": 6_500,
        "litter_grams": 150,
        "photo_hash": "0x" + "a1" * 32,
        "track_hash": "0x" + "b2" * 32,
    }


def _verified(client: httpx.Client, citizen: str) -> dict:
    response = client.get(f"/v1/verify/citizens/{citizen}")
    assert response.status_code == 200, response.text
    body: dict = response.json()
    return body


def _wait_until_awarded(client: httpx.Client, activity_id: int, auth: dict[str, str]) -> None:
    deadline = time.monotonic() + AWARD_INTERVAL * 5
    while True:
        claim = client.get(f"/v1/claims/{activity_id}", headers=auth)
        if claim.json()["status"] == "awarded":
            return
        assert time.monotonic() < deadline, f"the background batch stopped awarding: {claim.text}"
        time.sleep(0.2)


def test_node_unreachable_for_a_while(service: NodeService) -> None:
    assert service.process is not None
    pid = service.process.pid
    with service.client() as client:
        citizen = service.create_citizen(client, "outage")
        before = [f"before-{i}" for i in range(5)]
        for reference in before:
            response = _award(client, service, citizen, reference)
            assert response.status_code == 201, response.text
        assert _verified(client, citizen)["balance"] == POINTS * len(before)

        plogger = service.enrol(client, "plogger")
        plogger_auth = {"Authorization": f"Bearer {plogger['session_token']}"}

        service.node.stop()  # SIGTERM: anvil dumps its state file
        down_since = time.monotonic()
        _assert_unavailable(lambda: client.get(f"/v1/verify/citizens/{citizen}"))
        _assert_unavailable(lambda: client.get("/v1/health"))
        # A claim needs no chain to be recorded; the background batch awards it later.
        claim = client.post("/v1/claims", json=_outing(), headers=plogger_auth)
        assert claim.status_code == 201 and claim.json()["status"] == "approved", claim.text
        time.sleep(max(0.0, down_since + AWARD_INTERVAL * 2 - time.monotonic()))  # the batch runs meanwhile

        service.node.start()  # the same port, the same state file; the service is not restarted
        health = client.get("/v1/health")
        assert health.status_code == 200, health.text
        assert _verified(client, citizen)["balance"] == POINTS * len(before), "an acknowledged award was lost"
        response = _award(client, service, citizen, "after-0")
        assert response.status_code == 201, response.text
        verified = _verified(client, citizen)
        _wait_until_awarded(client, claim.json()["activity_id"], plogger_auth)
        assert _verified(client, plogger["address"])["balance"] == claim.json()["points"]
    assert service.process.pid == pid and service.process.poll() is None, "the service itself was restarted"
    ids = [a["activity_id"] for a in verified["activities"]]
    assert len(ids) == len(set(ids)) == len(before) + 1
    assert verified["balance"] == POINTS * (len(before) + 1) and verified["consistent"]
    assert service.outbox().get("signed", 0) == 0


def test_award_while_node_down_answers_503_and_completes_on_retry(service: NodeService) -> None:
    with service.client() as client:
        citizen = service.create_citizen(client, "outage")
        service.node.stop()
        _assert_unavailable(lambda: _award(client, service, citizen, "during-0"))
        service.node.start()
        response = _award(client, service, citizen, "during-0")
        assert response.status_code == 201, response.text
        verified = _verified(client, citizen)
    assert [a["activity_id"] for a in verified["activities"]] == [response.json()["activity_id"]]
    assert verified["balance"] == POINTS


#: What a staff award may answer while the node comes and goes: 201, or 503 chain_unavailable.
#: While the node is away a write answers 503 chain_unavailable; nothing else is acceptable.
UNACKNOWLEDGED = {503}


@dataclass
class Stream:
    """Staff awards sent one after another from a thread, round-robin over ``citizens``."""

    service: NodeService
    citizens: list[str]
    stop: threading.Event = field(default_factory=threading.Event)
    #: reference -> (citizen, status codes answered in order; 0 for a dropped connection)
    answers: dict[str, tuple[str, list[int]]] = field(default_factory=dict)
    acked: dict[str, int] = field(default_factory=dict)  # reference -> activity id
    errors: list[str] = field(default_factory=list)
    requests: int = 0

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
        except httpx.TransportError:
            codes.append(0)
            return 0
        codes.append(response.status_code)
        if response.status_code == 201:
            self.acked[reference] = response.json()["activity_id"]
        elif response.status_code not in UNACKNOWLEDGED:
            self.errors.append(f"{reference}: {response.status_code} {response.text}")
        elif response.status_code == 503 and response.json()["error"]["code"] != "chain_unavailable":
            self.errors.append(f"{reference}: {response.text}")
        return response.status_code

    def run(self) -> None:
        with self.service.client() as client:
            n = 0
            while not self.stop.is_set():
                self.send(client, f"stream-{n}", self.citizens[n % len(self.citizens)])
                n += 1
                time.sleep(PAUSE)  # failures are instant: keep every citizen under the daily cap


def test_node_restarted_mid_batch(service: NodeService) -> None:
    rng = random.Random(SEED)
    with service.client() as client:
        citizens = [service.create_citizen(client, f"member {i}") for i in range(6)]
    stream = Stream(service, citizens)
    sender = threading.Thread(target=stream.run, daemon=True)
    sender.start()
    for _ in range(OUTAGES):
        time.sleep(rng.uniform(0.3, 1.2))
        service.node.stop()
        time.sleep(rng.uniform(0.2, 1.5))
        service.node.start()
    time.sleep(3.0)  # the stream carries on against the restarted node
    stream.stop.set()
    sender.join(60)
    assert not sender.is_alive(), "a request hung"

    unacked = [ref for ref in stream.answers if ref not in stream.acked]
    first_acked = len(stream.acked)
    status_counts: dict[int, int] = {}
    for _, codes in stream.answers.values():
        for code in codes:
            status_counts[code] = status_counts.get(code, 0) + 1
    with service.client() as client:
        for reference in unacked:
            citizen = stream.answers[reference][0]
            for _ in range(20):
                if stream.send(client, reference, citizen) == 201:
                    break
                time.sleep(0.5)
        verified = {c: _verified(client, c) for c in citizens}

    deadline = time.monotonic() + 10
    while service.outbox().get("signed", 0) and time.monotonic() < deadline:
        time.sleep(0.5)
    outbox = service.outbox()
    rows = service.claim_rows()
    on_chain = [a["activity_id"] for v in verified.values() for a in v["activities"]]
    report = {
        "requests": stream.requests,
        "outages": OUTAGES,
        "answers_in_stream": status_counts,
        "acknowledged_in_stream": first_acked,
        "retried": len(unacked),
        "awards": len(stream.answers),
        "on_chain": len(on_chain),
        "lost": len(set(stream.acked.values()) - set(on_chain)),
        "duplicated": len(on_chain) - len(set(on_chain)) + max(0, len(rows) - len(stream.answers)),
        # Transactions an outage caught between recording and broadcasting, or before their
        # receipt: each had to be sent again from the outbox.
        "stranded": service.log.read_text(errors="replace").count("it stays queued"),
        "outbox": outbox,
    }
    print("\nnode restarted mid-batch:", json.dumps(report))
    assert not stream.errors, stream.errors
    assert set(stream.acked) == set(stream.answers), "an award could not be retried to completion"
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert len(on_chain) == len(stream.answers) == len(rows)
    for citizen, v in verified.items():
        count = sum(1 for c, _ in stream.answers.values() if c == citizen)
        assert v["balance"] == POINTS * count and v["consistent"], citizen
    assert all(status == "AWARDED" for _, _, status, _ in rows)
    assert outbox.get("signed", 0) == 0, "a recorded transaction was never re-sent"


def test_transaction_recorded_but_not_broadcast_is_sent_before_the_next_one(
    chain: Chain, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The node vanishes between recording a transaction and broadcasting it: its nonce is taken
    but the node never saw it. The next write must send it first, or wait behind it for ever."""
    ledger = chain.ledger(receipt_timeout=10)
    citizen = Account.create().address
    first_nonce = chain.w3.eth.get_transaction_count(ledger.tx.address, "latest")
    sent = chain.w3.eth.send_raw_transaction

    def vanished(raw: object) -> object:
        monkeypatch.setattr(chain.w3.eth, "send_raw_transaction", sent)  # back for the next one
        raise requests.ConnectionError("connection refused")

    monkeypatch.setattr(chain.w3.eth, "send_raw_transaction", vanished)
    with pytest.raises(ChainUnavailable):
        ledger.award_points(ActivityAward(1, citizen, 30))
    outbox = ledger.tx.outbox
    assert isinstance(outbox, MemoryOutbox)
    assert [(e.nonce, e.status) for e in outbox.entries.values()] == [(first_nonce, "signed")]

    start = time.monotonic()
    ledger.award_points(ActivityAward(2, citizen, 20))
    assert time.monotonic() - start < 5, "the next write waited behind the unsent transaction"
    assert sorted((e.nonce, e.status) for e in outbox.entries.values()) == [
        (first_nonce, "mined"),
        (first_nonce + 1, "mined"),
    ]
    assert ledger.balance_of(citizen) == 50
    assert sorted(a.activity_id for a in ledger.activities_of(citizen)) == [1, 2]
