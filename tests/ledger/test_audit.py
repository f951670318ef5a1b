"""The auditor's toolkit (``ledger.audit``): a programme seeded through the Ledger API (hundreds of
members, thousands of awards in batches from two minters, a limits change, badges issued, claimed,
revoked and re-issued, reversals, redemptions, a lost key re-bound, roles granted and revoked
mid-way, a pause, anchored off-chain records) audited from the chain alone: nothing found, the
totals right, the three files written. Then the parts that need no chain: the code comparison
(Sourcify-style) and the node reader's ranges, retries and batches.

Tampering on a real node is in ``tests/system/test_audit_tamper.py``. The audit's time for
10,000 and 100,000 awards is measured with ``CIVIC_AUDIT_BENCH=1`` (see the last test)."""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount

from ledger import Ledger, load_artifact
from ledger.audit import (
    CHECKS,
    AuditNodeError,
    AuditReport,
    NodeReader,
    compare_code,
    run_audit,
    split_metadata,
    write_outputs,
)
from ledger.audit.bench import SeededProgramme, measure_audit, seed_programme
from ledger.audit.code import metadata_of
from ledger.errors import ChainUnavailable, DeploymentError, InvalidInput
from tests.conftest import Deployed, TestChain

MEMBERS = 300
AWARDS = 3_000


@dataclass
class Audited:
    test_chain: TestChain
    city: LocalAccount
    ledger: Ledger
    seeded: SeededProgramme
    report: AuditReport
    records_file: Path
    paths: dict[str, Path]
    progress: list[tuple[int, int]]
    stages: list[str]


@pytest.fixture(scope="module")
def audited(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Audited]:
    """One seeded programme per backend, audited once; the chain is reverted after the module."""
    test_chain = deployed.test_chain
    snapshot = test_chain.chain.snapshot()
    try:
        ledger = Ledger(test_chain.chain, deployed.deployment, deployed.city)
        seeded = seed_programme(
            ledger, fund=test_chain.fund, advance=test_chain.advance, members=MEMBERS, awards=AWARDS, chunk=200
        )
        directory = tmp_path_factory.mktemp("audit")
        records_file = directory / "anchored-records.json"
        records_file.write_text(json.dumps(seeded.anchored_records))
        progress: list[tuple[int, int]] = []
        stages: list[str] = []
        report = run_audit(
            test_chain.chain,
            deployed.deployment,
            records_file=records_file,
            progress=lambda done, total: progress.append((done, total)),
            stage=stages.append,
        )
        paths = write_outputs(report, directory / "out")
        yield Audited(test_chain, deployed.city, ledger, seeded, report, records_file, paths, progress, stages)
    finally:
        test_chain.chain.revert(snapshot)


# ---------------------------------------------------------------- a clean programme


def test_run_audit_finds_nothing_in_a_seeded_programme(audited: Audited) -> None:
    report = audited.report
    assert report.findings == [], [f.message for f in report.findings[:5]]
    assert report.clean and report.exit_code() == 0
    outcomes = {c.name: c.outcome for c in report.checks}
    assert list(outcomes) == list(CHECKS)
    assert outcomes.pop("proof_files") == "skipped"
    assert set(outcomes.values()) == {"passed"}


