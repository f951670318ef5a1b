"""Gas per operation, single and batched, beside plain OpenZeppelin baselines and beside the
points contract without its ERC-20 ``Transfer`` events, all measured in the same run.

Run ``civic gas-report`` to regenerate ``gas/gas-report.json`` and ``gas/GAS_REPORT.md``; the test
suite re-measures and fails when an operation grows by more than 5% against the JSON or misses
a target. Figures are ``gasUsed`` of the receipt divided by the records in the transaction, so a
batch figure includes its share of the 21,000 base cost. Keys, ids and amounts are fixed so that
a re-run gives the same calldata and the same figures.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ledger import ActivityAward, Chain, Ledger, LedgerSettings, Metrics, Role, Venue, connect, embedded_funder
from ledger.signin import CitizenKey, citizen_key

__all__ = ["BATCH", "TARGETS", "Measurement", "measure", "write_report"]

BATCH = 100
REPORT_DIR = Path(__file__).resolve().parent.parent / "gas"
#: The issues' ceilings, gas per record, for operations measured in batch.
TARGETS = {
    "award_batch_existing_holder": 12_500,
    "award_batch_new_holder": 30_000,
    "badge_batch_first_badge": 30_000,
}
EVIDENCE = bytes.fromhex("a1" * 32)
METRICS = Metrics(3_200, 2_400, 450, 6_100)


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


def _account(i: int) -> CitizenKey:
    return citizen_key((0xC17C << 16 | i).to_bytes(32, "big"))


def _per_record(gas: int, records: int) -> int:
    return round(gas / records)


class _Raw:
    """Plain transactions from the funded account, for contracts the ledger does not drive."""

    def __init__(self, chain: Chain) -> None:
        self.chain = chain
        funder = embedded_funder(chain)
        assert funder is not None
        self.account = funder

    def deploy(self, artifact: str, *args: Any) -> Any:
        receipt = self.chain.send_plain(self.account, self.chain.contract(artifact).constructor(*args))
        return self.chain.contract(artifact, receipt.contract_address)

    def gas(self, call: Any) -> int:
        return self.chain.send_plain(self.account, call).gas_used

    def fund(self, address: str) -> None:
        self.chain.fund(self.account, address, 10**20)


def _awards(start: int, holders: Sequence[str]) -> list[ActivityAward]:
    return [ActivityAward(start + i, h, 100, 0, METRICS, EVIDENCE) for i, h in enumerate(holders)]


def measure() -> list[Measurement]:
    """Deploys on a fresh embedded chain and measures every operation."""
    chain = connect(LedgerSettings(rpc_url=None, embedded_dir=None))
    raw = _Raw(chain)
    # The city's key is not the funder's, so the ledger's nonce counter and these plain
    # transactions never share a nonce.
    city = _account(30_000)
    raw.fund(city.address)
    ledger = Ledger.deploy(chain, city, max_points_per_award=1_000, daily_cap=100_000)
    people = [_account(i).address for i in range(2 * BATCH + 2)]
    results: dict[str, int] = {}

    erc20 = raw.deploy("BaselineERC20")
    erc1155 = raw.deploy("BaselineERC1155")
    baselines = {
        "erc20_mint_new_holder": raw.gas(erc20.functions.mint(people[-1], 100)),
        "erc20_mint_existing_holder": raw.gas(erc20.functions.mint(people[-1], 100)),
        "erc1155_mint": raw.gas(erc1155.functions.mint(people[-1], 1)),
        "erc20_mint_loop_new_holder": _per_record(raw.gas(erc20.functions.mintBatch(people[:BATCH], 100)), BATCH),
        "erc20_mint_loop_existing_holder": _per_record(raw.gas(erc20.functions.mintBatch(people[:BATCH], 100)), BATCH),
    }

    # The same awards on the points contract without its Transfer events: what Transfer costs.
    bare = raw.deploy("CivicPointsWithoutTransfer", raw.account.address, 1_000, 100_000, 32_400)
    raw.gas(bare.functions.grantRole(Role.MINTER.role_id, raw.account.address))
    bare_award = raw.gas(bare.functions.awardPointsBatch([a.packed() for a in _awards(1, [people[-1]])]))
    bare_batch_new = raw.gas(bare.functions.awardPointsBatch([a.packed() for a in _awards(1_000, people[:BATCH])]))
    bare_batch_old = raw.gas(bare.functions.awardPointsBatch([a.packed() for a in _awards(2_000, people[:BATCH])]))
    baselines["award_batch_new_holder_without_transfer"] = _per_record(bare_batch_new, BATCH)
    baselines["award_batch_existing_holder_without_transfer"] = _per_record(bare_batch_old, BATCH)
    baselines["award_single_new_holder_without_transfer"] = bare_award

    results["award_single_new_holder"] = ledger.award_points(_awards(1, [people[-1]]))[0].gas_used
    results["award_single_existing_holder"] = ledger.award_points(_awards(2, [people[-1]]))[0].gas_used
    (batch,) = ledger.award_points(_awards(1_000, people[:BATCH]), chunk_size=BATCH)
    results["award_batch_new_holder"] = _per_record(batch.gas_used, BATCH)
    (batch,) = ledger.award_points(_awards(2_000, people[:BATCH]), chunk_size=BATCH)
    results["award_batch_existing_holder"] = _per_record(batch.gas_used, BATCH)

    now = ledger.chain_time()
    events = [ledger.create_event(Venue.METAVERSE, now, now + 86_400, 0, bytes([i + 1]) * 32) for i in range(4)]
    results["create_event"] = events[0][1].gas_used
    ids = [event_id for event_id, _ in events]
    results["badge_single_first_badge"] = ledger.issue_badge(ids[0], people[-1]).gas_used
    results["badge_single_later_badge"] = ledger.issue_badge(ids[1], people[-1]).gas_used
    (batch,) = ledger.issue_badges(ids[0], people[:BATCH], chunk_size=BATCH)
    results["badge_batch_first_badge"] = _per_record(batch.gas_used, BATCH)
    (batch,) = ledger.issue_badges(ids[1], people[:BATCH], chunk_size=BATCH)
    results["badge_batch_later_badge"] = _per_record(batch.gas_used, BATCH)
    voucher = ledger.sign_voucher(ids[2], people[-2], deadline=now + 3_600, nonce=7)
    results["badge_claim_voucher"] = ledger.claim_badge(voucher).gas_used
    results["badge_revoke"] = ledger.revoke_badge(ids[2], people[-2], 1).gas_used
    results["badge_reissue"] = ledger.reissue_badge(ids[2], people[-2], 2).gas_used

    citizen = _account(10_000)
    ledger.award_points(_awards(3_000, [citizen.address]))
    ledger.award_points(_awards(3_001, [citizen.address]))
    consent = ledger.sign_redemption(citizen, 20, 42, deadline=now + 3_600)
    results["redeem_with_consent"] = ledger.redeem_with_consent(consent).gas_used
    results["reverse_award_from_batch_of_100"] = ledger.reverse_award(2_050, 1).gas_used
    results["reverse_award_single"] = ledger.reverse_award(3_000, 1).gas_used
    new_key = _account(20_000)
    results["rebind_citizen"] = ledger.rebind_citizen(ledger.sign_rebinding(new_key, people[0], 1)).gas_used
    results["anchor_records"] = ledger.anchor_records(bytes.fromhex("ab" * 32), now - 3_600, now, 250).gas_used

    compare = {
        "award_single_new_holder": "erc20_mint_new_holder",
        "award_single_existing_holder": "erc20_mint_existing_holder",
        "award_batch_new_holder": "award_batch_new_holder_without_transfer",
        "award_batch_existing_holder": "award_batch_existing_holder_without_transfer",
        "badge_single_first_badge": "erc1155_mint",
        "badge_batch_first_badge": "erc1155_mint",
    }
    records = {name: BATCH if "batch" in name and "from_batch" not in name else 1 for name in results}
    measured = [
        Measurement(name, gas, records[name], compare.get(name), baselines.get(compare.get(name, "")))
        for name, gas in results.items()
    ]
    measured += [
        Measurement(name, gas, BATCH if ("loop" in name or "batch" in name) else 1) for name, gas in baselines.items()
    ]
    return measured


def render(measured: list[Measurement]) -> str:
    by_name = {m.operation: m.gas_per_record for m in measured}
    lines = [
        "# Gas report",
        "",
        "Regenerate with `civic gas-report`. Gas per record from the receipt (a batch includes its",
        f"share of the 21,000 base cost; batches hold {BATCH} records). Baselines are plain",
        "OpenZeppelin 5 tokens, and the points contract without its ERC-20 `Transfer` events",
        "(`contracts/test/`), compiled and measured in the same run.",
        "",
        "| operation | records/tx | gas per record | target | compared with | its gas | ratio |",
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
    with_t, without_t = by_name["award_batch_existing_holder"], by_name["award_batch_existing_holder_without_transfer"]
    lines += [
        "",
        f"ERC-20 `Transfer` on every award costs {with_t - without_t:,} gas per record to an existing holder",
        f"({without_t:,} without it, {with_t:,} with it). It was bought back with data layout: an award",
        "travels in three calldata words, its record event carries two words and no topic the `Transfer`",
        "already has, activity ids only increase (no bitmap of used ids is written), and a citizen's",
        "slot is read and written once as a whole word. A batch stores one Merkle root of its awards",
        "(22,100 gas per batch), which binds every later reversal to the award it reverses; a single",
        "award pays that slot alone, so award in batches.",
    ]
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
