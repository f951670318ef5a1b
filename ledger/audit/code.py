"""Is the code at an address what the committed sources compile to? (Sourcify-style.)

The compiler's output for a contract (the artifact in ``ledger/artifacts``) gives its runtime
bytecode (``deployedBytecode``), where the values of constructor-set ``immutable`` variables go
(``immutableReferences``: zeros in the compiler's output, the constructor's values on-chain), and
ends with the CBOR-encoded metadata (the IPFS hash of the metadata document, which commits to every
source file's hash and to the compiler settings, and the compiler version), its length in the last
two bytes. The comparison masks the immutables, then:

* ``full``: every byte else equal, the metadata included: the code is this exact compilation of
  these exact source files (their hashes are in the metadata);
* ``partial``: equal except the metadata: the same executable code, from sources that differ only
  in what does not change the code (comments, NatSpec, file names) or from other metadata settings;
* ``mismatch``: the executable code differs (the first differing byte is reported);
* ``missing``: no code at the address.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["CodeMatch", "compare_code", "metadata_of", "split_metadata"]

Match = Literal["full", "partial", "mismatch", "missing"]

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class CodeMatch:
    """The outcome for one contract."""

    name: str
    address: str
    artifact: str
    match: Match
    #: The compiler and settings of the artifact, and the hash of the standard-JSON input it was
    #: compiled from (the committed sources): what an auditor reads when the code matches.
    compiler: str
    source_hash: str
    source_name: str
    source_keccak: str | None
    settings: dict[str, Any]
    on_chain_length: int
    expected_length: int
    #: Offset of the first byte that differs outside immutables and metadata (mismatch only).
    first_difference: int | None = None
    differing_bytes: int = 0
    #: Bytes that differ only inside immutable references (constructor values, as expected).
    immutable_bytes: int = 0
    immutables: dict[str, str] = field(default_factory=dict)
    metadata_on_chain: dict[str, str] = field(default_factory=dict)
    metadata_expected: dict[str, str] = field(default_factory=dict)
    detail: str = ""

    @property
    def summary(self) -> str:
        """A few words: ``full match``, ``partial match``, ``mismatch from byte N``, ``no code``."""
        if self.match == "mismatch":
            return f"mismatch from byte {self.first_difference}"
        return "no code" if self.match == "missing" else f"{self.match} match"


def _b58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    out = ""
    while number:
        number, rest = divmod(number, 58)
        out = _B58[rest] + out
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + out


def split_metadata(code: bytes) -> tuple[bytes, bytes]:
    """``code`` split into its executable part and its CBOR metadata (empty when it has none)."""
    if len(code) < 2:
        return code, b""
    length = int.from_bytes(code[-2:], "big")
    if length == 0 or length + 2 > len(code) or code[-2 - length] & 0xE0 != 0xA0:  # a CBOR map
        return code, b""
    return code[: -2 - length], code[-2 - length :]


def _cbor_item(data: bytes, i: int) -> tuple[Any, int]:
    head = data[i]
    major, info = head >> 5, head & 0x1F
    i += 1
    if info < 24:
        value = info
    elif info in (24, 25, 26, 27):
        size = 1 << (info - 24)
        value = int.from_bytes(data[i : i + size], "big")
        i += size
    else:
        raise ValueError("indefinite CBOR lengths are not in Solidity metadata")
    if major == 0:
        return value, i
    if major == 2:
        return data[i : i + value], i + value
    if major == 3:
        return data[i : i + value].decode(), i + value
    if major == 5:
        items = {}
        for _ in range(value):
            key, i = _cbor_item(data, i)
            items[key], i = _cbor_item(data, i)
        return items, i
    if major == 7:
        return {20: False, 21: True, 22: None}.get(info), i
    raise ValueError(f"CBOR major type {major} is not in Solidity metadata")


def metadata_of(cbor: bytes) -> dict[str, str]:
    """What the CBOR metadata says: ``ipfs`` (the metadata document's CID), ``bzzr1``,
    ``solc`` (the compiler version), as readable strings."""
    if not cbor:
        return {}
    try:
        items, _ = _cbor_item(cbor[:-2], 0)
    except (ValueError, IndexError, UnicodeDecodeError):
        return {"raw": "0x" + cbor.hex()}
    readable: dict[str, str] = {}
    for key, value in dict(items).items():
        if key == "ipfs" and isinstance(value, bytes):
            readable[key] = _b58(value)
        elif key == "solc" and isinstance(value, bytes) and len(value) == 3:
            readable[key] = ".".join(str(b) for b in value)
        elif isinstance(value, bytes):
            readable[str(key)] = "0x" + value.hex()
        else:
            readable[str(key)] = str(value)
    return readable


def compare_code(name: str, address: str, on_chain: bytes, artifact: dict[str, Any]) -> CodeMatch:
    """Compares the code at ``address`` with ``artifact``'s runtime bytecode."""
    expected = bytes.fromhex(str(artifact["deployedBytecode"]).removeprefix("0x"))
    metadata = artifact.get("metadata") or {}
    source_name = str(artifact.get("sourceName", ""))
    source = (metadata.get("sources") or {}).get(source_name) or {}
    common: dict[str, Any] = {
        "name": name,
        "address": address,
        "artifact": str(artifact.get("contractName", name)),
        "compiler": str((artifact.get("compiler") or {}).get("version", "")),
        "source_hash": str(artifact.get("sourceHash", "")),
        "source_name": source_name,
        "source_keccak": source.get("keccak256"),
        "settings": dict(artifact.get("settings") or {}),
        "on_chain_length": len(on_chain),
        "expected_length": len(expected),
    }
    if not on_chain:
        return CodeMatch(match="missing", detail=f"no code at {address}", **common)
    # Immutables: the compiler leaves zeros where the constructor writes its values.
    masked = bytearray(on_chain)
    immutables: dict[str, str] = {}
    immutable_bytes = 0
    for ast_id, refs in sorted((artifact.get("immutableReferences") or {}).items()):
        for ref in refs:
            start, length = int(ref["start"]), int(ref["length"])
            if start + length > len(masked):
                continue
            value = bytes(masked[start : start + length])
            immutables.setdefault(ast_id, "0x" + value.hex())
            immutable_bytes += sum(1 for a, b in zip(value, expected[start : start + length], strict=True) if a != b)
            masked[start : start + length] = expected[start : start + length]
    chain_code, chain_meta = split_metadata(bytes(masked))
    expected_code, expected_meta = split_metadata(expected)
    common.update(
        immutables=immutables,
        immutable_bytes=immutable_bytes,
        metadata_on_chain=metadata_of(chain_meta),
        metadata_expected=metadata_of(expected_meta),
    )
    if chain_code != expected_code:
        first = next(
            (i for i, (a, b) in enumerate(zip(chain_code, expected_code, strict=False)) if a != b),
            min(len(chain_code), len(expected_code)),
        )
        differing = sum(1 for a, b in zip(chain_code, expected_code, strict=False) if a != b) + abs(
            len(chain_code) - len(expected_code)
        )
        return CodeMatch(
            match="mismatch",
            first_difference=first,
            differing_bytes=differing,
            detail=(
                f"the executable code differs from {common['artifact']} "
                f"({common['compiler']}, {common['source_hash']}) "
                f"from byte {first} ({differing} bytes differ; {len(chain_code)} bytes on-chain, "
                f"{len(expected_code)} expected, immutables and metadata aside)"
            ),
            **common,
        )
    if chain_meta != expected_meta:
        return CodeMatch(
            match="partial",
            detail=(
                "the executable code is the compiler's output for the committed sources; only the metadata hash "
                f"differs (on-chain {metadata_of(chain_meta).get('ipfs', '?')}, expected "
                f"{metadata_of(expected_meta).get('ipfs', '?')}): sources that differ only in comments or names"
            ),
            **common,
        )
    return CodeMatch(
        match="full",
        detail=(
            f"byte for byte the output of {common['compiler']} for the committed sources ({common['source_hash']}), "
            f"metadata included; {len(immutables)} immutable value(s) set by the constructor"
        ),
        **common,
    )
