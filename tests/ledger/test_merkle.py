"""``ledger.merkle`` (OpenZeppelin's tree layout) checked three ways: against OpenZeppelin's own
JavaScript library (``@openzeppelin/merkle-tree``, a dev dependency in package.json), against the
root the points contract keeps for each batch of awards, and against the anchors contract's
``verifyRecord`` (OpenZeppelin's ``MerkleProof``)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from eth_utils import keccak

from ledger import ActivityAward, AwardRecorded, Metrics, RecordsAnchored, merkle
from tests.conftest import contract

ROOT = Path(__file__).resolve().parents[2]
OZ_PACKAGE = ROOT / "node_modules" / "@openzeppelin" / "merkle-tree" / "package.json"
SIZES = [1, 2, 5, 17]
RECORD_TYPES = ["address", "uint256", "bytes32"]

# Reads {"values", "types", "leaves"} on stdin; prints both trees' roots and every leaf's proof.
_OZ_SCRIPT = """
const { StandardMerkleTree, SimpleMerkleTree } = require("@openzeppelin/merkle-tree");
let input = "";
process.stdin.on("data", (chunk) => (input += chunk));
process.stdin.on("end", () => {
  const { values, types, leaves } = JSON.parse(input);
  const standard = StandardMerkleTree.of(values, types, { sortLeaves: false });
  const simple = SimpleMerkleTree.of(leaves, { sortLeaves: false });
  console.log(JSON.stringify({
    standard: { root: standard.root, proofs: values.map((_, i) => standard.getProof(i)) },
    simple: { root: simple.root, proofs: leaves.map((_, i) => simple.getProof(i)) },
  }));
});
"""


def _records(n: int) -> list[list[Any]]:
    """``n`` off-chain records of the shape the city anchors: who, a number, a commitment."""
    return [["0x" + keccak(text=f"who-{i}")[:20].hex(), i * 1_000 + 7, keccak(text=f"evidence-{i}")] for i in range(n)]


def _oz_trees(values: list[list[Any]], leaves: list[bytes]) -> dict[str, Any]:
    if shutil.which("node") is None:
        pytest.skip("node is not installed: cannot run OpenZeppelin's JavaScript merkle-tree")
    if not OZ_PACKAGE.exists():
        pytest.skip("@openzeppelin/merkle-tree is not installed: run `npm ci` in the repository root")
    payload = {
        "types": RECORD_TYPES,
        "values": [[address, str(number), "0x" + commitment.hex()] for address, number, commitment in values],
        "leaves": ["0x" + leaf.hex() for leaf in leaves],
    }
    done = subprocess.run(
        ["node", "-e", _OZ_SCRIPT],
        input=json.dumps(payload),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def _hex(nodes: list[bytes]) -> list[str]:
    return ["0x" + node.hex() for node in nodes]


# ---------------------------------------------------------------------------------------- (a) OpenZeppelin's library


@pytest.mark.parametrize("size", SIZES)
def test_make_tree_matches_openzeppelin_merkle_tree(size):
    values = _records(size)
    standard_leaves = [merkle.standard_leaf(RECORD_TYPES, v) for v in values]
    # SimpleMerkleTree takes ready leaves: use award leaves as the contract makes them.
    award_leaves = [ActivityAward(i + 1, "0x" + f"{i + 1:040x}", 10 + i).leaf() for i in range(size)]
    oz = _oz_trees(values, award_leaves)

    for leaves, js in ((standard_leaves, oz["standard"]), (award_leaves, oz["simple"])):
        tree = merkle.make_tree(leaves)
        assert "0x" + tree[0].hex() == js["root"]
        proofs = [merkle.proof_for(tree, i) for i in range(size)]
        assert [_hex(p) for p in proofs] == js["proofs"]
        for leaf, proof in zip(leaves, proofs, strict=True):
            assert merkle.process_proof(leaf, proof) == tree[0]


def test_make_tree_without_leaves_or_with_short_leaves_is_refused():
    with pytest.raises(ValueError):
        merkle.make_tree([])
    with pytest.raises(ValueError):
        merkle.make_tree([b"\x01" * 31])
    with pytest.raises(IndexError):
        merkle.proof_for(merkle.make_tree([b"\x01" * 32, b"\x02" * 32]), 2)


# ---------------------------------------------------------------------------------------- (b) the points contract


@pytest.mark.parametrize("size", SIZES)
def test_award_root_of_a_batch_is_the_merkle_root_of_its_award_leaves(chain, ledger, citizens, size):
    awards = [
        ActivityAward(
            100 + 3 * i,
            citizens[i % len(citizens)].address,
            1 + (37 * i) % 500,
            metrics=Metrics(distance_meters=1_000 + i, duration_seconds=600 * i, litter_grams=i, steps=10 * i),
            evidence_hash=keccak(text=f"evidence-{i}"),
        )
        for i in range(size)
    ]
    (result,) = ledger.award_points(awards)
    recorded = [r for r in result.records if isinstance(r, AwardRecorded)]
    assert [r.leaf() for r in recorded] == [a.leaf() for a in awards]

    root = merkle.make_tree([r.leaf() for r in recorded])[0]
    points = contract(chain, ledger, "points")
    assert points.functions.awardRoot(awards[0].activity_id).call() == root
    # Only the batch's first activity id keys a root.
    assert points.functions.awardRoot(awards[-1].activity_id + 1).call() == b"\0" * 32
    if size > 1:
        assert points.functions.awardRoot(awards[1].activity_id).call() == b"\0" * 32


def test_award_root_of_each_chunk_is_kept_under_its_first_activity_id(chain, ledger, citizens):
    awards = [ActivityAward(i, citizens[i % 5].address, 10 * i) for i in range(1, 6)]
    results = ledger.award_points(awards, chunk_size=2)
    assert len(results) == 3
    points = contract(chain, ledger, "points")
    for result in results:
        recorded = [r for r in result.records if isinstance(r, AwardRecorded)]
        root = merkle.make_tree([r.leaf() for r in recorded])[0]
        assert points.functions.awardRoot(recorded[0].activity_id).call() == root


# ---------------------------------------------------------------------------------------- (c) the anchors contract


def test_verify_record_accepts_a_merkle_proof_and_rejects_a_tampered_leaf(chain, ledger):
    values = _records(5)
    leaves = [merkle.standard_leaf(RECORD_TYPES, v) for v in values]
    tree = merkle.make_tree(leaves)
    root = tree[0]
    anchors = contract(chain, ledger, "anchors")
    now = ledger.chain_time()

    # Before it is anchored, even a correct proof proves nothing.
    assert not anchors.functions.verifyRecord(root, merkle.proof_for(tree, 0), leaves[0]).call()

    result = ledger.anchor_records(root, now - 86_400, now, len(leaves))
    (anchored,) = [r for r in result.records if isinstance(r, RecordsAnchored)]
    assert (anchored.root, anchored.records) == ("0x" + root.hex(), 5)

    for i, leaf in enumerate(leaves):
        proof = merkle.proof_for(tree, i)
        assert anchors.functions.verifyRecord(root, proof, leaf).call()
        assert ledger.verify_anchored(root, proof, leaf)

    # A record changed after anchoring (one more unit, another commitment) no longer verifies.
    address, number, commitment = values[2]
    proof = merkle.proof_for(tree, 2)
    for tampered in (
        [address, number + 1, commitment],
        [address, number, keccak(text="other evidence")],
        [values[3][0], number, commitment],
    ):
        leaf = merkle.standard_leaf(RECORD_TYPES, tampered)
        assert not anchors.functions.verifyRecord(root, proof, leaf).call()
        assert not ledger.verify_anchored(root, proof, leaf)
    # Nor does a genuine record with another record's proof.
    assert not anchors.functions.verifyRecord(root, merkle.proof_for(tree, 3), leaves[2]).call()
    # Nor a genuine proof against a root that was never anchored.
    other = merkle.make_tree([*leaves, merkle.standard_leaf(RECORD_TYPES, _records(6)[5])])
    assert not anchors.functions.verifyRecord(other[0], merkle.proof_for(other, 0), leaves[0]).call()
