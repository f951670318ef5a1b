"""``civic bench``: records per second and gas per record, the plain way beside the project's
paths, on eth-tester and on anvil, in one process and one run.

The plain way is what a developer writes first: an OpenZeppelin ERC-20 (or ERC-1155) mint, one
per transaction, sent and waited for before the next. The project's paths: a single award, batch
awards to new and to existing holders, batch badge issuance, voucher claims, and the bulk
settlement of approved claims through the service's own store, allocator and outbox (batches
sized to the block gas limit, sent at consecutive nonces without waiting for each receipt).
Every figure is printed with its ratio to the plain way measured in the same run.
"""

from __future__ import annotations

import json
import secrets
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from ledger import ActivityAward, Chain, Ledger, LedgerSettings, Metrics, Venue, connect, embedded_funder
from ledger.signin import CitizenKey, citizen_key

__all__ = ["BenchResult", "main", "run_bench"]

REPORT_DIR = Path(__file__).resolve().parent.parent / "bench"
EVIDENCE = bytes.fromhex("b2" * 32)
METRICS = Metrics(3_200, 2_400, 450, 6_100)


@dataclass(frozen=True)
class BenchResult:
    backend: str
    path: str
    records: int
    seconds: float
    gas_per_record: int
    records_per_second: float
    baseline: str | None = None
    ratio: float | None = None


def _key(i: int) -> CitizenKey:
    return citizen_key((0xBE7C << 32 | i).to_bytes(32, "big"))


@contextmanager
def _backend(name: str) -> Iterator[tuple[Chain, Any]]:
    """A chain and a funded key: a fresh eth-tester chain, or a fresh anvil node."""
    if name == "eth-tester":
        chain = connect(LedgerSettings(rpc_url=None, embedded_dir=None))
        funder = embedded_funder(chain)
        yield chain, funder
        return
    from .node import ANVIL_DEV_KEY, AnvilNode

    with AnvilNode() as node:
        yield connect(LedgerSettings(rpc_url=node.url)), citizen_key(bytes.fromhex(ANVIL_DEV_KEY[2:]))


def _timed(work: Callable[[], int]) -> tuple[float, int]:
    started = time.perf_counter()
    gas = work()
    return time.perf_counter() - started, gas


def run_bench(
    backends: tuple[str, ...] = ("eth-tester", "anvil"),
    *,
    plain: int = 60,
    singles: int = 30,
    batch: int = 2_000,
    claims: int = 30,
    settle: int = 4_000,
    progress: Callable[[str], None] = lambda _: None,
) -> list[BenchResult]:
    results: list[BenchResult] = []
    for backend in backends:
        with _backend(backend) as (chain, funder):
            results += _bench_one(backend, chain, funder, plain, singles, batch, claims, settle, progress)
    return results


def _bench_one(
    backend: str,
    chain: Chain,
    funder: Any,
    plain: int,
    singles: int,
    batch: int,
    claims: int,
    settle: int,
    progress: Callable[[str], None],
) -> list[BenchResult]:
    out: list[BenchResult] = []

    def record(path: str, records: int, seconds: float, gas: int, baseline: str | None = None) -> None:
        rate = records / seconds
        base = next((r for r in out if r.path == baseline), None)
        out.append(
            BenchResult(
                backend, path, records, round(seconds, 3), round(gas / records), round(rate, 1), baseline,
                round(rate / base.records_per_second, 2) if base else None,
            )
        )  # fmt: skip
        progress(f"{backend}: {path}: {rate:,.0f} records/s")

    # The plain way: one OpenZeppelin mint per transaction, sent then waited for.
    erc20 = chain.contract(
        "BaselineERC20", chain.send_plain(funder, chain.contract("BaselineERC20").constructor()).contract_address
    )
    erc1155 = chain.contract(
        "BaselineERC1155", chain.send_plain(funder, chain.contract("BaselineERC1155").constructor()).contract_address
    )
    holders = [str(_key(i).address) for i in range(max(plain, batch) + 10)]

    def mints(function: Callable[[str], Any]) -> int:
        return sum(chain.send_plain(funder, function(h), gas=200_000).gas_used for h in holders[:plain])

    seconds, gas = _timed(lambda: mints(lambda h: erc20.functions.mint(h, 100)))
    record("plain ERC-20 mint, 1 per transaction", plain, seconds, gas)
    seconds, gas = _timed(lambda: mints(lambda h: erc1155.functions.mint(h, 1)))
    record("plain ERC-1155 mint, 1 per transaction", plain, seconds, gas)

    city = _key(99_999)
    chain.fund(funder, city.address, 10**21)
    ledger = Ledger.deploy(chain, city, max_points_per_award=1_000, daily_cap=10**12)
    plain_awards = "plain ERC-20 mint, 1 per transaction"
    next_id = [1]

    def awards(people: list[str]) -> list[ActivityAward]:
        first = next_id[0]
        next_id[0] += len(people)
        return [ActivityAward(first + i, p, 100, 0, METRICS, EVIDENCE) for i, p in enumerate(people)]

    def singles_work() -> int:
        return sum(ledger.award_points(awards([h]))[0].gas_used for h in holders[:singles])

    seconds, gas = _timed(singles_work)
    record("award, 1 per transaction", singles, seconds, gas, plain_awards)
    size = ledger.max_batch()
    seconds, gas = _timed(
        lambda: sum(r.gas_used for r in ledger.award_points(awards(holders[:batch]), chunk_size=size))
    )
    record(f"batch award, new holders ({size}/tx)", batch, seconds, gas, plain_awards)
    seconds, gas = _timed(
        lambda: sum(r.gas_used for r in ledger.award_points(awards(holders[:batch]), chunk_size=size))
    )
    record(f"batch award, existing holders ({size}/tx)", batch, seconds, gas, plain_awards)

    now = ledger.chain_time()
    event_id, _ = ledger.create_event(Venue.METAVERSE, now - 60, now + 86_400, 0)
    seconds, gas = _timed(
        lambda: sum(r.gas_used for r in ledger.issue_badges(event_id, holders[:batch], chunk_size=size))
    )
    record(f"batch badge issue ({size}/tx)", batch, seconds, gas, "plain ERC-1155 mint, 1 per transaction")
    claimers = [str(_key(50_000 + i).address) for i in range(claims)]

    def claim_work() -> int:
        return sum(ledger.claim_badge(ledger.sign_voucher(event_id, c)).gas_used for c in claimers)

    seconds, gas = _timed(claim_work)
    record("voucher claim, 1 per transaction", claims, seconds, gas, "plain ERC-1155 mint, 1 per transaction")

    seconds, gas = _settlement(ledger, chain, city, holders[:batch], settle)
    record("bulk settlement of approved claims (store, allocator, outbox)", settle, seconds, gas, plain_awards)
    return out


