"""The load test's user (run by ``civic loadtest``, which starts locust on loopback): a resident,
journalist or partner shop checking one citizen's record on the public verification endpoint.

The addresses come from the file named by ``CIVIC_LOADTEST_ADDRESSES`` (one per line); the run
stops itself after ``CIVIC_LOADTEST_MAX_REQUESTS`` requests (or at locust's ``--run-time``).
With ``CIVIC_LOADTEST_PATH`` every request asks that path instead (the baseline run).
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

from locust import events, task
from locust.contrib.fasthttp import FastHttpUser

ADDRESSES = Path(os.environ["CIVIC_LOADTEST_ADDRESSES"]).read_text().split()
MAX_REQUESTS = int(os.environ.get("CIVIC_LOADTEST_MAX_REQUESTS", "0"))
#: A fixed path instead (the baseline: ``/v1/health``).
FIXED_PATH = os.environ.get("CIVIC_LOADTEST_PATH")
_sent = 0


class Verifier(FastHttpUser):
    """Checks citizens one after the other, as fast as answers come (no think time)."""

    @task
    def verify_citizen(self) -> None:
        if FIXED_PATH:
            with self.client.get(FIXED_PATH, catch_response=True) as response:
                if response.status_code != 200:
                    response.failure(f"HTTP {response.status_code}")
            return
        address = random.choice(ADDRESSES)
        with self.client.get(
            f"/v1/verify/citizens/{address}", name="/v1/verify/citizens/{address}", catch_response=True
        ) as response:
            if response.status_code != 200:
                response.failure(f"HTTP {response.status_code}")
            elif not response.json().get("verified"):
                response.failure("the statement did not verify")


@events.request.add_listener  # type: ignore[untyped-decorator]
def _count(**_: Any) -> None:
    global _sent
    _sent += 1
    if MAX_REQUESTS and _sent >= MAX_REQUESTS:
        runner = getattr(events, "_runner", None)
        if runner is not None:
            runner.quit()


@events.init.add_listener  # type: ignore[untyped-decorator]
def _keep_runner(environment: Any, **_: Any) -> None:
    events._runner = environment.runner  # type: ignore[attr-defined]
