"""Signing and sending transactions: local keys, one nonce allocator per key, an outbox.

Every transaction is signed locally, recorded in the outbox (with the intent it carries out), and
only then broadcast. A nonce is allocated, signed into a transaction and recorded under one lock;
if recording fails the nonce is given back, so none is lost between allocation and broadcast.
After a crash, :meth:`TransactionSender.resume` re-sends the very same signed bytes of anything
not yet settled, so a piece of work never gets a second transaction. A transaction not mined in
time is replaced at the same nonce with a fee bump. A nonce the node never received (a refused
transaction below others already queued) is a gap: :meth:`fill_gaps` sends an empty transaction
at it so the queue behind it moves. Receipts with status 0 are failures.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from eth_account.signers.local import LocalAccount
from requests.exceptions import RequestException
from web3.exceptions import Web3Exception
from web3.types import TxParams

from ._chain import Chain, Receipt, revert_decoder
from .errors import ChainUnavailable, LedgerError, TransactionFailed
from .outbox import MemoryOutbox, Outbox, OutboxEntry, Status

__all__ = ["Submitted", "TransactionSender"]

_DEFAULT_PRIORITY_FEE = 10**9
#: Nodes refuse a replacement unless both fees rise by at least 10%.
_FEE_BUMP = 1.125
_GAS_TRANSFER = 21_000


@dataclass
class Submitted:
    """A transaction recorded and broadcast, not yet awaited."""

    entry: OutboxEntry
    tx: dict[str, Any]


class TransactionSender:
    """Sends transactions signed by one local account.

    Nonces come from a counter kept here under a lock, started once from the larger of the
    node's pending count and the outbox's highest nonce, so concurrent callers never share a
    nonce and no request reads the node's count. The gas limit comes, by ``gas_strategy``: from the
    node's ``eth_estimateGas`` ("estimate", the default on a node: it also refuses a transaction
    that would revert before any gas is spent); from the caller's budget after one ``eth_call``
    ("preflight"); or from the budget alone ("budget", the default on the embedded chain, whose
    estimate re-executes a transaction a dozen times and whose gas costs nothing: a transaction
    that reverts is mined with status 0 and its error decoded by replaying it). Bulk work
    (:meth:`submit_many`) checks only the first transaction of a run and sends the rest at
    consecutive nonces without waiting for each receipt.
    """

    def __init__(
        self,
        chain: Chain,
        account: LocalAccount,
        *,
        outbox: Outbox | None = None,
        gas_strategy: str | None = None,
        receipt_timeout: float = 120.0,
        receipt_poll: float = 0.02,
        replace_after: float = 30.0,
    ) -> None:
        self.chain = chain
        self.account = account
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self._strategy = gas_strategy or ("budget" if chain.embedded else "estimate")
        self._timeout = receipt_timeout
        self._poll = receipt_poll
        self._replace_after = replace_after
        self._lock = threading.RLock()
        self._next_nonce: int | None = None
        #: Set when a node failure leaves a recorded transaction unsettled: the next send
        #: resumes it first, since every later nonce waits behind it.
        self._stranded = False
        self._block_gas_limit = chain.block_gas_limit()

    @property
    def address(self) -> str:
        return str(self.account.address)

    @property
    def _w3(self) -> Any:
        return self.chain._w3

    # ------------------------------------------------------------------ sending

    def send(self, params: TxParams, *, budget: int, intent: str | None = None) -> Receipt:
        """Checks, signs, records, sends and waits for a transaction; raises the decoded error
        if it fails. If the node goes away after the transaction is recorded, it stays in the
        outbox and :meth:`resume` sends it again (first thing in the next send)."""
        (submitted,) = self.submit_many([(params, budget)], intent=intent)
        return self.await_submitted(submitted)

    def submit_many(
        self,
        calls: Sequence[tuple[TxParams, int]],
        *,
        intent: str | None = None,
        intents: Sequence[str | None] | None = None,
        check: str = "first",
    ) -> list[Submitted]:
        """Signs, records and broadcasts ``calls`` at consecutive nonces without waiting for
        receipts, each under ``intent`` (or its own of ``intents``). ``check`` is ``"first"``
        (only the first is checked before sending: the rest follow the same shape) or ``"all"``."""
        labels = list(intents) if intents is not None else [intent] * len(calls)
        if self._stranded:
            self.resume()
        prepared = []
        for i, (params, budget) in enumerate(calls):
            tx: dict[str, Any] = dict(params)
            tx["from"] = self.account.address
            tx["chainId"] = self.chain.chain_id
            if i == 0 or check == "all":
                tx["gas"] = self._gas_limit(tx, budget)
            else:
                tx["gas"] = min(budget, self._block_gas_limit - 1)
            prepared.append(tx)
        fees = self._fees()
        submitted = []
        with self._lock:
            for tx, label in zip(prepared, labels, strict=True):
                tx.update(fees)
                tx["nonce"] = self._allocate_nonce()
                try:
                    entry = self._sign_and_record(tx, label)
                except BaseException:
                    self._next_nonce = tx["nonce"]  # not recorded, never sent: the nonce is free again
                    raise
                self._broadcast(entry)
                submitted.append(Submitted(entry, tx))
        return submitted

    def await_submitted(self, submitted: Submitted) -> Receipt:
        receipt = self._await([submitted.entry], submitted.tx)
        if not receipt.succeeded:
            raise self._failure(submitted.tx, receipt)
        return receipt

    def _gas_limit(self, tx: dict[str, Any], budget: int) -> int:
        with self.chain.translated("checking the transaction"):
            if self._strategy == "estimate":
                return min(int(self._w3.eth.estimate_gas(tx) * 1.25) + 10_000, self._block_gas_limit)
            if self._strategy == "preflight":
                self._w3.eth.call(tx)
        return min(budget, self._block_gas_limit - 1)

    def _fees(self) -> dict[str, int]:
        with self.chain.translated("reading fees"):
            base = self._w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
            try:
                tip = int(self._w3.eth.max_priority_fee)
            except Web3Exception:
                tip = _DEFAULT_PRIORITY_FEE
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * int(base) + tip}

    def _allocate_nonce(self) -> int:
        if self._next_nonce is None:
            on_chain = self.chain.nonce(self.address, "pending")
            recorded = self.outbox.highest_nonce(self.address)
            self._next_nonce = max(on_chain, recorded + 1 if recorded is not None else 0)
        nonce = self._next_nonce
        self._next_nonce += 1
        return nonce

    def _sign_and_record(self, tx: dict[str, Any], intent: str | None) -> OutboxEntry:
        signed = self.account.sign_transaction(tx)
        entry = OutboxEntry(
            self.address, int(tx["nonce"]), signed.hash.to_0x_hex(), bytes(signed.raw_transaction), intent=intent
        )
        self.outbox.record(entry)
        return entry

    def _broadcast(self, entry: OutboxEntry) -> None:
        """Sends the recorded bytes. A node that already has them (or has mined them) is fine."""
        try:
            self._w3.eth.send_raw_transaction(entry.raw)
        except Exception as exc:
            if self._already_on_chain(entry, exc):
                return
            self._refused(entry, exc)

    def _already_on_chain(self, entry: OutboxEntry, exc: Exception) -> bool:
        """Whether a refused broadcast only means the node has these bytes already. Nodes word
        it differently ("already known", "nonce too low", eth-tester's "Invalid transaction
        nonce"), so the node is asked for the transaction itself when the words suggest it."""
        text = str(exc).lower()
        if "already known" in text or "already imported" in text:
            return True
        if "nonce" not in text:
            return False
        try:
            return self.chain.transaction(entry.tx_hash) is not None
        except LedgerError:
            return False

    def _refused(self, entry: OutboxEntry, exc: Exception) -> None:
        if isinstance(exc, RequestException | OSError):
            # The node could not be reached: the transaction stays in the outbox for resume().
            self._stranded = True
            raise ChainUnavailable(f"broadcasting {entry.tx_hash} failed; it stays queued: {exc}") from exc
        # The node answered and refused: the transaction will never be mined. Its nonce is free
        # again: resynchronise the counter (a nonce below others already queued is a gap, which
        # fill_gaps() closes).
        self.outbox.settle(entry.tx_hash, "failed", None)
        self._next_nonce = None
        raise revert_decoder().from_exception(exc) or TransactionFailed(entry.tx_hash, str(exc)) from exc

    def _await(self, candidates: list[OutboxEntry], tx: dict[str, Any] | None) -> Receipt:
        """Waits for one of ``candidates`` (transactions at the same nonce) to be mined, bumping
        fees when it is stuck for ``replace_after`` seconds and ``tx`` is known."""
        candidates = list(candidates)
        entry = candidates[0]
        deadline = time.monotonic() + self._timeout
        replace_at = time.monotonic() + self._replace_after
        while True:
            for candidate in candidates:
                try:
                    receipt = self.chain.receipt(candidate.tx_hash)
                except ChainUnavailable:
                    self._stranded = True
                    raise
                if receipt is None:
                    continue
                status: Status = "mined" if receipt.succeeded else "failed"
                self.outbox.settle(candidate.tx_hash, status, receipt.block_number)
                for other in candidates:
                    if other is not candidate:
                        self.outbox.settle(other.tx_hash, "replaced", None)
                return receipt
            now = time.monotonic()
            if now >= deadline:
                self._stranded = True
                raise ChainUnavailable(f"{entry.tx_hash} was not mined within {self._timeout}s; it stays queued")
            if tx is not None and now >= replace_at:
                tx = dict(tx)
                tx["maxFeePerGas"] = int(tx["maxFeePerGas"] * _FEE_BUMP) + 1
                tx["maxPriorityFeePerGas"] = int(tx["maxPriorityFeePerGas"] * _FEE_BUMP) + 1
                with self._lock:
                    replacement = self._sign_and_record(tx, entry.intent)
                    try:
                        self._broadcast(replacement)
                    except LedgerError:
                        # Refused (an underpriced replacement, say): the original stays the one to wait for.
                        replacement = None  # type: ignore[assignment]
                if replacement is not None:
                    candidates.append(replacement)
                replace_at = now + self._replace_after
            time.sleep(self._poll)

    # ------------------------------------------------------------------ recovery

    def resume(self) -> list[Receipt]:
        """Re-sends, in nonce order, every recorded transaction not yet settled (the same signed
        bytes, so the same hash), closes any nonce gap, and waits for each nonce to be mined.

        A nonce may hold an original and its fee-bumped replacements: only the newest (the
        highest fee) is sent again, and whichever of them the node mines settles the nonce."""
        with self._lock:
            self._stranded = False
            by_nonce: dict[int, list[OutboxEntry]] = {}
            for entry in self.outbox.unsettled(self.address):  # oldest first within a nonce
                by_nonce.setdefault(entry.nonce, []).append(entry)
            mined_count = self.chain.nonce(self.address, "latest")
            for nonce, group in sorted(by_nonce.items()):
                if nonce < mined_count:
                    continue  # something at this nonce is mined already: its receipt settles it below
                try:
                    self._broadcast(group[-1])
                except LedgerError:
                    if self._stranded:
                        raise
            self.fill_gaps()
        receipts = []
        for _, group in sorted(by_nonce.items()):
            receipt = self._settle_group(group)
            if receipt is not None:
                receipts.append(receipt)
        return receipts

    def _settle_group(self, group: list[OutboxEntry]) -> Receipt | None:
        """Settles the entries at one nonce: whichever of them is mined, or all of them as
        replaced when another transaction took the nonce (a gap filler, another process)."""
        for entry in group:
            receipt = self.chain.receipt(entry.tx_hash)
            if receipt is not None:
                status: Status = "mined" if receipt.succeeded else "failed"
                self.outbox.settle(entry.tx_hash, status, receipt.block_number)
                for other in group:
                    if other is not entry:
                        self.outbox.settle(other.tx_hash, "replaced", None)
                return receipt
        if self.chain.nonce(self.address, "latest") > group[0].nonce:
            for entry in group:
                self.outbox.settle(entry.tx_hash, "replaced", None)
            return None
        return self._await(group, None)

    def nonce_gap(self) -> tuple[int, int] | None:
        """``(expected, lowest_queued)`` when the node's pending nonce is below the lowest
        transaction we still hold: a transaction was lost and every later one is stuck behind it."""
        pending = self.outbox.unsettled(self.address)
        if not pending:
            return None
        on_chain = self.chain.nonce(self.address, "pending")
        lowest = pending[0].nonce
        return (on_chain, lowest) if on_chain < lowest else None

    def fill_gaps(self) -> list[int]:
        """Sends an empty transaction (0 to itself) at every nonce in a gap, so the transactions
        queued above it can be mined. Returns the nonces filled."""
        filled = []
        with self._lock:
            gap = self.nonce_gap()
            while gap is not None:
                nonce = gap[0]
                tx: dict[str, Any] = {
                    "to": self.account.address,
                    "value": 0,
                    "gas": _GAS_TRANSFER,
                    "nonce": nonce,
                    "chainId": self.chain.chain_id,
                    **self._fees(),
                }
                entry = self._sign_and_record(tx, "gap-filler")
                self._broadcast(entry)
                filled.append(nonce)
                gap = self.nonce_gap()
            if filled:
                self._next_nonce = None
        return filled

    def _failure(self, tx: dict[str, Any], receipt: Receipt) -> LedgerError:
        """Replays a failed transaction against the state before its block to name the error."""
        tx_hash = receipt.tx_hash
        replay = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}
        try:
            self._w3.eth.call(replay, block_identifier=receipt.block_number - 1)
        except Exception as exc:
            error = revert_decoder().from_exception(exc)
            if error is not None:
                return error
        if receipt.gas_used >= tx["gas"]:
            return TransactionFailed(tx_hash, f"out of gas at limit {tx['gas']}")
        return TransactionFailed(tx_hash)
