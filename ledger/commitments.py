"""Hash commitments to what stays off-chain: evidence, review decisions, and their anchors.

The chain holds only salted hashes; the salt (erasable) and the content stay with the city.
Off-chain records are anchored as leaves of OpenZeppelin standard Merkle trees (``ledger.merkle``).
"""

from __future__ import annotations

from eth_utils import keccak

from .merkle import standard_leaf

__all__ = ["ANCHOR_LEAF_TYPES", "anchor_leaf", "evidence_commitment", "keccak_hex"]

#: An anchored record: its type ("evidence" or "review"), its id, the hash of its content, and when.
ANCHOR_LEAF_TYPES = ("string", "uint256", "bytes32", "uint64")


def keccak_hex(data: bytes) -> str:
    return "0x" + keccak(data).hex()


def evidence_commitment(*hashes: str, salt: str) -> str:
    """What goes on-chain for an award's evidence (a claim's photo and track hashes, or a staff
    award's one hash): a salted hash, so it cannot be linked back to the evidence without the
    salt kept (and erasable) off-chain."""
    return keccak_hex(bytes.fromhex(salt[2:]) + b"".join(bytes.fromhex(h[2:]) for h in hashes))


def anchor_leaf(record_type: str, record_id: int, content_hash: str, at: int) -> str:
    """The leaf of one off-chain record in its period's anchored tree."""
    return "0x" + standard_leaf(ANCHOR_LEAF_TYPES, [record_type, record_id, bytes.fromhex(content_hash[2:]), at]).hex()
