"""A crowd at the venue: 50 citizens claim a badge and redeem a reward at the same moment, on
the embedded chain and on anvil. No answer is a 500, every answer agrees with the chain, the
city's nonces have no gap, and /v1/health keeps answering throughout."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from .conftest import requires_anvil
from .harness import Service

CROWD = 50


@pytest.fixture(params=["embedded", pytest.param("anvil", marks=requires_anvil)])
def crowd_service(request: pytest.FixtureRequest, tmp_path: Any) -> Any:
    node = request.getfixturevalue("node") if request.param == "anvil" else None
    yield from Service(tmp_path / "service", node=node, demo=False).running()


def test_fifty_citizens_claim_and_redeem_at_once(crowd_service: Service) -> None:
    service = crowd_service
    with service.client() as client:
        event = client.post(
            "/v1/events",
            json={"title": "Crowded plogging day", "venue": "physical", "claim_start": 0, "claim_end": 2**34},
            headers=service.admin(),
        ).json()
        reward = client.post("/v1/rewards", json={"title": "Tumbler", "cost": 20}, headers=service.admin()).json()
        citizens = [service.enrol(client, f"crowd-{i}") for i in range(CROWD)]
        for i, citizen in enumerate(citizens):
            awarded = client.post(
                "/v1/awards",
                json={"citizen": citizen["citizen_id"], "points": 30, "reference": f"crowd-{i}"},
                headers=service.admin(),
            )
            assert awarded.status_code == 201, awarded.text
        codes = [
            client.post(f"/v1/events/{event['event_id']}/claim-codes", headers=service.admin()).json()["code"]
            for _ in range(5)
        ]

    health: Counter[int] = Counter()
    slowest = [0.0]
    stop = threading.Event()

    def watch_health() -> None:
        with service.client(timeout=30) as watcher:
            while not stop.is_set():
                started = time.monotonic()
                health[watcher.get("/v1/health").status_code] += 1
                slowest[0] = max(slowest[0], time.monotonic() - started)
                time.sleep(0.1)

    def act(i: int) -> list[httpx.Response]:
        citizen = citizens[i]
        with service.client(timeout=120) as own:
            badge = own.post("/v1/badges/claim", json={"code": codes[i % len(codes)]}, headers=citizen["headers"])
            redeemed = own.post("/v1/redemptions", json={"reward_id": reward["reward_id"]}, headers=citizen["headers"])
        return [badge, redeemed]

    watcher = threading.Thread(target=watch_health, daemon=True)
    watcher.start()
    with ThreadPoolExecutor(max_workers=CROWD) as pool:
        answers = list(pool.map(act, range(CROWD)))
    stop.set()
    watcher.join(10)

    statuses = Counter(r.status_code for pair in answers for r in pair)
    assert statuses == Counter({201: 2 * CROWD}), {s: n for s, n in statuses.items()} | {
        "sample": [r.text for pair in answers for r in pair if r.status_code != 201][:3]
    }
    assert set(health) == {200}, health
    with service.client() as client:
        for citizen, (badge, redeemed) in zip(citizens, answers, strict=True):
            statement = client.get(f"/v1/verify/citizens/{citizen['address']}").json()
            assert statement["verified"] is True, statement["checks"]
            assert statement["balance"] == 10 == redeemed.json()["balance"]
            assert [r["action"] for r in statement["records"]] == ["award", "badge_issued", "redemption"]
            issued = next(r for r in statement["records"] if r["action"] == "badge_issued")
            assert issued["ref"]["tx_hash"] == badge.json()["ref"]["tx_hash"]
            assert (
                next(r for r in statement["records"] if r["action"] == "redemption")["ref"]["tx_hash"]
                == redeemed.json()["tx_hash"]
            )
    service.stop()
    nonces = sorted(n for (n,) in service.sql("SELECT nonce FROM outbox WHERE status = 'mined'"))
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces))), "the city's nonces are contiguous"
    assert service.sql("SELECT count(*) FROM outbox WHERE status = 'signed'") == [(0,)]
    print(
        f"\ncrowd of {CROWD}: {dict(statuses)}; health {dict(health)}, slowest {slowest[0]:.2f}s; "
        f"{len(nonces)} transactions"
    )
