"""Reproducible compile of the Solidity contracts into committed artifacts.

Imports are resolved here, in Python, and every source goes into the standard-JSON input as
``content``: the compiler never reads the file system, so a native solc (through py-solc-x) and
solc-js (from npm) receive byte-identical input and produce identical output. The artifacts record
a hash of that input; :func:`stale_artifacts` compares it with the tree to catch a forgotten
recompile.
"""

from __future__ import annotations

import hashlib
import json
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

__all__ = [
    "ARTIFACTS_DIR",
    "CONTRACTS",
    "SOLC_VERSION",
    "CompileError",
    "build_input",
    "compile_contracts",
    "source_hash",
    "stale_artifacts",
    "write_artifacts",
]

SOLC_VERSION = "0.8.28"
EVM_VERSION = "cancun"
OPTIMIZER_RUNS = 200
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS_DIR = ROOT / "ledger" / "artifacts"
#: Entry points compiled into artifacts, with their source unit names.
CONTRACTS = {
    "CivicPoints": "contracts/CivicPoints.sol",
    "CivicBadges": "contracts/CivicBadges.sol",
    "CivicAnchors": "contracts/CivicAnchors.sol",
    "CivicPointsWithoutTransfer": "contracts/test/CivicPointsWithoutTransfer.sol",
    "ReentrantAttendee": "contracts/test/ReentrantAttendee.sol",
    "BaselineERC20": "contracts/test/BaselineTokens.sol",
    "BaselineERC1155": "contracts/test/BaselineTokens.sol",
}
_REMAPPINGS = {"@openzeppelin/": "node_modules/@openzeppelin/"}
_SOLCJS_DRIVER = """
const solc = require("solc");
const fs = require("fs");
if (!solc.version().startsWith(process.env.CIVIC_SOLC_VERSION + "+")) {
  console.error("solc-js " + solc.version() + " is not the pinned version: run `npm ci`");
  process.exit(3);
}
process.stdout.write(solc.compile(fs.readFileSync(process.argv[1], "utf8")));
"""
_IMPORT = re.compile(r'^\s*import\s+(?:[^"\']*\s+from\s+)?["\']([^"\']+)["\']\s*;', re.MULTILINE)


class CompileError(RuntimeError):
    """The compiler could not be run or reported errors."""


def _unit_path(unit: str, root: Path) -> Path:
    for prefix, target in _REMAPPINGS.items():
        if unit.startswith(prefix):
            return root / target / unit[len(prefix) :]
    return root / unit


def _resolve(importer: str, target: str) -> str:
    if target.startswith("./") or target.startswith("../"):
        return posixpath.normpath(posixpath.join(posixpath.dirname(importer), target))
    return target


def collect_sources(root: Path = ROOT) -> dict[str, str]:
    """Every source unit the entry points need, by unit name, read from ``root``."""
    sources: dict[str, str] = {}
    pending = sorted(set(CONTRACTS.values()))
    while pending:
        unit = pending.pop()
        if unit in sources:
            continue
        path = _unit_path(unit, root)
        if not path.is_file():
            hint = " (run `npm ci` for OpenZeppelin)" if unit.startswith("@openzeppelin/") else ""
            raise CompileError(f"source {unit!r} not found at {path}{hint}")
        text = path.read_text(encoding="utf-8")
        sources[unit] = text
        pending.extend(_resolve(unit, imported) for imported in _IMPORT.findall(text))
    return dict(sorted(sources.items()))


def build_input(root: Path = ROOT) -> dict[str, Any]:
    """The standard-JSON compiler input, self-contained."""
    return {
        "language": "Solidity",
        "sources": {unit: {"content": text} for unit, text in collect_sources(root).items()},
        "settings": {
            "optimizer": {"enabled": True, "runs": OPTIMIZER_RUNS},
            "evmVersion": EVM_VERSION,
            "viaIR": True,
            "outputSelection": {
                "*": {
                    "*": [
                        "abi",
                        "evm.bytecode.object",
                        "evm.deployedBytecode.object",
                        "evm.deployedBytecode.immutableReferences",
                        "metadata",
                    ]
                }
            },
        },
    }


def source_hash(standard_input: dict[str, Any]) -> str:
    canonical = json.dumps(standard_input, sort_keys=True, separators=(",", ":")).encode()
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


