"""Exactly once across a crash, on a real node: the service is frozen the moment its
transaction is in the node's pool, the block is mined under it, and it is killed before it can
answer. The client retries with the same Idempotency-Key against the restarted service: a
redemption spends once, a multi-chunk issuance issues each badge once, an event creation creates
one event. The effect on-chain, not the HTTP key, is the unit of exactly-once."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from ledger import BadgeIssued, EventCreated, PointsRedeemed

from .conftest import requires_anvil
from .harness import Service

pytestmark = requires_anvil

CHUNK = 40


def _rpc(node_url: str, method: str, *params: Any) -> Any:
    answer = httpx.post(
        node_url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}, timeout=10
    )
    return answer.json().get("result")


def _pending(node_url: str) -> int:
    status = _rpc(node_url, "txpool_status") or {}
    return int(status.get("pending", "0x0"), 16)


def _crash_after_mining(service: Service, request: Callable[[], httpx.Response], transactions: int = 1) -> None:
    """Sends ``request``; once ``transactions`` of its transactions are in the node's pool, the
    service is frozen, the block mined, and the service killed: it never answers."""
    url = service.node.url  # type: ignore[union-attr]
    _rpc(url, "evm_setAutomine", False)
    answered: list[Any] = []

    def send() -> None:
        try:
            answered.append(request())
        except httpx.HTTPError as exc:
            answered.append(exc)

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while _pending(url) < transactions:
        assert time.monotonic() < deadline, f"no transaction reached the pool:\n{service.log_tail()}"
        time.sleep(0.02)
    service.freeze()
    _rpc(url, "evm_mine")
    service.kill()
    _rpc(url, "evm_setAutomine", True)
    thread.join(10)
    assert not any(isinstance(a, httpx.Response) and a.status_code < 300 for a in answered), (
        "it answered before the crash"
    )


def _retry(service: Service, request: Callable[[httpx.Client], httpx.Response]) -> httpx.Response:
    """The client's retry with the same key: 409 "in progress" while the killed process's
    liveness lease lapses (a few seconds), then the answer."""
    with service.client() as client:
        deadline = time.monotonic() + 60
        while True:
            response = request(client)
            if response.status_code not in (409, 202) or time.monotonic() > deadline:
                return response
            if response.status_code == 409 and response.json()["error"]["code"] != "idempotency_key_in_use":
                return response
            time.sleep(0.5)


@pytest.fixture
def crash_service(tmp_path: Any, node: Any) -> Any:
    yield from Service(tmp_path / "service", node=node, env_extra={"CIVIC_AWARD_BATCH_SIZE": str(CHUNK)}).running()


def test_redemption_issuance_and_event_creation_happen_once_across_a_crash(crash_service: Service) -> None:
    service = crash_service
    with service.client() as client:
        citizen = service.enrol(client, "redeemer")
        awarded = client.post(
            "/v1/awards",
            json={"citizen": citizen["citizen_id"], "points": 300, "reference": "season-bonus"},
            headers=service.admin(),
        )
        assert awarded.status_code == 201, awarded.text
        reward = client.post("/v1/rewards", json={"title": "Bus day pass", "cost": 100}, headers=service.admin())
        event = client.post(
            "/v1/events",
            json={"title": "Green Talk Talk", "venue": "metaverse", "claim_start": 0, "claim_end": 2**34},
            headers=service.admin(),
        ).json()
    attendees = [f"0x{i:040x}" for i in range(1, 101)]

    # 1. A custodial citizen's redemption (the city signs the consent for them).
    def redeem(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/v1/redemptions",
            json={"reward_id": reward.json()["reward_id"]},
            headers={**citizen["headers"], "Idempotency-Key": "redeem-once"},
        )

    _crash_after_mining(service, lambda: redeem(service.client()))
    service.start()
    retried = _retry(service, redeem)
    assert retried.status_code == 201, retried.text
    assert retried.json()["balance"] == 200

    # 2. A 100-attendee issuance in chunks of 40: killed after the first chunk was mined.
    def issue(client: httpx.Client) -> httpx.Response:
        return client.post(
            f"/v1/events/{event['event_id']}/badges",
            json={"attendees": attendees},
            headers=service.admin(**{"Idempotency-Key": "issue-once"}),
        )

    _crash_after_mining(service, lambda: issue(service.client()))
    service.start()
    retried = _retry(service, issue)
    assert retried.status_code == 200, retried.text
    assert retried.json()["issued"] == 100, retried.json()

    # 3. An event creation.
    def create(client: httpx.Client) -> httpx.Response:
        return client.post(
            "/v1/events",
            json={"title": "Chairs meeting", "venue": "physical", "claim_start": 0, "claim_end": 2**34},
            headers=service.admin(**{"Idempotency-Key": "create-once"}),
        )

    _crash_after_mining(service, lambda: create(service.client()))
    service.start()
    retried = _retry(service, create)
    assert retried.status_code == 201, retried.text

    service.stop()
    records = service.chain_records()
    redemptions = [r for r in records if isinstance(r, PointsRedeemed)]
    assert [(r.citizen, r.points) for r in redemptions] == [(citizen["address"], 100)], "one redemption of 100"
    minted = [r.attendee.lower() for r in records if isinstance(r, BadgeIssued) and r.event_id == event["event_id"]]
    assert sorted(minted) == sorted(a.lower() for a in attendees), "each attendee's badge exactly once"
    created = [r for r in records if isinstance(r, EventCreated)]
    assert len(created) == 2, "the first event and one 'Chairs meeting'"
    figures = {
        "redemptions": len(redemptions),
        "badges": len(minted),
        "events": len(created),
        "service starts": service.starts,
    }
    print(f"\nexactly-once across crashes: {figures}")


def test_unreachable_node_fails_fast_when_nothing_was_sent(crash_service: Service) -> None:
    """A write that never reached the node answers 503 and can simply be retried."""
    service = crash_service
    service.node.stop()  # type: ignore[union-attr]
    try:
        with service.client() as client:
            refused = client.post(
                "/v1/events",
                json={"title": "Offline", "venue": "physical", "claim_start": 0, "claim_end": 2**34},
                headers=service.admin(**{"Idempotency-Key": "offline"}),
            )
            assert refused.status_code == 503, refused.text
            assert refused.json()["error"]["code"] == "chain_unavailable"
    finally:
        service.node.start()  # type: ignore[union-attr]
    with service.client() as client:
        deadline = time.monotonic() + 60
        while True:
            retried = client.post(
                "/v1/events",
                json={"title": "Offline", "venue": "physical", "claim_start": 0, "claim_end": 2**34},
                headers=service.admin(**{"Idempotency-Key": "offline"}),
            )
            if retried.status_code == 201 or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert retried.status_code == 201, retried.text
