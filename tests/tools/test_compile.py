"""The committed artifacts are what the sources in the tree compile to."""

import json
import shutil

import pytest

from devtools import compiler


def test_artifacts_match_the_source_hash_of_the_tree():
    assert compiler.stale_artifacts() == [], "artifacts are stale: run `civic compile` and commit ledger/artifacts"


def test_source_hash_changes_when_a_contract_changes(tmp_path):
    for part in ("contracts", "node_modules/@openzeppelin"):
        shutil.copytree(compiler.ROOT / part, tmp_path / part)
    before = compiler.source_hash(compiler.build_input(tmp_path))
    points = tmp_path / "contracts" / "CivicPoints.sol"
    points.write_text(points.read_text() + "\n// a change\n")
    assert compiler.source_hash(compiler.build_input(tmp_path)) != before


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("node") is None, reason="recompiling needs Node.js for solc-js")
def test_recompile_reproduces_the_committed_bytecode():
    fresh = compiler.compile_contracts()
    for name, artifact in fresh.items():
        committed = json.loads((compiler.ARTIFACTS_DIR / f"{name}.json").read_text())
        assert artifact["bytecode"] == committed["bytecode"], f"{name} bytecode differs: recompile and commit"
        assert artifact["abi"] == committed["abi"]
        assert artifact["compiler"]["version"].startswith(compiler.SOLC_VERSION + "+")
