"""OpenZeppelin-compatible Merkle trees (the layout of ``@openzeppelin/merkle-tree``).

The PyPI package that does this (``multiproof``) pins ``eth-abi<6`` and cannot install beside
web3 8, so the few lines are here; ``tests/ledger/test_merkle.py`` checks them against OpenZeppelin's
own JavaScript library and against the contracts' ``MerkleProof`` verifier.

A tree over n leaves is an array of 2n - 1 nodes: leaf i at ``tree[2n - 2 - i]``, node i the
sorted-pair hash of nodes 2i + 1 and 2i + 2, the root at ``tree[0]``. Leaves are not sorted (the
contract builds the same shape on-chain for each batch of awards).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eth_abi import encode
from eth_utils import keccak

__all__ = ["hash_pair", "make_tree", "process_proof", "proof_for", "standard_leaf"]


def hash_pair(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a < b else keccak(b + a)


def standard_leaf(types: Sequence[str], values: Sequence[Any]) -> bytes:
    """The leaf of ``StandardMerkleTree``: ``keccak256(bytes.concat(keccak256(abi.encode(...))))``."""
    return keccak(keccak(encode(list(types), list(values))))


def make_tree(leaves: Sequence[bytes]) -> list[bytes]:
    """The node array of the tree over ``leaves`` (32-byte hashes, in the given order)."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    n = len(leaves)
    tree = [b""] * (2 * n - 1)
    for i, leaf in enumerate(leaves):
        if len(leaf) != 32:
            raise ValueError("leaves are 32-byte hashes")
        tree[2 * n - 2 - i] = bytes(leaf)
    for i in range(n - 2, -1, -1):
        tree[i] = hash_pair(tree[2 * i + 1], tree[2 * i + 2])
    return tree


def proof_for(tree: Sequence[bytes], leaf_index: int) -> list[bytes]:
    """The sibling hashes from leaf ``leaf_index`` (its position in the leaves given) to the root."""
    n = (len(tree) + 1) // 2
    if not 0 <= leaf_index < n:
        raise IndexError(f"leaf {leaf_index} is not in a tree of {n}")
    node = len(tree) - 1 - leaf_index
    proof = []
    while node > 0:
        sibling = node - 1 if node % 2 == 0 else node + 1
        proof.append(tree[sibling])
        node = (node - 1) // 2
    return proof


def process_proof(leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that ``proof`` leads to from ``leaf`` (OpenZeppelin's ``MerkleProof.processProof``)."""
    node = bytes(leaf)
    for sibling in proof:
        node = hash_pair(node, bytes(sibling))
    return node