def test_run_audit_totals_match_what_was_recorded(audited: Audited) -> None:
    totals, seeded, ledger = audited.report.totals, audited.seeded, audited.ledger
    assert totals["awards"] == seeded.awards == AWARDS + len(seeded.key_holders)
    assert totals["points_awarded"] == seeded.points_awarded
    assert totals["points_reversed"] == seeded.points_reversed
    assert totals["points_redeemed"] == seeded.points_redeemed
    supply = seeded.points_awarded - seeded.points_reversed - seeded.points_redeemed
    assert totals["rebuilt_supply"] == supply == ledger.total_supply()
    assert totals["state"]["total_supply"] == supply
    assert totals["citizens_awarded"] > 250
    assert {k["kind"]: k["points"] for k in totals["by_kind"]} == seeded.points_by_kind
    assert {k["kind"]: k["label"] for k in totals["by_kind"]} == {0: "plogging", 1: "walking", 2: "cleanup"}
    assert sum(w["points"] for w in totals["by_week"]) == seeded.points_awarded
    assert len(totals["by_week"]) >= 3
    assert sum(w["redeemed_points"] for w in totals["by_week"]) == seeded.points_redeemed
    # badges per event: issued, revoked, held (what the contract holds)
    assert totals["events"] == len(seeded.events) == 3
    assert totals["badges_issued"] == seeded.badges_issued
    assert totals["badges_revoked"] == len(seeded.revocations) == 5
    assert totals["badges_reissued"] == 1
    assert totals["badges_held"] == seeded.badges_issued - 5 == totals["state"]["badges_held"]
    first = next(e for e in totals["by_event"] if e["event_id"] == seeded.events[0])
    assert (first["revoked"], first["reissued"]) == (5, 1)
    # reversals and revocations with their reasons; redemptions per reward
    assert sorted((r["activity_id"], r["reason_code"]) for r in totals["reversal_list"]) == sorted(seeded.reversals)
    assert totals["reversals_by_reason"] == [{"reason_code": 1, "count": 3}, {"reason_code": 2, "count": 3}]
    assert sorted((r["event_id"], r["attendee"], r["reason_code"]) for r in totals["revocation_list"]) == sorted(
        seeded.revocations
    )
    assert totals["revocations_by_reason"] == [{"reason_code": 1, "count": 3}, {"reason_code": 2, "count": 2}]
    rewards = {r["reward_id"]: (r["redemptions"], r["points"]) for r in totals["by_reward"]}
    expected: dict[int, tuple[int, int]] = {}
    for _, reward, points in seeded.redemptions:
        count, total = expected.get(reward, (0, 0))
        expected[reward] = (count + 1, total + points)
    assert rewards == expected
    # the re-binding and the limits over time
    assert seeded.rebound is not None
    old, new = seeded.rebound
    assert [(r["old"], r["new"], r["reason_code"]) for r in totals["rebindings"]] == [(old, new, 7)]
    assert [(x["max_points_per_award"], x["daily_cap"]) for x in totals["limits_history"]] == [
        (1_000, 3_000),
        (500, 2_500),
    ]
    assert totals["state"]["limits"] == {"max_points_per_award": 500, "daily_cap": 2_500}
    assert [(p["contract"], p["paused"]) for p in totals["pauses"]] == [
        ("points", True),
        ("badges", True),
        ("points", False),
        ("badges", False),
    ]


def test_run_audit_lists_role_changes_and_holders_over_time(audited: Audited) -> None:
    roles, city = audited.report.roles, audited.ledger.address
    operator = audited.seeded.operator
    assert operator is not None
    changes = [(c["contract"], c["role"], c["account"], c["granted"], c["by"]) for c in roles["changes"]]
    for contract, role in (("points", "minter"), ("badges", "issuer")):
        assert (contract, role, operator.address, True, city) in changes
        assert (contract, role, operator.address, False, city) in changes
        (held,) = [
            h
            for h in roles["holders"]
            if (h["contract"], h["role"], h["account"]) == (contract, role, operator.address)
        ]
        assert held["granted_by"] == city and held["revoked_by"] == city
        assert held["from_block"] < held["to_block"] <= audited.report.audited_block
    # the deployer's admin role from each constructor, still held
    for contract in ("points", "badges", "anchors"):
        (admin,) = [h for h in roles["holders"] if (h["contract"], h["role"]) == (contract, "admin")]
        assert admin["account"] == city and admin["to_block"] is None
    assert operator.address not in roles["current"]["points:minter"]
    assert roles["current"]["points:minter"] == [city]


