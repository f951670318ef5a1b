"""The audit against tampering on a real node (anvil): after a clean audit of a seeded programme,
each way an auditor must catch is done on a snapshot of its own (reverted afterwards) and must be
reported with its own finding kind, and only that:

* contract storage changed behind the events' back (a citizen's packed balance slot);
* different code at a recorded address (``anvil_setCode``);
* an act by an account whose role no event granted (a role written into AccessControl's storage:
  for an unknown key, and for the operator whose role was revoked earlier), then used;
* a cap raised behind the events' back (the packed limits slot) and exceeded;
* an off-chain record altered after anchoring, a root never anchored, a doctored inclusion proof;
* a doctored proof file (``ledger.proofs.check_proof`` names the check that fails).

Storage slots are found the way an auditor without the compiler's layout would: by probing
``eth_getStorageAt`` for the values the contracts' views return."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from devtools.node import AnvilNode
from ledger import ActivityAward, AwardRecorded, Ledger, LedgerSettings, Role, connect, merkle
from ledger.audit import AuditReport, run_audit
from ledger.audit.bench import SeededProgramme, seed_programme
from ledger.commitments import anchor_leaf
from ledger.proofs import proof_of
from tests.conftest import TestChain

from .conftest import requires_anvil
from .harness import ANVIL_DEV_KEY

pytestmark = requires_anvil

_MASK64 = 2**64 - 1


@dataclass
class Programme:
    node: AnvilNode
    test_chain: TestChain
    city: LocalAccount
    ledger: Ledger
    seeded: SeededProgramme
    clean: AuditReport

    @property
    def chain(self) -> Any:
        return self.test_chain.chain

    def city_ledger(self) -> Ledger:
        """A ledger with a fresh nonce counter (a reverted snapshot forgets sent transactions)."""
        return Ledger(self.chain, self.ledger.deployment, self.city)

    def audit(self, **options: Any) -> AuditReport:
        return run_audit(self.chain, self.ledger.deployment, **options)


@pytest.fixture(scope="module")
def programme(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Programme]:
    """anvil with a seeded programme (80 members, 800 awards, every kind of act), audited clean."""
    with AnvilNode() as node:
        chain = connect(LedgerSettings(rpc_url=node.url))
        test_chain = TestChain("anvil", chain, Account.from_key(ANVIL_DEV_KEY))
        city = test_chain.new_account(funded=True)
        ledger = Ledger.deploy(chain, city, max_points_per_award=1_000, daily_cap=3_000)
        seeded = seed_programme(
            ledger, fund=test_chain.fund, advance=test_chain.advance, members=80, awards=800, chunk=100
        )
        clean = run_audit(chain, ledger.deployment)
        yield Programme(node, test_chain, city, ledger, seeded, clean)


@pytest.fixture
def tampered(programme: Programme) -> Iterator[Programme]:
    """The programme, on a snapshot reverted after the test."""
    snapshot = programme.chain.snapshot()
    try:
        yield programme
    finally:
        programme.chain.revert(snapshot)


# ---------------------------------------------------------------- storage helpers


def _word(value: int | bytes) -> bytes:
    return value.to_bytes(32, "big") if isinstance(value, int) else bytes(12) + value if len(value) == 20 else value


def _mapping_slot(key: int | bytes, index: int | bytes) -> int:
    """Where ``mapping[key]`` lives for a mapping declared at slot ``index`` (Solidity's layout)."""
    return int.from_bytes(keccak(_word(key) + _word(index)), "big")


def _storage(chain: Any, address: str, slot: int) -> int:
    return int.from_bytes(chain.storage_at(address, slot), "big")


def _set_storage(chain: Any, address: str, slot: int, value: int) -> None:
    chain.rpc("anvil_setStorageAt", [address, hex(slot), "0x" + value.to_bytes(32, "big").hex()])


def _address_bytes(address: str) -> bytes:
    return bytes.fromhex(address[2:])


def _kinds(report: AuditReport) -> set[str]:
    return set(report.kinds())


def _member(programme: Programme, n: int = 0) -> str:
    """The ``n``-th member still at its address (not the one re-bound away)."""
    rebound = programme.seeded.rebound[0] if programme.seeded.rebound else None
    return [m for m in programme.seeded.members if m != rebound][n]


# ---------------------------------------------------------------- the untampered programme


def test_audit_of_the_untampered_programme_is_clean(programme: Programme) -> None:
    assert programme.clean.findings == [], [f.message for f in programme.clean.findings[:5]]
    assert programme.clean.exit_code() == 0
    assert programme.clean.totals["awards"] == programme.seeded.awards
    assert {c.name: c.match for c in programme.clean.code} == {"points": "full", "badges": "full", "anchors": "full"}


# ---------------------------------------------------------------- state behind the events' back


def test_audit_finds_a_balance_written_into_storage(tampered: Programme) -> None:
    chain, points = tampered.chain, tampered.ledger.deployment.points_address
    citizen = next(m for m in tampered.seeded.members if tampered.ledger.balance_of(m) > 0)
    balance = tampered.ledger.balance_of(citizen)
    # The points contract packs a citizen into one word of `mapping(address => uint256)`, the
    # balance in the low 64 bits: probe the declaration slots for the word holding it.
    slot = next(
        _mapping_slot(_address_bytes(citizen), index)
        for index in range(32)
        if _storage(chain, points, _mapping_slot(_address_bytes(citizen), index)) & _MASK64 == balance
    )
    packed = _storage(chain, points, slot)
    _set_storage(chain, points, slot, (packed & ~_MASK64) | (balance + 1_000))
    assert tampered.ledger.balance_of(citizen) == balance + 1_000

    report = tampered.audit()
    assert _kinds(report) == {"balance_mismatch"}
    (finding,) = report.findings
    assert finding.evidence == {"citizen": citizen, "on_chain": balance + 1_000, "rebuilt": balance}
    assert finding.block == report.audited_block
    assert report.exit_code() == 1


def test_audit_finds_other_code_at_a_recorded_address(tampered: Programme) -> None:
    chain, anchors = tampered.chain, tampered.ledger.deployment.anchors_address
    code = bytearray(chain.code(anchors))
    code[200] ^= 0xFF
    chain.rpc("anvil_setCode", [anchors, "0x" + code.hex()])

    report = tampered.audit()
    assert _kinds(report) == {"code_mismatch"}
    (finding,) = report.findings
    assert finding.evidence["contract"] == "anchors" and finding.evidence["first_difference"] == 200
    assert finding.evidence["source_hash"] == tampered.ledger.deployment.source_hash
    assert {c.name: c.match for c in report.code}["anchors"] == "mismatch"


def test_audit_finds_code_that_answers_nothing_and_still_reports(tampered: Programme) -> None:
    """Code at the points address that reverts every call: the state cannot be read, which is a
    finding of its own beside the code's; the audit does not stop at the first revert."""
    chain, points = tampered.chain, tampered.ledger.deployment.points_address
    chain.rpc("anvil_setCode", [points, "0x60006000fd"])  # PUSH1 0 PUSH1 0 REVERT

    report = tampered.audit()
    assert _kinds(report) == {"code_mismatch", "state_unreadable"}
    code = next(f for f in report.findings if f.kind == "code_mismatch")
    assert code.evidence["contract"] == "points" and code.evidence["first_difference"] == 1  # both start with PUSH1
    unreadable = [f for f in report.findings if f.kind == "state_unreadable"]
    assert any("balanceOf(" in read for f in unreadable for read in f.evidence["reads"])
    assert report.exit_code() == 1


def test_audit_finds_code_that_breaks_in_the_evm_and_still_reports(tampered: Programme, tmp_path: Path) -> None:
    """A byte changed in the anchors' code: the EVM stops on an invalid jump when the records
    are checked (the node's error, not a revert); reported, not retried as a node failure."""
    chain, anchors = tampered.chain, tampered.ledger.deployment.anchors_address
    code = bytearray(chain.code(anchors))
    code[100] ^= 0x01
    chain.rpc("anvil_setCode", [anchors, "0x" + code.hex()])

    report = tampered.audit(records_file=_records_file(tmp_path, tampered.seeded.anchored_records))
    assert _kinds(report) == {"code_mismatch", "state_unreadable"}
    unreadable = next(f for f in report.findings if f.kind == "state_unreadable")
    assert all(read.startswith(("anchorOf(", "verifyRecord(")) for read in unreadable.evidence["reads"])
    assert report.scan["retries"] == 0


def test_audit_calls_code_differing_only_in_its_metadata_a_partial_match(tampered: Programme) -> None:
    """Same executable code, other metadata hash (sources differing in comments): not a finding,
    but the report says which it is."""
    chain, anchors = tampered.chain, tampered.ledger.deployment.anchors_address
    code = bytearray(chain.code(anchors))
    code[-20] ^= 0xFF  # inside the CBOR metadata's IPFS hash
    chain.rpc("anvil_setCode", [anchors, "0x" + code.hex()])

    report = tampered.audit()
    assert report.clean
    match = {c.name: c for c in report.code}["anchors"]
    assert match.match == "partial" and match.metadata_on_chain["ipfs"] != match.metadata_expected["ipfs"]


@pytest.mark.parametrize("who", ["unknown key", "operator revoked earlier"])
def test_audit_finds_an_act_by_a_role_no_event_granted(tampered: Programme, who: str) -> None:
    chain, points = tampered.chain, tampered.ledger.deployment.points_address
    minter = Role.MINTER.role_id
    # AccessControl: mapping(bytes32 role => RoleData{mapping(address => bool) hasRole; ...}).
    # Probe its declaration slot with the city, which holds the minter role by an event.
    index = next(
        i
        for i in range(16)
        if _storage(chain, points, _mapping_slot(_address_bytes(tampered.city.address), _mapping_slot(minter, i))) == 1
    )
    rogue: LocalAccount
    if who == "unknown key":
        rogue = Account.create()
    else:
        assert tampered.seeded.operator is not None
        rogue = tampered.seeded.operator
        assert not tampered.ledger.has_role(Role.MINTER, rogue.address)
    _set_storage(chain, points, _mapping_slot(_address_bytes(rogue.address), _mapping_slot(minter, index)), 1)
    chain.rpc("anvil_setBalance", [rogue.address, hex(10**18)])
    assert tampered.ledger.has_role(Role.MINTER, rogue.address)
    activity_id = tampered.ledger.last_activity_id() + 1
    (result,) = Ledger(chain, tampered.ledger.deployment, rogue).award_points(
        [ActivityAward(activity_id, _member(tampered), 10)]
    )

    report = tampered.audit()
    assert _kinds(report) == {"unauthorised_act", "role_state_mismatch"}
    (act,) = [f for f in report.findings if f.kind == "unauthorised_act"]
    assert act.record is not None
    assert (act.record["type"], act.record["tx_hash"]) == ("AwardRecorded", result.tx_hash)
    assert act.evidence["sender"] == rogue.address and act.evidence["role"] == "minter"
    assert rogue.address not in act.evidence["holders_then"]
    (state,) = [f for f in report.findings if f.kind == "role_state_mismatch"]
    assert state.evidence == {
        "contract": "points",
        "role": "minter",
        "account": rogue.address,
        "on_chain": True,
        "rebuilt": False,
    }


def test_audit_finds_a_cap_raised_behind_the_events_back_and_exceeded(tampered: Programme) -> None:
    chain, points, ledger = tampered.chain, tampered.ledger.deployment.points_address, tampered.ledger
    maximum, cap = ledger.limits()
    assert (maximum, cap) == (500, 2_500)  # the last LimitsChanged
    supply = ledger.total_supply()
    # The programme's word: total supply, last activity id, max per award, daily cap (64 bits each).
    slot = next(
        s
        for s in range(32)
        if (v := _storage(chain, points, s)) & _MASK64 == supply and v >> 128 & _MASK64 == maximum and v >> 192 == cap
    )
    word = _storage(chain, points, slot)
    _set_storage(chain, points, slot, (word & (2**128 - 1)) | (10_000 << 128) | (20_000 << 192))
    assert ledger.limits() == (10_000, 20_000)
    citizen = _member(tampered, 1)
    activity_id = ledger.last_activity_id() + 1
    (result,) = tampered.city_ledger().award_points([ActivityAward(activity_id, citizen, 5_000)])

    report = tampered.audit()
    assert _kinds(report) == {"award_over_maximum", "daily_cap_exceeded", "limits_mismatch"}
    over = next(f for f in report.findings if f.kind == "award_over_maximum")
    assert over.record is not None and over.record["tx_hash"] == result.tx_hash
    assert over.evidence == {"points": 5_000, "max_points_per_award": 500, "activity_id": activity_id}
    daily = next(f for f in report.findings if f.kind == "daily_cap_exceeded")
    assert daily.evidence["citizen"] == citizen and daily.evidence["daily_cap"] == 2_500
    limits = next(f for f in report.findings if f.kind == "limits_mismatch")
    assert limits.evidence["on_chain"] == {"max_points_per_award": 10_000, "daily_cap": 20_000}
    assert limits.evidence["rebuilt"] == {"max_points_per_award": 500, "daily_cap": 2_500}


# ---------------------------------------------------------------- off-chain records and proofs


def _records_file(tmp_path: Path, entries: list[dict[str, Any]]) -> Path:
    path = tmp_path / "anchored-records.json"
    path.write_text(json.dumps(entries))
    return path


def test_audit_proves_the_published_records(programme: Programme, tmp_path: Path) -> None:
    report = programme.audit(records_file=_records_file(tmp_path, programme.seeded.anchored_records))
    assert report.clean
    assert report.anchors["records_file"]["verified"] == len(programme.seeded.anchored_records) == 21
    # the same entries given as a list (the service's own export), not a file
    given = programme.audit(records_file=programme.seeded.anchored_records)
    assert given.clean and given.anchors["records_file"]["verified"] == 21


def test_audit_finds_an_anchored_record_altered_after_anchoring(programme: Programme, tmp_path: Path) -> None:
    entries = copy.deepcopy(programme.seeded.anchored_records)
    entries[3]["content_hash"] = "0x" + keccak(b"the decision as it reads now").hex()

    report = programme.audit(records_file=_records_file(tmp_path, entries))
    assert _kinds(report) == {"record_altered"}
    (finding,) = report.findings
    assert finding.evidence["record_id"] == entries[3]["record_id"]
    assert finding.evidence["original_leaf_proven"] is True  # the leaf as anchored is in the root
    assert finding.evidence["recomputed_leaf"] != finding.evidence["leaf"]


def test_audit_finds_a_record_whose_root_was_never_anchored(programme: Programme, tmp_path: Path) -> None:
    entries = copy.deepcopy(programme.seeded.anchored_records[:2])
    content = "0x" + keccak(b"a review decision").hex()
    leaf = bytes.fromhex(anchor_leaf("review", 999, content, entries[0]["at"])[2:])
    tree = merkle.make_tree([leaf, keccak(b"another")])
    entries.append(
        {
            "record_type": "review",
            "record_id": 999,
            "content_hash": content,
            "at": entries[0]["at"],
            "leaf": "0x" + leaf.hex(),
            "root": "0x" + tree[0].hex(),
            "proof": ["0x" + p.hex() for p in merkle.proof_for(tree, 0)],
        }
    )

    report = programme.audit(records_file=_records_file(tmp_path, entries))
    assert _kinds(report) == {"record_not_anchored"}
    assert report.findings[0].evidence["record_id"] == 999


def test_audit_finds_a_doctored_inclusion_proof(programme: Programme, tmp_path: Path) -> None:
    entries = copy.deepcopy(programme.seeded.anchored_records)
    entries[5]["proof"][0] = "0x" + keccak(b"not the sibling").hex()

    report = programme.audit(records_file=_records_file(tmp_path, entries))
    assert _kinds(report) == {"record_proof_invalid"}
    assert report.findings[0].evidence["record_id"] == entries[5]["record_id"]


@pytest.mark.parametrize(
    ("doctor", "failing_check"),
    [
        (lambda p: p["record"].update(points=p["record"]["points"] + 100), "record_matches"),
        (lambda p: p.update(block_hash="0x" + "ab" * 32), "in_block"),
        (lambda p: p.update(tx_hash="0x" + "cd" * 32), "transaction_found"),
        (lambda p: p.update(log_index=p["log_index"] + 500), "log_found"),
    ],
    ids=["points", "block_hash", "tx_hash", "log_index"],
)
def test_audit_finds_a_doctored_proof_file(
    programme: Programme, tmp_path: Path, doctor: Any, failing_check: str
) -> None:
    award = next(r for r in programme.clean.records if isinstance(r, AwardRecorded))
    proof = proof_of(award, programme.ledger.deployment.contracts)
    good, bad = tmp_path / "good.json", tmp_path / "doctored.json"
    good.write_text(json.dumps(proof))
    doctor(proof)
    bad.write_text(json.dumps(proof))

    report = programme.audit(proof_files=[good, bad])
    assert _kinds(report) == {"proof_invalid"}
    (finding,) = report.findings
    assert finding.evidence["file"] == str(bad)
    assert finding.evidence["failed_check"] == failing_check
    assert {c.name: c.outcome for c in report.checks}["proof_files"] == "failed"
