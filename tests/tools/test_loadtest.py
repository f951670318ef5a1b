"""``civic loadtest`` end to end at a tiny size: PostgreSQL and anvil started, records settled and
indexed, two API workers, locust on loopback; every request answered and every statement
verified, and the report written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from devtools.postgres import postgres_binaries
from tests.system.conftest import requires_anvil

pytestmark = [
    requires_anvil,
    pytest.mark.skipif(postgres_binaries() is None, reason="needs PostgreSQL's server binaries"),
]


def test_the_load_test_runs_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = subprocess.run(
        [
            sys.executable, "-m", "civic.cli", "loadtest", "--citizens", "8", "--records", "60",
            "--workers", "2", "--users", "4", "--seconds", "3", "--max-requests", "150", "--out", str(out),
        ],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]
    results = {r["endpoint"]: r for r in json.loads((out / "loadtest.json").read_text())}
    verify = results["/v1/verify/citizens/{address}"]
    assert verify["requests"] > 0 and verify["failures"] == 0, verify
    assert results["/v1/health"]["failures"] == 0
    assert verify["requests"] <= 150 + 10, "the run stops at --max-requests (give or take requests in flight)"
    assert "| `/v1/verify/citizens/{address}` |" in (out / "LOADTEST.md").read_text()
    assert "settled 60 of 60 records" in done.stdout