def test_run_audit_matches_code_to_the_committed_artifacts(audited: Audited) -> None:
    deployment = audited.ledger.deployment
    by_name = {c.name: c for c in audited.report.code}
    assert set(by_name) == {"points", "badges", "anchors"}
    for name, artifact in (("points", "CivicPoints"), ("badges", "CivicBadges"), ("anchors", "CivicAnchors")):
        match = by_name[name]
        assert match.match == "full", match.detail
        assert match.artifact == artifact
        assert match.compiler == load_artifact(artifact)["compiler"]["version"]
        assert match.source_hash == deployment.source_hash
        assert match.metadata_on_chain == match.metadata_expected
        assert match.metadata_on_chain["solc"] == "0.8.28"
    # the constructor's values sit where the compiler left zeros: the day offset, the points address
    assert by_name["points"].immutables and by_name["badges"].immutables
    assert any(v.endswith(deployment.points_address[2:].lower()) for v in by_name["badges"].immutables.values())


def test_run_audit_reports_anchor_periods_and_proves_the_records_file(audited: Audited) -> None:
    anchors = audited.report.anchors
    assert len(anchors["periods"]) == 3
    assert anchors["gaps"] == []
    assert anchors["records_file"]["entries"] == anchors["records_file"]["verified"] == 21


def test_run_audit_warns_of_a_gap_between_anchored_periods_and_proves_erased_records(
    audited: Audited, tmp_path: Path
) -> None:
    """A day and more with no anchored period is listed and warned of, without making the
    programme unclean; a record whose content was erased is proven by its leaf alone."""
    chain = audited.test_chain.chain
    snapshot = chain.snapshot()
    try:
        covered = max(int(e["at"]) for e in audited.seeded.anchored_records)
        later = max(p["period_end"] for p in audited.report.anchors["periods"]) + 3 * 86_400
        Ledger(chain, audited.ledger.deployment, audited.city).anchor_records(b"\x42" * 32, later, later + 600, 1)
        entries = [dict(e) for e in audited.seeded.anchored_records]
        entries[0].update(content_hash=None, at=None)
        records_file = tmp_path / "records.json"
        records_file.write_text(json.dumps(entries))
        report = run_audit(chain, audited.ledger.deployment, records_file=records_file)
    finally:
        chain.revert(snapshot)
    assert report.clean and report.exit_code() == 0 and report.exit_code(strict=True) == 1
    assert report.kinds() == {"anchor_gap": 1}
    (gap,) = report.warnings
    assert gap.severity == "warning" and gap.evidence["to"] == later and gap.evidence["seconds"] > 86_400
    assert covered <= gap.evidence["from"] < later
    assert len(report.anchors["gaps"]) == 1
    assert report.anchors["records_file"] == {
        "file": str(records_file),
        "entries": 21,
        "verified": 21,
        "erased": 1,
    }
    assert {c.name: (c.outcome, c.warnings) for c in report.checks}["anchors"] == ("passed", 1)


def test_run_audit_reports_its_progress_through_the_scan(audited: Audited) -> None:
    report, progress = audited.report, audited.progress
    total = report.audited_block - report.from_block + 1
    assert progress[0] == (0, total) and progress[-1] == (total, total)
    assert [done for done, _ in progress] == sorted(done for done, _ in progress)
    assert len(progress) > 3
    assert audited.stages[:3] == ["scan", "transactions", "blocks"]
    assert "state" in audited.stages and "code" in audited.stages