def _native_solc() -> str | None:
    """A native solc of the pinned version, through py-solc-x, if one is installed."""
    try:
        import solcx

        for version in solcx.get_installed_solc_versions():
            if str(version) == SOLC_VERSION:
                return str(solcx.get_executable(version))  # type: ignore[attr-defined]
    except Exception:  # py-solc-x absent or its install folder unreadable: fall back to solc-js
        return None
    found = shutil.which("solc")
    if found:
        out = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout
        if f"Version: {SOLC_VERSION}+" in out:
            return found
    return None


def _run_compiler(standard_input: dict[str, Any], root: Path) -> tuple[dict[str, Any], str]:
    payload = json.dumps(standard_input)
    native = _native_solc()
    if native:
        import solcx

        output = solcx.compile_standard(standard_input, solc_binary=native)
        return output, f"native solc {SOLC_VERSION} via py-solc-x"
    if not (root / "node_modules" / "solc" / "package.json").exists():
        raise CompileError("no native solc and no solc-js: run `npm ci` at the project root")
    # solc-js is driven through its library API with the input in a file: its CLI reads stdin
    # with readFileSync, which fails with EAGAIN on a non-blocking pipe.
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        handle.write(payload)
    try:
        proc = subprocess.run(
            ["node", "-e", _SOLCJS_DRIVER, handle.name],
            capture_output=True,
            text=True,
            check=False,
            cwd=root,
            env=os.environ | {"CIVIC_SOLC_VERSION": SOLC_VERSION},
        )
    finally:
        os.unlink(handle.name)
    start = proc.stdout.find("{")
    if proc.returncode != 0 or start < 0:
        raise CompileError(f"solc-js failed (exit {proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout[start:]), f"solc-js {SOLC_VERSION}"


def compile_contracts(root: Path = ROOT) -> dict[str, dict[str, Any]]:
    """Compiles the entry points and returns their artifacts by contract name."""
    standard_input = build_input(root)
    output, compiler = _run_compiler(standard_input, root)
    errors = [e for e in output.get("errors", []) if e.get("severity") == "error"]
    if errors:
        raise CompileError("\n".join(e.get("formattedMessage", e.get("message", "")) for e in errors))
    digest = source_hash(standard_input)
    artifacts: dict[str, dict[str, Any]] = {}
    for name, unit in CONTRACTS.items():
        compiled = output["contracts"][unit][name]
        metadata = json.loads(compiled["metadata"])
        artifacts[name] = {
            "contractName": name,
            "sourceName": unit,
            "abi": compiled["abi"],
            "bytecode": "0x" + compiled["evm"]["bytecode"]["object"],
            "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
            # Where the constructor writes immutables into the runtime code: what a bytecode
            # check must mask (see the audit), with the metadata hash the compiler appends.
            "immutableReferences": compiled["evm"]["deployedBytecode"].get("immutableReferences", {}),
            "metadata": metadata,
            "compiler": {"version": metadata["compiler"]["version"], "driver": compiler},
            "settings": standard_input["settings"] | {"outputSelection": None},
            "sourceHash": digest,
        }
    return artifacts


def write_artifacts(artifacts: dict[str, dict[str, Any]], root: Path = ROOT) -> list[Path]:
    """Writes one JSON file per contract plus the full compiler input, for source verification."""
    ARTIFACTS_DIR.mkdir(parents=True, exist_ok=True)
    written = []
    for name, artifact in artifacts.items():
        path = ARTIFACTS_DIR / f"{name}.json"
        path.write_text(json.dumps(artifact, indent=1, sort_keys=True) + "\n")
        written.append(path)
    standard_input = build_input(root)
    path = ARTIFACTS_DIR / "standard-input.json"
    path.write_text(json.dumps(standard_input, indent=1, sort_keys=True) + "\n")
    written.append(path)
    return written


def stale_artifacts(root: Path = ROOT) -> list[str]:
    """Names of committed artifacts whose source hash differs from the sources in the tree."""
    current = source_hash(build_input(root))
    stale = []
    for name in CONTRACTS:
        path = ARTIFACTS_DIR / f"{name}.json"
        if not path.exists() or json.loads(path.read_text()).get("sourceHash") != current:
            stale.append(name)
    return stale


def main() -> None:
    for path in write_artifacts(compile_contracts()):
        print(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
