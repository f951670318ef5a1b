"""An auditor's journey against the running service: the demo programme, as scripts/run seeds
it, audits clean through the API (report, printable page, records); and on a node, ``civic
audit`` needs only the node and the deployment record to say the same, then catches an act the
city's database never saw (a balance written into storage behind the events' back)."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path
from typing import Any

import httpx

from .conftest import requires_anvil
from .harness import Service, civic


def test_the_demo_programme_audits_clean_through_the_api(embedded_service: Service) -> None:
    with embedded_service.client(timeout=300) as client:
        report = client.get("/v1/audit")
        assert report.status_code == 200, report.text
        body = report.json()
        assert body["clean"] is True, [f for f in body["findings"] if f["severity"] == "error"]
        assert body["totals"]["records"] > 0
        page = client.get("/v1/audit/report.html")
        assert page.status_code == 200 and "<svg" in page.text
        assert "http://" not in page.text.split("</head>")[0] and "https://" not in page.text.split("</head>")[0]
        rows = list(csv.DictReader(io.StringIO(client.get("/v1/audit/records.csv").text)))
        assert len(rows) == body["totals"]["records"]


@requires_anvil
def test_civic_audit_from_the_node_alone_then_a_tampered_balance(node_service: Service, tmp_path: Path) -> None:
    with node_service.client() as client:
        citizen = node_service.enrol(client, "Audited member")
        body = {"citizen": citizen["citizen_id"], "points": 40, "reference": "audit-journey-1"}
        assert client.post("/v1/awards", json=body, headers=node_service.admin()).status_code == 201
    assert node_service.node is not None
    deployment = node_service.directory / "deployment.json"

    def audit(out: Path) -> subprocess.CompletedProcess[str]:
        # Nothing of the city's: no database, no key, no data key; only the node and the record.
        args = ["audit", "--rpc-url", node_service.node.url, "--deployment", str(deployment), "--out", str(out)]
        return subprocess.run(civic(*args), capture_output=True, text=True, timeout=300, env={"PATH": "/usr/bin"})

    clean = audit(tmp_path / "clean")
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-3000:]
    assert "clean: every check passed" in clean.stdout
    assert {p.name for p in (tmp_path / "clean").iterdir()} >= {"report.json", "records.csv", "report.html"}

    # The citizen's balance word rewritten with no event: the state no longer adds up.
    address = citizen["address"]
    points = json.loads(deployment.read_text())["points_address"]
    slot = _balance_slot(node_service, points, address)
    _rpc(node_service, "anvil_setStorageAt", [points, slot, "0x" + "00" * 31 + "ff"])
    tampered = audit(tmp_path / "tampered")
    assert tampered.returncode == 1, tampered.stdout[-3000:] + tampered.stderr[-3000:]
    kinds = {f["kind"] for f in json.loads((tmp_path / "tampered" / "report.json").read_text())["findings"]}
    assert "balance_mismatch" in kinds


def _rpc(service: Service, method: str, params: list[object]) -> Any:
    assert service.node is not None
    answer = httpx.post(service.node.url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    return answer.json()["result"]


def _balance_slot(service: Service, contract: str, address: str) -> str:
    """The storage slot holding ``address``'s packed balance word, found by probing (the test
    must not depend on the layout): the slot whose value changes with the balance."""
    from eth_utils import keccak

    assert service.node is not None
    padded = bytes(12) + bytes.fromhex(address[2:])
    for base in range(0, 16):
        slot = "0x" + keccak(padded + base.to_bytes(32, "big")).hex()
        word = _rpc(service, "eth_getStorageAt", [contract, slot, "latest"])
        if int(word, 16) != 0:
            return slot
    raise AssertionError("no storage slot of the citizen's found")