def test_run_audit_at_an_earlier_block_audits_the_state_then(audited: Audited) -> None:
    """The audit at the block of the limits change: two thirds of the awards, the old state."""
    change = audited.report.totals["limits_history"][-1]["block"]
    earlier = run_audit(audited.test_chain.chain, audited.ledger.deployment, at_block=change)
    assert earlier.clean, [f.message for f in earlier.findings[:5]]
    assert earlier.audited_block == change
    assert earlier.totals["awards"] == 2 * (AWARDS // 3)
    assert earlier.totals["reversals"] == 0 and earlier.totals["rebindings"] == []
    assert earlier.totals["state"]["limits"] == {"max_points_per_award": 500, "daily_cap": 2_500}


def test_run_audit_before_an_anchor_leaves_its_records_unchecked_with_a_warning(audited: Audited) -> None:
    """A records file exported now, audited at a block before its last period was anchored: the
    later period's records are outside that block (a warning naming the root), not unanchored."""
    last = audited.report.anchors["periods"][-1]
    earlier = run_audit(
        audited.test_chain.chain,
        audited.ledger.deployment,
        at_block=last["block"] - 1,
        records_file=audited.records_file,
    )
    assert earlier.clean, [f.message for f in earlier.errors[:5]]
    later = [f for f in earlier.warnings if f.kind == "records_anchored_later"]
    assert [f.evidence["root"] for f in later] == [last["root"]]
    checked = earlier.anchors["records_file"]
    later_records = sum(1 for e in audited.seeded.anchored_records if e["root"] == last["root"])
    assert 0 < later_records < checked["entries"] and checked["verified"] == checked["entries"] - later_records


def test_run_audit_refuses_a_deployment_of_another_chain(audited: Audited) -> None:
    other = dataclasses.replace(audited.ledger.deployment, chain_id=audited.ledger.chain_id + 1)
    with pytest.raises(DeploymentError):
        run_audit(audited.test_chain.chain, other)


def test_run_audit_refuses_a_block_outside_the_programme(audited: Audited) -> None:
    chain, deployment = audited.test_chain.chain, audited.ledger.deployment
    with pytest.raises(InvalidInput):
        run_audit(chain, deployment, at_block=chain.head() + 10)
    with pytest.raises(InvalidInput):
        run_audit(chain, deployment, at_block=deployment.block_number - 1)


# ---------------------------------------------------------------- the files


def test_write_outputs_writes_the_whole_report_as_json(audited: Audited) -> None:
    data = json.loads(audited.paths["json"].read_text(encoding="utf-8"))
    report = audited.report
    assert data["format"] == "civic-ledger-audit/1"
    assert data["clean"] is True and data["findings"] == [] and data["finding_kinds"] == {}
    assert [c["name"] for c in data["checks"]] == list(CHECKS)
    assert all(c["title"] and c["title_ko"] for c in data["checks"])
    assert data["audited_block"] == report.audited_block and data["chain_id"] == report.chain_id
    assert data["deployment"]["points_address"] == audited.ledger.deployment.points_address
    assert data["totals"]["awards"] == audited.seeded.awards
    assert {c["name"]: c["match"] for c in data["code"]} == {"points": "full", "badges": "full", "anchors": "full"}
    assert data["roles"]["changes"] and data["anchors"]["periods"]
    assert data["scan"]["records"] == len(report.records)


def test_write_outputs_writes_every_record_to_csv_with_its_reference(audited: Audited) -> None:
    with audited.paths["csv"].open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(audited.report.records)
    for row in rows:
        assert re.fullmatch(r"0x[0-9a-f]{64}", row["tx_hash"])
        assert row["block_number"].isdigit() and row["log_index"].isdigit()
        assert row["contract"] in audited.ledger.deployment.contracts.values()
        assert row["contract_name"] in ("points", "badges", "anchors")
        assert row["tx_from"].startswith("0x") and row["block_time"]
    awards = [r for r in rows if r["record"] == "AwardRecorded"]
    assert len(awards) == audited.seeded.awards
    assert sum(int(r["points"]) for r in awards) == audited.seeded.points_awarded
    assert all(r["activity_id"] and r["citizen"] and r["kind"] and r["evidence_hash"] for r in awards)
    assert {r["record"] for r in rows} >= {
        "AwardRecorded",
        "PointsTransferred",
        "AwardReversed",
        "PointsRedeemed",
        "CitizenRebound",
        "BadgesMoved",
        "BadgeIssued",
        "BadgeRevoked",
        "BadgeReissued",
        "EventCreated",
        "RoleChanged",
        "LimitsChanged",
        "ActivityKindSet",
        "PauseChanged",
        "RecordsAnchored",
    }


def test_write_outputs_html_is_self_contained_bilingual_with_svg_charts(audited: Audited) -> None:
    html = audited.paths["html"].read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "src=" not in html and "@import" not in html
    assert "감사 보고서" in html and "Audit report" in html
    assert "주별 지급 포인트" in html and "Points awarded per week" in html
    assert html.count("<svg") >= 6  # per week, per kind, per event, reasons, rewards, role holders
    assert "<rect" in html
    assert "이상 없음" in html and "Clean: every check passed" in html


# ---------------------------------------------------------------- the code comparison


def _runtime(name: str) -> tuple[dict[str, Any], bytearray]:
    artifact = load_artifact(name)
    return artifact, bytearray(bytes.fromhex(artifact["deployedBytecode"].removeprefix("0x")))


def test_compare_code_full_match_masks_the_immutables() -> None:
    artifact, code = _runtime("CivicPoints")
    for refs in artifact["immutableReferences"].values():
        for ref in refs:
            code[ref["start"] : ref["start"] + ref["length"]] = b"\x7f" * ref["length"]
    match = compare_code("points", "0x" + "11" * 20, bytes(code), artifact)
    assert match.match == "full"
    assert match.immutable_bytes == 32 * sum(len(r) for r in artifact["immutableReferences"].values())
    assert set(match.immutables.values()) == {"0x" + "7f" * 32}


def test_compare_code_partial_match_when_only_the_metadata_differs() -> None:
    artifact, code = _runtime("CivicAnchors")
    executable, metadata = split_metadata(bytes(code))
    assert metadata and metadata_of(metadata)["solc"] == "0.8.28"
    assert metadata_of(metadata)["ipfs"].startswith("Qm")
    code[len(executable) + 10] ^= 0xFF  # inside the IPFS hash
    match = compare_code("anchors", "0x" + "11" * 20, bytes(code), artifact)
    assert match.match == "partial"
    assert match.metadata_on_chain["ipfs"] != match.metadata_expected["ipfs"]


def test_compare_code_mismatch_names_the_first_differing_byte() -> None:
    artifact, code = _runtime("CivicBadges")
    code[1234] ^= 0x01
    code[2000] ^= 0x01
    match = compare_code("badges", "0x" + "11" * 20, bytes(code), artifact)
    assert (match.match, match.first_difference, match.differing_bytes) == ("mismatch", 1234, 2)
    assert "1234" in match.detail and artifact["sourceHash"] in match.detail


def test_compare_code_missing_when_the_address_has_no_code() -> None:
    artifact, _ = _runtime("CivicAnchors")
    assert compare_code("anchors", "0x" + "11" * 20, b"", artifact).match == "missing"


# ---------------------------------------------------------------- the node reader


class _LimitedNode:
    """A chain stand-in whose eth_getLogs refuses ranges over ``limit`` blocks and fails once."""

    embedded = False

    def __init__(self, limit: int, failures: int = 1) -> None:
        self.limit = limit
        self.failures = failures
        self.ranges: list[tuple[int, int]] = []

    def logs(self, addresses: Any, from_block: int, to_block: int) -> list[dict[str, Any]]:
        if to_block - from_block + 1 > self.limit:
            raise ChainUnavailable("eth_getLogs failed: query returned more than 10000 results")
        if self.failures:
            self.failures -= 1
            raise ChainUnavailable("reading logs failed: connection reset by peer")
        self.ranges.append((from_block, to_block))
        return [{"block": b} for b in range(from_block, to_block + 1)]


def test_scan_logs_halves_the_range_on_a_limit_and_retries_a_node_error() -> None:
    node = _LimitedNode(limit=300)
    reader = NodeReader(node, log_range=5_000, sleep=lambda _: None)  # type: ignore[arg-type]
    progress: list[tuple[int, int]] = []
    logs = [log for chunk in reader.scan_logs([], 10, 9_999, lambda d, t: progress.append((d, t))) for log in chunk]
    assert [log["block"] for log in logs] == list(range(10, 10_000))
    assert all(b - a + 1 <= 300 for a, b in node.ranges)
    assert reader.stats.range_halvings >= 1 and reader.stats.retries == 1
    assert progress[-1] == (9_990, 9_990)


def test_scan_logs_gives_up_after_the_node_keeps_failing() -> None:
    node = _LimitedNode(limit=10_000, failures=100)
    reader = NodeReader(node, retries=3, sleep=lambda _: None)  # type: ignore[arg-type]
    with pytest.raises(AuditNodeError):
        list(reader.scan_logs([], 0, 100))
    assert reader.stats.retries == 3


class _BatchProvider:
    """Answers JSON-RPC batches of at most ``limit`` requests; refuses one answer once (a rate limit)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.sizes: list[int] = []
        self.limited_once = False

    def make_batch_request(self, requests: list[tuple[str, list[Any]]]) -> Any:
        if len(requests) > self.limit:
            return {"jsonrpc": "2.0", "id": None, "error": {"code": -32600, "message": "batch too large"}}
        self.sizes.append(len(requests))
        answers = []
        for i, (_, params) in enumerate(requests):
            if params[0] == "0x7" and not self.limited_once:
                self.limited_once = True
                answers.append({"jsonrpc": "2.0", "id": i, "error": {"code": -32005, "message": "rate limited"}})
            else:
                answers.append({"jsonrpc": "2.0", "id": i, "result": {"timestamp": hex(1_000 + int(params[0], 16))}})
        return answers


def test_block_times_batch_requests_within_the_node_limits() -> None:
    provider = _BatchProvider(limit=8)
    chain = type(
        "Node", (), {"embedded": False, "_w3": type("W3", (), {"provider": provider})(), "translated": _no_translation}
    )()
    reader = NodeReader(chain, batch_size=50, sleep=lambda _: None)
    times = reader.block_times(list(range(30)))
    assert times == {n: 1_000 + n for n in range(30)}
    assert max(provider.sizes) <= 8 and provider.limited_once
    assert reader.stats.retries == 1


def _no_translation(*_: Any) -> Any:
    from contextlib import nullcontext

    return nullcontext()


# ---------------------------------------------------------------- the audit's time


@pytest.mark.skipif(os.environ.get("CIVIC_AUDIT_BENCH") != "1", reason="a measurement: set CIVIC_AUDIT_BENCH=1")
@pytest.mark.parametrize(("awards", "members"), [(10_000, 1_000), (100_000, 2_000)], ids=["10k", "100k"])
def test_audit_time_for_10k_and_100k_awards(fresh_chain: TestChain, awards: int, members: int, tmp_path: Path) -> None:
    """Seeds ``awards`` awards (batches of 500) and times the audit; the figures go to stdout
    and to $CIVIC_AUDIT_BENCH_OUT (JSON lines) if set. 100,000 on anvil must take under 60 s."""
    city = fresh_chain.new_account(funded=True)
    ledger = Ledger.deploy(fresh_chain.chain, city)
    measurement, report = measure_audit(
        ledger, awards=awards, members=members, backend=fresh_chain.name, out_dir=tmp_path
    )
    figures = dataclasses.asdict(measurement)
    print(json.dumps(figures))
    if os.environ.get("CIVIC_AUDIT_BENCH_OUT"):
        with open(os.environ["CIVIC_AUDIT_BENCH_OUT"], "a", encoding="utf-8") as handle:
            handle.write(json.dumps(figures) + "\n")
    assert report.clean
    assert report.totals["awards"] == awards
    if fresh_chain.name == "anvil":
        assert measurement.audit_seconds < 60
