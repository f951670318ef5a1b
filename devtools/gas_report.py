"""Gas per operation, single and batched, beside plain OpenZeppelin baselines measured in the same run.

Run ``civic gas-report`` to regenerate ``gas/gas-report.json`` and ``gas/GAS_REPORT.md``; the
test suite re-measures and fails when an operation grows by more than 5% against the JSON.
Figures are ``gasUsed`` of the receipt divided by the records in the transaction, so a batch
figure includes its share of the 21,000 base cost. Keys, ids and amounts are fixed so that a
re-run gives the same calldata and the same figures.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from ._ledger import Ledger, load_artifact
from .config import LedgerSettings, connect, embedded_funder
from .records import ActivityAward, Metrics, Venue

__all__ = ["BATCH", "TARGETS", "Measurement", "measure", "write_report"]

BATCH = 100
REPORT_DIR = Path(__file__).resolve().parent.parent / "gas"
#: The issue's ceilings, gas per record, for operations measured in batch.
TARGETS = {
    "award_batch_existing_holder": 12_000,
    "award_batch_new_holder": 30_000,
    "badge_batch_first_badge": 30_000,
}


@dataclass(frozen=True)
class Measurement:
    operation: str
    gas_per_record: int
    records: int
    baseline: str | None = None
    baseline_gas: int | None = None

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline_gas else self.gas_per_record / self.baseline_gas


def _account(i: int) -> LocalAccount:
    return Account.from_key((0xC17C << 16 | i).to_bytes(32, "big"))  # type: ignore[no-any-return]


def _per_record(gas: int, records: int) -> int:
    return round(gas / records)


def measure() -> list[Measurement]:
    """Deploys on a fresh embedded chain and measures every operation."""
    w3 = connect(LedgerSettings(rpc_url=None, embedded_dir=None))
    funder = embedded_funder(w3)
    assert funder is not None
    city = funder
    ledger = Ledger.deploy(w3, city, max_points_per_award=1_000, daily_cap=100_000)
    people = [_account(i).address for i in range(2 * BATCH + 2)]
    evidence = Web3.keccak(text="photo-and-track")
    metrics = Metrics(3_200, 2_400, 450, 6_100)

    def awards(start: int, holders: Sequence[str]) -> list[ActivityAward]:
        return [ActivityAward(start + i, h, 100, 0, metrics, evidence) for i, h in enumerate(holders)]

    erc20 = _deploy_baseline(ledger, "BaselineERC20")
    erc1155 = _deploy_baseline(ledger, "BaselineERC1155")

    def base(call: Callable[[], object]) -> int:
        return int(ledger._send(call()).gas_used)

    results: dict[str, int] = {}
    baselines: dict[str, int] = {
        "erc20_mint_new_holder": base(lambda: erc20.functions.mint(people[-1], 100)),
        "erc20_mint_existing_holder": base(lambda: erc20.functions.mint(people[-1], 100)),
        "erc1155_mint": base(lambda: erc1155.functions.mint(people[-1], 1)),
    }
    loop = ledger._send(erc20.functions.mintBatch(people[:BATCH], 100), 5_000_000, BATCH)
    baselines["erc20_mint_loop_new_holder"] = _per_record(loop.gas_used, BATCH)
    loop = ledger._send(erc20.functions.mintBatch(people[:BATCH], 100), 5_000_000, BATCH)
    baselines["erc20_mint_loop_existing_holder"] = _per_record(loop.gas_used, BATCH)

    # Single awards: ids 1 and 2 share a bitmap word already written by id 0, as most do.
    ledger.award_points(ActivityAward(0, people[-2], 100, 0, metrics, evidence))
    results["award_single_new_holder"] = ledger.award_points(awards(1, [people[-1]])[0]).gas_used
    results["award_single_existing_holder"] = ledger.award_points(awards(2, [people[-1]])[0]).gas_used
    (batch,) = ledger.award_points_batch(awards(1_000, people[:BATCH]))
    results["award_batch_new_holder"] = _per_record(batch.gas_used, BATCH)
    (batch,) = ledger.award_points_batch(awards(2_000, people[:BATCH]))
    results["award_batch_existing_holder"] = _per_record(batch.gas_used, BATCH)

    now = ledger.chain_time()
    events = [ledger.create_event(Venue.METAVERSE, now, now + 86_400, 0, f"ipfs://event/{i}") for i in range(4)]
    results["create_event"] = events[0][1].gas_used
    ids = [event_id for event_id, _ in events]
    results["badge_single_first_badge"] = ledger.issue_badge(ids[0], people[-1]).gas_used
    results["badge_single_later_badge"] = ledger.issue_badge(ids[1], people[-1]).gas_used
    (batch,) = ledger.issue_badges(ids[0], people[:BATCH])
    results["badge_batch_first_badge"] = _per_record(batch.gas_used, BATCH)
    (batch,) = ledger.issue_badges(ids[1], people[:BATCH])
    results["badge_batch_later_badge"] = _per_record(batch.gas_used, BATCH)
    voucher = ledger.sign_voucher(ids[2], people[-2], deadline=now + 3_600, nonce=7)
    results["badge_claim_voucher"] = ledger.claim_badge(voucher).gas_used
    results["badge_revoke"] = ledger.revoke_badge(ids[2], people[-2], 1).gas_used

    citizen = _account(10_000)
    ledger.award_points(ActivityAward(3, citizen.address, 500, 0, metrics, evidence))
    consent = ledger.sign_redemption(citizen, 100, 42, deadline=now + 3_600)
    results["redeem_with_consent"] = ledger.redeem_with_consent(consent).gas_used
    ledger.award_points(ActivityAward(4, citizen.address, 100, 0, metrics, evidence))
    results["reverse_award"] = ledger.reverse_award(4, 1).gas_used

    compare = {
        "award_single_new_holder": "erc20_mint_new_holder",
        "award_single_existing_holder": "erc20_mint_existing_holder",
        "award_batch_new_holder": "erc20_mint_loop_new_holder",
        "award_batch_existing_holder": "erc20_mint_loop_existing_holder",
        "badge_single_first_badge": "erc1155_mint",
        "badge_batch_first_badge": "erc1155_mint",
    }
    records = {name: BATCH if "batch" in name else 1 for name in results}
    measured = [
        Measurement(name, gas, records[name], compare.get(name), baselines.get(compare.get(name, "")))
        for name, gas in results.items()
    ]
    measured += [Measurement(name, gas, BATCH if "loop" in name else 1) for name, gas in baselines.items()]
    return measured


def _deploy_baseline(ledger: Ledger, name: str):  # type: ignore[no-untyped-def]
    artifact = load_artifact(name)
    factory = ledger.w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    receipt = ledger.tx.send(
        factory.constructor().build_transaction({"from": ledger.tx.address, "gas": 3_000_000}), budget=3_000_000
    )
    return ledger.w3.eth.contract(address=receipt["contractAddress"], abi=artifact["abi"])


def render(measured: list[Measurement]) -> str:
    lines = [
        "# Gas report",
        "",
        "Regenerate with `civic gas-report`. Gas per record from the receipt (a batch includes its",
        f"share of the 21,000 base cost; batches hold {BATCH} records). Baselines are plain",
        "OpenZeppelin 5 tokens compiled and measured in the same run (`contracts/test/BaselineTokens.sol`).",
        "",
        "| operation | records/tx | gas per record | target | baseline | baseline gas | ratio |",
        "| --- | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for m in measured:
        target = f"{TARGETS[m.operation]:,}" if m.operation in TARGETS else ""
        ratio = f"{m.ratio:.2f}" if m.ratio is not None else ""
        baseline_gas = f"{m.baseline_gas:,}" if m.baseline_gas else ""
        lines.append(
            f"| {m.operation} | {m.records} | {m.gas_per_record:,} | {target} | {m.baseline or ''} "
            f"| {baseline_gas} | {ratio} |"
        )
    return "\n".join(lines) + "\n"


def write_report(measured: list[Measurement], directory: Path = REPORT_DIR) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    as_json = directory / "gas-report.json"
    as_json.write_text(json.dumps({m.operation: m.gas_per_record for m in measured}, indent=1) + "\n")
    as_md = directory / "GAS_REPORT.md"
    as_md.write_text(render(measured))
    return as_json, as_md


def main() -> None:
    measured = measure()
    print(render(measured))
    for path in write_report(measured):
        print(f"wrote {path}")
    missed = [m.operation for m in measured if m.operation in TARGETS and m.gas_per_record > TARGETS[m.operation]]
    if missed:
        raise SystemExit(f"over target: {', '.join(missed)}")


if __name__ == "__main__":
    main()
