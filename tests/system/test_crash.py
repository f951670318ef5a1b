"""Crash safety: the service (started as scripts/run starts it) is killed with SIGKILL at random
moments during claims, settlements and badge issuance, and restarted each time. Every
acknowledged request must end on-chain exactly once; retries of unacknowledged ones (same
Idempotency-Key) must not double."""

from __future__ import annotations

import json
import os
import random
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from ledger import AwardRecorded, BadgeIssued, LedgerSettings, open_ledger
from ledger.embedded import close_all

from .harness import Service

ITERATIONS = int(os.environ.get("CIVIC_CRASH_ITERATIONS", "20"))
SEED = int(os.environ.get("CIVIC_CRASH_SEED", "4361"))


@dataclass
class Op:
    key: str
    method: str
    path: str
    body: dict
    auth: str  # "admin" or a citizen index
    acked: bool = False
    response: dict | None = None
    attempts: int = 0


def _claim_body(rng: random.Random, index: int) -> dict:
    # Outings of the last days (older ones are held for review by the age limit).
    end = datetime.now(UTC) - timedelta(days=5) + timedelta(minutes=70 * index)
    return {
        "started_at": (end - timedelta(hours=1)).isoformat(),
        "ended_at": end.isoformat(),
        "distance_meters": 4_000 + rng.randint(0, 500),
        "duration_seconds": 3_600,
        "steps": 5_000 + rng.randint(0, 3_000),
        "litter_grams": 80 + rng.randint(0, 200),
        "photo_hash": "0x" + rng.randbytes(32).hex(),
        "track_hash": "0x" + rng.randbytes(32).hex(),
    }


def _send(client: httpx.Client, op: Op, tokens: dict[str, str]) -> None:
    op.attempts += 1
    headers = {"Authorization": f"Bearer {tokens[op.auth]}", "Idempotency-Key": op.key}
    response = client.request(op.method, op.path, json=op.body, headers=headers)
    if response.status_code in (200, 201):
        op.acked, op.response = True, response.json()
    elif response.status_code == 409 and response.json()["error"]["code"] == "idempotency_key_in_use":
        time.sleep(0.5)  # the killed process's request: its liveness lease lapses within seconds
    elif response.status_code != 202:
        raise AssertionError(f"{op.method} {op.path}: {response.status_code} {response.text}")


@pytest.mark.slow
def test_no_acknowledged_request_is_lost_or_done_twice_across_sigkills(tmp_path):
    rng = random.Random(SEED)
    # Weeks of outings are settled within one chain day here, so the day caps are set high.
    service = Service(
        tmp_path / "var", demo=False, env_extra={"CIVIC_DAILY_POINTS_CAP": "1000000", "CIVIC_AWARD_BATCH_SIZE": "25"}
    )
    service.start()
    admin = service.admin_token
    tokens = {"admin": admin}
    with service.client() as client:
        for i in range(4):
            tokens[str(i)] = service.enrol(client, f"member {i}")["headers"]["Authorization"].split()[1]
        event = client.post(
            "/v1/events",
            json={"title": "Green Talk Talk", "venue": "metaverse", "claim_start": 0, "claim_end": 2**34},
            headers={"Authorization": f"Bearer {admin}"},
        ).json()

    def new_op(n: int) -> Op:
        roll = rng.random()
        if roll < 0.55:
            return Op(f"claim-{n}", "POST", "/v1/claims", _claim_body(rng, n), str(rng.randrange(4)))
        if roll < 0.85:
            attendees = ["0x" + rng.randbytes(20).hex() for _ in range(rng.randint(1, 30))]
            return Op(
                f"badges-{n}", "POST", f"/v1/events/{event['event_id']}/badges", {"attendees": attendees}, "admin"
            )
        return Op(f"flush-{n}", "POST", "/v1/awards/flush", {}, "admin")

    ops: list[Op] = []
    crashes = 0
    for _ in range(ITERATIONS):
        if service.process is None or service.process.poll() is not None:
            service.start()
        # New work flows until the kill lands: the kill always interrupts something.
        killer = threading.Timer(rng.uniform(0.1, 1.5), service.kill)
        killer.start()
        with httpx.Client(base_url=service.base, timeout=30) as client:
            try:
                for op in [o for o in ops if not o.acked]:
                    _send(client, op, tokens)
                while True:
                    op = new_op(len(ops))
                    ops.append(op)
                    _send(client, op, tokens)
            except httpx.TransportError:
                crashes += 1  # killed mid-request: that request was not acknowledged
        killer.cancel()
        service.kill()

    # Recovery: one last start retries everything unacknowledged and awards what is approved.
    service.start()
    with httpx.Client(base_url=service.base, timeout=60) as client:
        deadline = time.monotonic() + 120
        while not all(o.acked for o in ops) and time.monotonic() < deadline:
            for op in ops:
                if not op.acked:
                    _send(client, op, tokens)
        assert client.post("/v1/awards/flush", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    service.stop()

    claims = [o for o in ops if o.path == "/v1/claims"]
    badge_ops = [o for o in ops if "badges" in o.path]
    rows = service.sql("SELECT id, points, status, activity_id FROM activity_claims")
    unsettled = service.sql("SELECT count(*) FROM outbox WHERE status = 'signed'")[0][0]
    mined_nonces = sorted(n for (n,) in service.sql("SELECT nonce FROM outbox WHERE status = 'mined'"))

    ledger = open_ledger(LedgerSettings(rpc_url=None, embedded_dir=service.directory))
    records = ledger.records_between(ledger.deployment.block_number, ledger.head())
    recorded = [r for r in records if isinstance(r, AwardRecorded)]
    on_chain_ids = [r.activity_id for r in recorded]
    acked_ids = {a for (_, _, _, a) in rows}
    attendees = {a.lower() for o in badge_ops for a in o.body["attendees"]}
    holders = {r.attendee.lower() for r in records if isinstance(r, BadgeIssued) and r.event_id == event["event_id"]}
    close_all()

    report = {
        "requests": sum(o.attempts for o in ops),
        "crashes": crashes,
        "claims": len(claims),
        "claim_rows": len(rows),
        "awards_on_chain": len(on_chain_ids),
        "badges": len(attendees),
        "lost": len(acked_ids - set(on_chain_ids)) + len(attendees - holders),
        "duplicated": len(on_chain_ids) - len(set(on_chain_ids)) + max(0, len(rows) - len(claims)),
    }
    print("\ncrash test:", json.dumps(report))
    assert crashes >= ITERATIONS // 2, "too few kills landed mid-work to test anything"
    assert all(o.acked for o in ops)
    assert report["lost"] == 0 and report["duplicated"] == 0
    assert len(rows) == len(claims) == len(on_chain_ids), "each claim once in the store and once on-chain"
    assert all(status == "AWARDED" for _, _, status, _ in rows), rows  # the enum is stored by name
    assert sum(points for _, points, _, _ in rows) == sum(r.points for r in recorded)
    assert holders == attendees
    assert unsettled == 0
    assert mined_nonces == list(range(mined_nonces[0], mined_nonces[0] + len(mined_nonces))), "nonces contiguous"
