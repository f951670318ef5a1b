"""Crash safety: the service is killed with SIGKILL at random moments during claims, batched
awards and badge issuance, and restarted each time. Every acknowledged request must end
on-chain exactly once; retries of unacknowledged ones (same Idempotency-Key) must not double."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from ledger import Deployment, Ledger, embedded_funder
from ledger.embedded import open_durable_chain
from ledger.node import free_port

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


@dataclass
class Service:
    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        # Weeks of outings are flushed within one chain day here, so the day cap is set high.
        # The one test client sends far more claims a minute than a citizen would.
        env = os.environ | {
            "CIVIC_EMBEDDED_DIR": str(self.directory),
            "CIVIC_DAILY_POINTS_CAP": "1000000",
            "CIVIC_RATE_LIMIT_PER_MINUTE": "100000",
        }
        env.pop("CIVIC_RPC_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from api.cli import main; main()", "serve", "--no-demo", "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.directory.parent / "service.log", "ab"),  # noqa: SIM115 - the child owns it
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                log = (self.directory.parent / "service.log").read_text(errors="replace")
                raise AssertionError(f"the service exited during start-up:\n{log[-3000:]}")
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise AssertionError("the service did not come up")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)


def _claim_body(rng: random.Random, index: int) -> dict:
    end = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=3 * index)
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
    elif response.status_code == 409 and op.attempts > 1:
        # A retry of work the killed process finished without answering (badge already held).
        assert response.json()["error"]["code"] == "already_has_badge", response.text
        op.acked = True
    else:
        raise AssertionError(f"{op.method} {op.path}: {response.status_code} {response.text}")


@pytest.mark.slow
def test_no_acknowledged_request_is_lost_or_done_twice_across_sigkills(tmp_path):
    rng = random.Random(SEED)
    service = Service(tmp_path / "chain")
    service.start()
    admin = json.loads((service.directory / "demo-tokens.json").read_text())["admin"]
    tokens = {"admin": admin}
    with httpx.Client(base_url=service.base, timeout=30) as client:
        for i in range(4):
            created = client.post(
                "/v1/citizens", json={"display_name": f"member {i}"}, headers={"Authorization": f"Bearer {admin}"}
            )
            tokens[str(i)] = created.json()["session_token"]
        event = client.post(
            "/v1/events",
            json={
                "title": "Green Talk Talk",
                "venue": "metaverse",
                "claim_start": 0,
                "claim_end": 2**40,
                "uri": "ipfs://g",
            },
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
        for op in ops:
            if not op.acked:
                _send(client, op, tokens)
        assert client.post("/v1/awards/flush", headers={"Authorization": f"Bearer {admin}"}).status_code == 200
    service.stop()

    claims = [o for o in ops if o.path == "/v1/claims"]
    badge_ops = [o for o in ops if "badges" in o.path]
    db = sqlite3.connect(service.directory / "civic.db")
    rows = db.execute("SELECT id, points, status FROM activity_claims").fetchall()
    unsettled = db.execute("SELECT count(*) FROM outbox WHERE status = 'signed'").fetchone()[0]
    mined_nonces = sorted(n for (n,) in db.execute("SELECT nonce FROM outbox WHERE status = 'mined'"))
    db.close()

    w3 = open_durable_chain(service.directory)
    ledger = Ledger(w3, Deployment.load(service.directory / "deployment.json"), embedded_funder(w3))
    recorded = ledger._logs(ledger.points, "ActivityRecorded")
    on_chain_ids = [int(log["args"]["activityId"]) for log in recorded]
    acked_ids = {o.response["activity_id"] for o in claims if o.response}
    attendees = {a.lower() for o in badge_ops for a in o.body["attendees"]}
    holders = {b.attendee.lower() for b in ledger.attendees_of(event["event_id"])}
    w3.provider.close()

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
    assert all(status == "AWARDED" for _, _, status in rows), rows  # the enum is stored by name
    assert ledger_total(rows) == sum(int(log["args"]["points"]) for log in recorded)
    assert holders == attendees
    assert unsettled == 0
    assert mined_nonces == list(range(mined_nonces[0], mined_nonces[0] + len(mined_nonces))), "nonces contiguous"


def ledger_total(rows: list[tuple[int, int, str]]) -> int:
    return sum(points for _, points, _ in rows)