def _settlement(ledger: Ledger, chain: Chain, city: Any, holders: list[str], count: int) -> tuple[float, int]:
    """``count`` approved claims settled by the service's own settlement (existing holders)."""
    from cryptography.fernet import Fernet
    from pydantic import SecretStr

    from api.outbox import SqlOutbox
    from api.services.context import Context
    from api.services.security import Cipher
    from api.services.settlement import settle
    from api.settings import ApiSettings
    from api.store import ActivityClaim, Citizen, ClaimStatus, Store

    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        store = Store(url)
        store.migrate()
        settings = ApiSettings(
            database_url=url, data_key=SecretStr(Fernet.generate_key().decode()), award_batch_size=10**6
        )
        service_ledger = Ledger(chain, ledger.deployment, city, outbox=SqlOutbox(store))
        ctx = Context(settings, store, service_ledger, Cipher(settings.data_key.get_secret_value()))  # type: ignore[union-attr]
        end = datetime.now(UTC) - timedelta(hours=1)
        with store.session() as session:
            people = [Citizen(id=f"c{i}", address=a, custodial=False) for i, a in enumerate(holders)]
            session.add_all(people)
            session.commit()
            session.add_all(
                ActivityClaim(
                    citizen_id=people[i % len(people)].id,
                    started_at=end - timedelta(hours=1),
                    ended_at=end,
                    distance_meters=5_000,
                    duration_seconds=3_600,
                    steps=6_500,
                    litter_grams=150,
                    evidence_salt="0x" + "00" * 32,
                    evidence_commitment="0x" + secrets.token_hex(32),
                    points=60,
                    status=ClaimStatus.APPROVED,
                )
                for i in range(count)
            )
            session.commit()
        started = time.perf_counter()
        result = settle(ctx, max_batches=1_000)
        seconds = time.perf_counter() - started
        assert result.awarded == count, f"settled {result.awarded} of {count}"
        receipts = [chain.receipt(tx) for tx in result.transactions]
        gas = sum(r.gas_used for r in receipts if r is not None)
        store.dispose()
    return seconds, gas


def render(results: list[BenchResult]) -> str:
    lines = [
        "# Benchmark",
        "",
        "Regenerate with `civic bench` (sizes are options). One process, one run: every ratio compares",
        "with the plain way measured in the same run on the same backend (an OpenZeppelin mint, one per",
        "transaction, sent and waited for). Gas per record includes each transaction's share of the",
        "21,000 base cost.",
        "",
        "| backend | path | records | seconds | records/s | gas/record | x plain |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in results:
        ratio = f"{r.ratio:,.1f}" if r.ratio is not None else ""
        lines.append(
            f"| {r.backend} | {r.path} | {r.records:,} | {r.seconds:,.2f} | {r.records_per_second:,.0f} "
            f"| {r.gas_per_record:,} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def write_report(results: list[BenchResult], directory: Path = REPORT_DIR) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / "bench.json"
    as_json.write_text(json.dumps([asdict(r) for r in results], indent=1) + "\n")
    as_md = directory / "BENCH.md"
    as_md.write_text(render(results))
    return as_json, as_md


def main(backends: tuple[str, ...], sizes: dict[str, int], out: Path = REPORT_DIR) -> list[BenchResult]:
    results = run_bench(backends, progress=print, **sizes)
    print(render(results))
    for path in write_report(results, out):
        print(f"wrote {path}")
    return results
