"""The outbox: signed transactions recorded before they are broadcast. Pure data, no web3.

The service keeps its outbox in its database (``api.store``); tools and tests use
:class:`MemoryOutbox`. Both must behave the same: ``tests/ledger/test_outbox_contract.py`` runs one
suite against every implementation.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace
from typing import Literal, Protocol

__all__ = ["MemoryOutbox", "Outbox", "OutboxEntry", "Status"]

#: ``signed``: recorded, maybe broadcast, not yet settled. ``mined``: mined with status 1.
#: ``failed``: mined with status 0, or refused by the node (never to be mined). ``replaced``:
#: another transaction at the same nonce was mined instead.
Status = Literal["signed", "mined", "failed", "replaced"]


@dataclass(frozen=True)
class OutboxEntry:
    sender: str
    nonce: int
    tx_hash: str
    raw: bytes
    status: Status = "signed"
    block_number: int | None = None
    #: The piece of work this transaction carries out (the service's intent id), so a retry or a
    #: restart finds the transaction instead of sending a second one.
    intent: str | None = None


class Outbox(Protocol):
    """Where signed transactions are kept before they are broadcast (durable in the service)."""

    def record(self, entry: OutboxEntry) -> None:
        """Stores ``entry``; must be durable when it returns."""

    def settle(self, tx_hash: str, status: Status, block_number: int | None) -> None: ...

    def unsettled(self, sender: str) -> list[OutboxEntry]:
        """Entries still ``signed``, lowest nonce first (oldest first within a nonce)."""

    def highest_nonce(self, sender: str) -> int | None:
        """The highest nonce of an entry that was not refused (``failed`` entries never took
        their nonce on-chain, so they do not count)."""

    def for_intent(self, intent: str) -> list[OutboxEntry]:
        """Every entry recorded for ``intent``, lowest nonce first."""


class MemoryOutbox:
    """An outbox that lives as long as the process (for tools and tests)."""

    def __init__(self) -> None:
        self._entries: dict[str, OutboxEntry] = {}
        self._order: list[str] = []
        self._lock = threading.Lock()

    def record(self, entry: OutboxEntry) -> None:
        with self._lock:
            self._entries[entry.tx_hash] = entry
            self._order.append(entry.tx_hash)

    def settle(self, tx_hash: str, status: Status, block_number: int | None) -> None:
        with self._lock:
            entry = self._entries.get(tx_hash)
            if entry is not None:
                self._entries[tx_hash] = replace(entry, status=status, block_number=block_number)

    def _all(self) -> list[OutboxEntry]:
        return [self._entries[h] for h in self._order]

    def unsettled(self, sender: str) -> list[OutboxEntry]:
        with self._lock:
            found = [e for e in self._all() if e.sender == sender and e.status == "signed"]
        return sorted(found, key=lambda e: e.nonce)  # stable: oldest first within a nonce

    def highest_nonce(self, sender: str) -> int | None:
        with self._lock:
            nonces = [e.nonce for e in self._all() if e.sender == sender and e.status != "failed"]
        return max(nonces) if nonces else None

    def for_intent(self, intent: str) -> list[OutboxEntry]:
        with self._lock:
            found = [e for e in self._all() if e.intent == intent]
        return sorted(found, key=lambda e: e.nonce)
