"""The outbox: signed transactions recorded before they are broadcast. Pure data, no web3."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

__all__ = ["MemoryOutbox", "Outbox", "OutboxEntry", "Status"]

Status = Literal["signed", "mined", "failed", "replaced"]


@dataclass
class OutboxEntry:
    sender: str
    nonce: int
    tx_hash: str
    raw: bytes
    status: Status = "signed"
    block_number: int | None = None


class Outbox(Protocol):
    """Where signed transactions are kept before they are broadcast (durable in the service)."""

    def record(self, entry: OutboxEntry) -> None:
        """Stores ``entry``; must be durable when it returns."""

    def settle(self, tx_hash: str, status: Status, block_number: int | None) -> None: ...

    def unsettled(self, sender: str) -> list[OutboxEntry]:
        """Entries still ``signed``, lowest nonce first."""

    def highest_nonce(self, sender: str) -> int | None: ...


class MemoryOutbox:
    """An outbox that lives as long as the process (for tools and tests)."""

    def __init__(self) -> None:
        self.entries: dict[str, OutboxEntry] = {}

    def record(self, entry: OutboxEntry) -> None:
        self.entries[entry.tx_hash] = entry

    def settle(self, tx_hash: str, status: Status, block_number: int | None) -> None:
        entry = self.entries[tx_hash]
        entry.status, entry.block_number = status, block_number

    def unsettled(self, sender: str) -> list[OutboxEntry]:
        return sorted(
            (e for e in self.entries.values() if e.sender == sender and e.status == "signed"), key=lambda e: e.nonce
        )

    def highest_nonce(self, sender: str) -> int | None:
        nonces = [e.nonce for e in self.entries.values() if e.sender == sender]
        return max(nonces) if nonces else None
