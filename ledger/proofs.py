"""Proof files: one record (an award, a reversal, a redemption, a badge issued or revoked) with
everything needed to check it on any node, and the check itself.

A proof names the chain, the contracts, the transaction, its block (number and hash) and the
log index, and carries the decoded record (and an award's evidence commitment). :func:`check_proof`
needs nothing but the file and a node: it asks the node for the transaction and its receipt,
finds the log, checks who emitted it, decodes it again with the contracts' ABIs and compares, and
checks that the block is still on the canonical chain. Each check passes, fails, or is
"unknown" when the node cannot be asked.
"""

from __future__ import annotations

from typing import Any

from ._chain import Chain, load_artifact
from ._events import EventDecoder, RawLog
from .errors import LedgerError
from .records import AwardRecorded, ChainRecord, record_from_json, record_to_json
from .verification import Check

__all__ = ["PROOF_FORMAT", "check_proof", "proof_of"]

PROOF_FORMAT = "civic-ledger-proof/1"
_ARTIFACTS = {"points": "CivicPoints", "badges": "CivicBadges", "anchors": "CivicAnchors"}


def proof_of(record: ChainRecord, contracts: dict[str, str]) -> dict[str, Any]:
    """The proof file of ``record``; ``contracts`` maps points, badges and anchors to addresses."""
    ref = record.ref
    name = next((n for n, a in contracts.items() if a.lower() == ref.contract.lower()), None)
    proof: dict[str, Any] = {
        "format": PROOF_FORMAT,
        "chain_id": ref.chain_id,
        "contract": ref.contract,
        "contract_name": name,
        "contracts": dict(contracts),
        "tx_hash": ref.tx_hash,
        "block_number": ref.block_number,
        "block_hash": ref.block_hash,
        "log_index": ref.log_index,
        "record": record_to_json(record),
    }
    if isinstance(record, AwardRecorded):
        proof["evidence_commitment"] = record.evidence_hash
    return proof


def check_proof(proof: dict[str, Any], chain: Chain) -> list[Check]:
    """Every check of ``proof`` against ``chain``, in order; the first failure ends the list."""
    checks: list[Check] = []

    def done(name: str, outcome: str, detail: str) -> bool:
        checks.append(Check(name, outcome, detail))  # type: ignore[arg-type]
        return outcome == "passed"

    try:
        claimed = record_from_json(dict(proof["record"]))
        tx_hash, log_index = str(proof["tx_hash"]), int(proof["log_index"])
        block_number, block_hash = int(proof["block_number"]), str(proof["block_hash"])
        contracts = {str(k): str(v) for k, v in dict(proof["contracts"]).items()}
        valid = proof.get("format") == PROOF_FORMAT and int(proof["chain_id"]) >= 0
    except (KeyError, TypeError, ValueError) as exc:
        done("well_formed", "failed", f"not a proof file of this ledger: {exc!r}")
        return checks
    if not valid:
        done("well_formed", "failed", f"the format is not {PROOF_FORMAT}")
        return checks
    done("well_formed", "passed", f"a {type(claimed).__name__} record")
    if chain.chain_id != int(proof["chain_id"]):
        done("chain", "failed", f"the proof is for chain {proof['chain_id']}; the node is chain {chain.chain_id}")
        return checks
    done("chain", "passed", f"chain {chain.chain_id}")
    try:
        receipt = chain.receipt(tx_hash)
    except LedgerError as exc:
        done("transaction_found", "unknown", f"the node could not be asked: {exc}")
        return checks
    if receipt is None:
        done("transaction_found", "failed", f"no transaction {tx_hash} on this chain")
        return checks
    done("transaction_found", "passed", tx_hash)
    if not done(
        "transaction_succeeded",
        "passed" if receipt.succeeded else "failed",
        "status 1" if receipt.succeeded else "the transaction reverted (status 0)",
    ):
        return checks
    mined_hash = receipt.block_hash
    if not done(
        "in_block",
        "passed" if (receipt.block_number, mined_hash) == (block_number, block_hash) else "failed",
        f"mined in block {receipt.block_number} ({mined_hash}); the proof says {block_number} ({block_hash})",
    ):
        return checks
    try:
        canonical = chain.block_hash(block_number)
    except LedgerError as exc:
        done("block_canonical", "unknown", f"the node could not be asked: {exc}")
        return checks
    if not done(
        "block_canonical",
        "passed" if canonical == block_hash else "failed",
        f"block {block_number} is on the canonical chain"
        if canonical == block_hash
        else f"block {block_number} is now {canonical}: the record was reorganised away",
    ):
        return checks
    logs = [RawLog.of(log) for log in receipt.logs]
    log = next((entry for entry in logs if entry.log_index == log_index), None)
    if not done(
        "log_found", "passed" if log is not None else "failed", f"log {log_index} of {len(logs)} in the receipt"
    ):
        return checks
    assert log is not None
    emitter = log.address.lower()
    named = str(proof["contract"]).lower()
    ours = named in {a.lower() for a in contracts.values()}
    if not done(
        "emitted_by_contract",
        "passed" if emitter == named and ours else "failed",
        f"emitted by {log.address}; the proof names {proof['contract']} of its deployment {sorted(contracts)}",
    ):
        return checks
    decoder = EventDecoder(chain.chain_id, contracts, {n: load_artifact(_ARTIFACTS[n])["abi"] for n in contracts})
    decoded = next(
        (
            r
            for r in decoder.decode(receipt.logs)
            if (r.ref.tx_hash, r.ref.log_index) == (tx_hash, log_index) and type(r) is type(claimed)
        ),
        None,
    )
    same = decoded is not None and record_to_json(decoded) == record_to_json(claimed)
    done(
        "record_matches",
        "passed" if same else "failed",
        "the log decodes to the record in the proof"
        if same
        else f"the log decodes to {record_to_json(decoded) if decoded else 'no such record'}",
    )
    return checks
