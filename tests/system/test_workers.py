"""Two service processes over one PostgreSQL and one node: exactly one of them sends the city's
transactions (the writer lease), the other serves and records intents; when the writer is killed
mid-stream the other takes the lease over within seconds, re-sends what the dead one left in the
outbox, and nothing is lost or duplicated; the city's nonces stay contiguous."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter
from typing import Any

import httpx
import pytest

from devtools.postgres import PostgresServer, postgres_binaries
from ledger import AwardRecorded, LedgerSettings, open_ledger

from .conftest import requires_anvil
from .harness import ANVIL_DEV_KEY, Service

pytestmark = [
    requires_anvil,
    pytest.mark.skipif(postgres_binaries() is None, reason="needs PostgreSQL's server binaries"),
]

POINTS = 10


@pytest.fixture
def postgres() -> Any:
    with PostgresServer() as server:
        yield server


def _writer(services: list[Service]) -> tuple[Service, Service]:
    for service in services:
        health = httpx.get(f"{service.base}/v1/health", timeout=10).json()
        if health["writer"] == health["process"]:
            return service, next(s for s in services if s is not service)
    raise AssertionError("no process holds the writer lease")


def test_two_processes_one_writer_and_the_other_takes_over_when_it_dies(
    tmp_path: Any, node: Any, postgres: Any
) -> None:
    shared = {"CIVIC_DATABASE_URL": postgres.url, "CIVIC_AWARD_BATCH_SIZE": "20"}
    first = Service(tmp_path / "city", node=node, env_extra=shared, name="first")
    first.start()
    second = Service(
        tmp_path / "city",
        node=node,
        env_extra=shared,
        name="second",
        admin_token=first.admin_token,
        data_key=first.data_key,
    )
    second.start()
    services = [first, second]
    try:
        writer, other = _writer(services)
        with other.client() as client:
            citizens = [other.enrol(client, f"member {i}")["citizen_id"] for i in range(5)]
        answers: Counter[str] = Counter()
        acked: dict[str, int] = {}
        references = [f"stream-{n}" for n in range(60)]
        killed_at = 25

        def award(service: Service, reference: str, citizen: str) -> httpx.Response:
            body = {"citizen": citizen, "points": POINTS, "reference": reference}
            with service.client(timeout=60) as client:
                return client.post("/v1/awards", json=body, headers=service.admin())

        takeover = 0.0
        for n, (reference, citizen) in enumerate(zip(references, itertools.cycle(citizens), strict=False)):
            if n == killed_at:
                writer.kill()  # mid-stream: its last award may be recorded, sent, or mined unanswered
                killed = time.monotonic()
            target = other if writer.process is None or writer.process.poll() is not None else services[n % 2]
            for _ in range(40):
                try:
                    response = award(target, reference, citizen)
                except httpx.TransportError:
                    answers["dropped"] += 1
                    target = other
                    continue
                answers[str(response.status_code)] += 1
                if response.status_code == 201:
                    acked[reference] = response.json()["activity_id"]
                    if n >= killed_at and not takeover:
                        takeover = time.monotonic() - killed
                    break
                assert response.status_code in (202, 409, 503), response.text
                time.sleep(0.5)
        health = httpx.get(f"{other.base}/v1/health", timeout=10).json()
        assert health["writer"] == health["process"], "the survivor holds the writer lease"
    finally:
        for service in services:
            service.stop()

    settings = LedgerSettings(
        rpc_url=node.url, deployment_path=first.directory / "deployment.json", private_key=ANVIL_DEV_KEY
    )
    ledger = open_ledger(settings)
    awards = [
        r for r in ledger.records_between(ledger.deployment.block_number, ledger.head()) if isinstance(r, AwardRecorded)
    ]
    on_chain = [a.activity_id for a in awards]
    import psycopg

    with psycopg.connect(postgres.url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        nonces = sorted(n for (n,) in conn.execute("SELECT nonce FROM outbox WHERE status = 'mined'"))
        unsettled = conn.execute("SELECT count(*) FROM outbox WHERE status = 'signed'").fetchone()[0]
    report = {
        "requests": sum(answers.values()),
        "answers": dict(answers),
        "awards": len(references),
        "acknowledged": len(acked),
        "on_chain": len(on_chain),
        "lost": len(set(acked.values()) - set(on_chain)),
        "duplicated": len(on_chain) - len(set(on_chain)),
        "takeover_seconds": round(takeover, 1),
    }
    print("\ntwo processes, the writer killed:", json.dumps(report))
    assert set(acked) == set(references), "every award acknowledged in the end"
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert sorted(on_chain) == sorted(acked.values())
    assert nonces == list(range(nonces[0], nonces[0] + len(nonces))), "nonces contiguous across the takeover"
    assert unsettled == 0
    assert report["takeover_seconds"] < 30
