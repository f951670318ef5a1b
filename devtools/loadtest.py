"""``civic loadtest``: the public verification endpoint under load, on loopback only.

Sets up a city the size the issue names: a throwaway PostgreSQL server and an anvil node (or the
ones given), the contracts deployed with ``civic deploy``, ``citizens`` members and ``records``
awards settled through the service's own bulk settlement and indexed. Then starts the service
as a city runs it (``civic serve --workers N``) and points locust at
``/v1/verify/citizens/{address}`` for random members, bounded in time and in requests. Prints
requests/s and the latency percentiles, beside ``/v1/health`` measured the same way just before
(the cheapest answer the service gives: the baseline), and writes locust's JSON.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.fernet import Fernet

from .node import ANVIL_DEV_KEY, AnvilNode, free_port
from .postgres import PostgresServer

__all__ = ["LoadResult", "main", "run_loadtest"]

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
#: The public verification's target (issue 13), printed beside the figures.
TARGET_RPS = 1_000
TARGET_P99_MS = 50


@dataclass(frozen=True)
class LoadResult:
    endpoint: str
    requests: int
    failures: int
    seconds: float
    requests_per_second: float
    p50_ms: float
    p95_ms: float
    p99_ms: float


@contextlib.contextmanager
def _database(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with PostgresServer() as server:
        yield server.url


@contextlib.contextmanager
def _node(url: str | None) -> Iterator[str]:
    if url:
        yield url
        return
    with AnvilNode() as node:
        yield node.url


def _env(directory: Path, rpc_url: str, database_url: str, port: int) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("CIVIC_")}
    env.update(
        {
            "CIVIC_RPC_URL": rpc_url,
            "CIVIC_PRIVATE_KEY": os.environ.get("CIVIC_PRIVATE_KEY", ANVIL_DEV_KEY),
            "CIVIC_DEPLOYMENT_PATH": str(directory / "deployment.json"),
            "CIVIC_DATABASE_URL": database_url,
            "CIVIC_DATA_KEY": Fernet.generate_key().decode(),
            "CIVIC_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
            # The load is the point: the per-client limit on public reads would refuse it.
            "CIVIC_PUBLIC_RATE_LIMIT_PER_MINUTE": "100000000",
            "CIVIC_DAILY_POINTS_CAP": "1000000000",
            "CIVIC_AWARD_BATCH_SIZE": "1000000",
            "CIVIC_RECEIPT_POLL": "0.02",
        }
    )
    return env


def _civic(*args: str) -> list[str]:
    return [sys.executable, "-m", "civic.cli", *args]


def _seed(env: dict[str, str], citizens: int, records: int, progress: Callable[[str], None]) -> list[str]:
    """Deploys, then settles ``records`` approved outings spread over ``citizens`` members through
    the service's settlement, and indexes them; returns the members' addresses."""
    deployed = subprocess.run(_civic("deploy"), env=env, capture_output=True, text=True, timeout=300)
    if deployed.returncode != 0:
        raise RuntimeError(f"civic deploy failed:\n{deployed.stderr[-3000:]}")
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)
    try:
        return _seed_in_process(citizens, records, progress)
    finally:
        os.environ.clear()
        os.environ.update(saved)


def _seed_in_process(citizens: int, records: int, progress: Callable[[str], None]) -> list[str]:
    from api.server import build_context
    from api.services.indexer import Indexer
    from api.services.settlement import settle
    from api.store import ActivityClaim, Citizen, ClaimStatus
    from ledger import LedgerSettings
    from ledger.signin import citizen_key

    ctx = build_context(LedgerSettings())
    try:
        addresses = [str(citizen_key((0x10AD << 32 | i).to_bytes(32, "big")).address) for i in range(citizens)]
        end = datetime.now(UTC) - timedelta(hours=1)
        with ctx.store.session() as session:
            session.add_all(Citizen(id=f"load-{i}", address=a, custodial=False) for i, a in enumerate(addresses))
            session.commit()
            for start in range(0, records, 10_000):
                session.add_all(
                    ActivityClaim(
                        citizen_id=f"load-{n % citizens}",
                        started_at=end - timedelta(hours=1),
                        ended_at=end,
                        distance_meters=5_000,
                        duration_seconds=3_600,
                        steps=6_500,
                        litter_grams=150,
                        evidence_salt="0x" + secrets.token_hex(32),
                        evidence_commitment="0x" + secrets.token_hex(32),
                        points=60,
                        status=ClaimStatus.APPROVED,
                    )
                    for n in range(start, min(records, start + 10_000))
                )
                session.commit()
        started = time.perf_counter()
        settled = 0
        while settled < records:
            result = settle(ctx, max_batches=20)
            if result.awarded == 0:
                raise RuntimeError(f"settlement stopped after {settled} of {records} records")
            settled += result.awarded
            progress(f"settled {settled:,} of {records:,} records")
        seconds = time.perf_counter() - started
        progress(f"settlement: {records:,} records in {seconds:.1f} s ({records / seconds:,.0f} records/s)")
        started = time.perf_counter()
        indexer = Indexer(ctx)
        head = ctx.ledger.head()
        while (indexer.cursor() or -1) < head:
            indexer.sync()
        progress(f"indexed to block {head} in {time.perf_counter() - started:.1f} s")
        return addresses
    finally:
        ctx.store.dispose()


def _wait_up(base: str, process: subprocess.Popen[bytes], log: Path, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the service exited:\n{log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("the service did not come up")


def _locust(
    base: str, users: int, seconds: int, max_requests: int, addresses: Path, out: Path, path: str | None = None
) -> dict[str, Any]:
    env = dict(os.environ)
    env["CIVIC_LOADTEST_ADDRESSES"] = str(addresses)
    env["CIVIC_LOADTEST_MAX_REQUESTS"] = str(max_requests)
    if path:
        env["CIVIC_LOADTEST_PATH"] = path
    command = [
        sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary",
        "--users", str(users), "--spawn-rate", str(users), "--run-time", f"{seconds}s",
        "--host", base, "--json-file", str(out.with_suffix("")), "--stop-timeout", "5",
    ]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=seconds + 120)
    if not out.exists():
        raise RuntimeError(f"locust wrote no report:\n{done.stderr[-3000:]}")
    stats: list[dict[str, Any]] = json.loads(out.read_text())
    return next(s for s in stats if s["method"] == "GET")


def _result(endpoint: str, stats: dict[str, Any]) -> LoadResult:
    seconds = max(stats["last_request_timestamp"] - stats["start_time"], 1e-9)
    histogram = {int(k): v for k, v in stats["response_times"].items()}

    def percentile(p: float) -> float:
        target = p * stats["num_requests"]
        seen = 0
        for ms in sorted(histogram):
            seen += histogram[ms]
            if seen >= target:
                return float(ms)
        return float(max(histogram, default=0))

    return LoadResult(
        endpoint,
        stats["num_requests"],
        stats["num_failures"],
        round(seconds, 1),
        round(stats["num_requests"] / seconds, 1),
        percentile(0.50),
        percentile(0.95),
        percentile(0.99),
    )


def run_loadtest(
    *,
    citizens: int = 1_000,
    records: int = 100_000,
    workers: int = 2,
    users: int = 16,
    seconds: int = 30,
    max_requests: int = 100_000,
    database_url: str | None = None,
    rpc_url: str | None = None,
    out: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[LoadResult]:
    with tempfile.TemporaryDirectory(prefix="civic-load-") as folder:
        directory = Path(folder)
        out = out or directory
        out.mkdir(parents=True, exist_ok=True)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with _database(database_url) as db_url, _node(rpc_url) as node_url:
            env = _env(directory, node_url, db_url, port)
            addresses = _seed(env, citizens, records, progress)
            listed = directory / "addresses.txt"
            listed.write_text("\n".join(addresses) + "\n")
            log = directory / "service.log"
            command = _civic("serve", "--port", str(port), "--workers", str(workers), "--no-access-log")
            service = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=open(log, "ab"))  # noqa: SIM115
            try:
                _wait_up(base, service, log)
                # Every worker answers once before the clock starts (imports, first connections).
                for _ in range(workers * 10):
                    httpx.get(f"{base}/v1/verify/citizens/{addresses[0]}", timeout=30).raise_for_status()
                progress(f"service up with {workers} workers; locust: {users} users, {seconds} s each")
                results: list[LoadResult] = []
                for endpoint, path in (("/v1/health", "/v1/health"), ("/v1/verify/citizens/{address}", None)):
                    stats = _locust(
                        base, users, seconds, max_requests, listed, out / f"locust-{len(results)}.json", path
                    )
                    results.append(_result(endpoint, stats))
                    progress(f"{endpoint}: {results[-1].requests_per_second:,.0f} requests/s")
            finally:
                service.terminate()
                try:
                    service.wait(30)
                except subprocess.TimeoutExpired:
                    service.kill()
        return results


def render(results: list[LoadResult], *, citizens: int, records: int, workers: int, users: int) -> str:
    lines = [
        f"Public verification under load: {citizens:,} citizens, {records:,} records on-chain and indexed,",
        f"PostgreSQL, anvil, `civic serve --workers {workers}`, locust with {users} users on loopback.",
        "",
        "| endpoint | requests | failures | requests/s | p50 ms | p95 ms | p99 ms | x health |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    base = results[0].requests_per_second if results else 0
    for r in results:
        ratio = f"{r.requests_per_second / base:.2f}" if base else ""
        lines.append(
            f"| `{r.endpoint}` | {r.requests:,} | {r.failures:,} | {r.requests_per_second:,.0f} "
            f"| {r.p50_ms:.0f} | {r.p95_ms:.0f} | {r.p99_ms:.0f} | {ratio} |"
        )
    verify = next((r for r in results if r.endpoint.startswith("/v1/verify")), None)
    if verify is not None:
        met = verify.requests_per_second >= TARGET_RPS and verify.p99_ms < TARGET_P99_MS
        lines += [
            "",
            f"Target: {TARGET_RPS:,} requests/s with p99 under {TARGET_P99_MS} ms: "
            + ("met." if met else "not met on this machine (locust, the workers and PostgreSQL share its cores)."),
            "Regenerate with `civic loadtest --out bench` (sizes are options).",
        ]
    return "\n".join(lines) + "\n"


def main(out: Path | None = None, **options: Any) -> list[LoadResult]:
    results = run_loadtest(out=out, progress=lambda line: print(line, flush=True), **options)
    report = render(
        results,
        citizens=options.get("citizens", 1_000),
        records=options.get("records", 100_000),
        workers=options.get("workers", 2),
        users=options.get("users", 16),
    )
    print(report)
    if out is not None:
        (out / "LOADTEST.md").write_text(report)
        (out / "loadtest.json").write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
        print(f"wrote {out / 'LOADTEST.md'}")
    return results
