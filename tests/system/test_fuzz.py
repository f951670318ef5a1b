"""The API fuzzed from its own OpenAPI document (schemathesis) over every operation, anonymously
and with each role's token and a citizen's session, against the service as scripts/run starts
it: not one server error. Bad input gets a 4xx naming what is wrong, never a 500."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .harness import Service

#: Examples per operation: more for the credentials that reach the most logic.
EXAMPLES = {"anonymous": 5, "admin": 12, "citizen": 12, "minter": 6, "issuer": 6, "redeemer": 3, "pauser": 3}
SEED = 20261125


@pytest.fixture(scope="module")
def fuzzed_service(tmp_path_factory: pytest.TempPathFactory) -> Any:
    yield from Service(tmp_path_factory.mktemp("fuzz") / "var").running()


def _credentials(service: Service) -> dict[str, dict[str, str]]:
    with service.client() as client:
        found = {"anonymous": {}, "admin": service.admin()}
        for role in ("minter", "issuer", "redeemer", "pauser"):
            found[role] = service.staff(client, role)
        found["citizen"] = service.enrol(client, "fuzzed citizen")["headers"]
    return found


def test_no_operation_answers_a_server_error_whoever_calls(fuzzed_service: Service, tmp_path: Path) -> None:
    service = fuzzed_service
    cases: dict[str, int] = {}
    for name, headers in _credentials(service).items():
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{service.base}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--phases",
            "fuzzing",
            "-n",
            str(EXAMPLES[name]),
            "--seed",
            str(SEED),
            "--wait-for-schema",
            "30",
            # The fuzzer must not revoke the very tokens it runs with.
            "--exclude-path-regex",
            "^/v1/staff-tokens/",
            "--request-timeout",
            "60",
        ]
        for key, value in headers.items():
            command += ["-H", f"{key}: {value}"]
        run = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=tmp_path)
        assert run.returncode == 0, f"{name}: a server error\n{run.stdout[-6000:]}\n{service.log_tail()}"
        found = re.search(r"(\d+) generated", run.stdout)
        cases[name] = int(found.group(1)) if found else 0
    with service.client() as client:
        assert client.get("/v1/health").status_code == 200
    print(f"\nfuzzed {sum(cases.values())} cases: {cases}; no server error")
    assert sum(cases.values()) > 1_000
