"""Signing and sending transactions: local keys, one nonce allocator per key, an outbox.

Every transaction is signed locally, recorded in the outbox, and only then broadcast. After a
crash, :meth:`TransactionSender.resume` re-sends the very same signed bytes of anything not yet
settled, so a piece of work never gets a second transaction. A transaction not mined in time is
replaced at the same nonce with a fee bump. Receipts with status 0 are failures.
"""

from __future__ import annotations

import threading
import time
from typing import Any, NoReturn

from eth_account.signers.local import LocalAccount
from requests.exceptions import RequestException
from web3 import Web3
from web3.exceptions import TransactionNotFound, Web3Exception
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import TxParams, TxReceipt

from .errors import ChainUnavailable, LedgerError, RevertDecoder, TransactionFailed
from .outbox import MemoryOutbox, Outbox, OutboxEntry, Status

__all__ = ["TransactionSender"]

_DEFAULT_PRIORITY_FEE = 10**9
#: Nodes refuse a replacement unless both fees rise by at least 10%.
_FEE_BUMP = 1.125


class TransactionSender:
    """Sends transactions signed by one local account.

    Nonces come from a counter kept here under a lock, started once from the larger of the
    node's count and the outbox's highest nonce, so concurrent callers never share a nonce and
    no request reads the node's pending count. Before spending the city's gas every transaction
    is checked: on a real node by ``eth_estimateGas`` (which also gives the limit), on eth-tester
    by one ``eth_call`` and a fixed budget, because eth-tester's estimate re-executes the
    transaction about a dozen times.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: RevertDecoder,
        *,
        outbox: Outbox | None = None,
        gas_strategy: str | None = None,
        receipt_timeout: float = 120.0,
        receipt_poll: float = 0.02,
        replace_after: float = 30.0,
    ) -> None:
        self.w3 = w3
        self.account = account
        self.outbox: Outbox = outbox if outbox is not None else MemoryOutbox()
        self._decoder = decoder
        embedded = isinstance(w3.provider, EthereumTesterProvider)
        self._strategy = gas_strategy or ("preflight" if embedded else "estimate")
        self._timeout = receipt_timeout
        self._poll = receipt_poll
        self._replace_after = replace_after
        self._lock = threading.RLock()
        self._next_nonce: int | None = None
        #: Set when a node failure leaves a recorded transaction unsettled: the next send
        #: resumes it first, since every later nonce waits behind it.
        self._stranded = False
        try:
            self.chain_id = w3.eth.chain_id
            self._block_gas_limit = int(w3.eth.get_block("latest")["gasLimit"])
        except Exception as exc:
            raise ChainUnavailable(f"the node did not answer: {exc}") from exc

    @property
    def address(self) -> str:
        return str(self.account.address)

    def call_error(self, exc: BaseException) -> LedgerError | None:
        return self._decoder.from_exception(exc)

    def translate(self, exc: BaseException) -> LedgerError:
        """The ledger error for any exception from a node request: a decoded revert, or
        :class:`ChainUnavailable` when the node could not answer."""
        if isinstance(exc, LedgerError):
            return exc
        return self._decoder.from_exception(exc) or ChainUnavailable(f"the node request failed: {exc}")

    # ------------------------------------------------------------------ sending

    def _gas_limit(self, tx: dict[str, Any], budget: int) -> int:
        try:
            if self._strategy == "estimate":
                return min(int(self.w3.eth.estimate_gas(tx) * 1.25) + 10_000, self._block_gas_limit)  # type: ignore[arg-type]
            self.w3.eth.call(tx)  # type: ignore[arg-type]
        except Exception as exc:
            raise self.translate(exc) from exc
        return min(budget, self._block_gas_limit - 1)

    def _fees(self) -> dict[str, int]:
        base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Web3Exception:
            tip = _DEFAULT_PRIORITY_FEE
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * int(base) + tip}

    def _allocate_nonce(self) -> int:
        if self._next_nonce is None:
            try:
                on_chain = self.w3.eth.get_transaction_count(self.account.address, "pending")
            except Exception as exc:
                raise self.translate(exc) from exc
            recorded = self.outbox.highest_nonce(self.address)
            self._next_nonce = max(on_chain, recorded + 1 if recorded is not None else 0)
        nonce = self._next_nonce
        self._next_nonce += 1
        return nonce

    def _sign_and_record(self, tx: dict[str, Any]) -> OutboxEntry:
        signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
        entry = OutboxEntry(self.address, int(tx["nonce"]), signed.hash.to_0x_hex(), bytes(signed.raw_transaction))
        self.outbox.record(entry)
        return entry

    def _broadcast(self, entry: OutboxEntry) -> None:
        """Sends the recorded bytes. A node that already has them (or has mined them) is fine."""
        try:
            self.w3.eth.send_raw_transaction(entry.raw)
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
            self.w3.eth.get_transaction(entry.tx_hash)  # type: ignore[arg-type]
        except Exception:
            return False
        return True

    def _refused(self, entry: OutboxEntry, exc: Exception) -> NoReturn:
        if isinstance(exc, RequestException | OSError):
            # The node could not be reached: the transaction stays in the outbox for resume().
            self._stranded = True
            raise ChainUnavailable(f"broadcasting {entry.tx_hash} failed; it stays queued: {exc}") from exc
        # The node answered and refused: the transaction will never be mined. Give the nonce back
        # by resynchronising the counter from the node next time.
        self.outbox.settle(entry.tx_hash, "failed", None)
        self._next_nonce = None
        raise self._decoder.from_exception(exc) or TransactionFailed(entry.tx_hash, str(exc)) from exc

    def send(self, params: TxParams, *, budget: int) -> TxReceipt:
        """Checks, signs, records, sends and waits for a transaction; raises the decoded error
        if it fails. If the node goes away after the transaction is recorded, it stays in the
        outbox and :meth:`resume` sends it again (first thing in the next send)."""
        if self._stranded:
            self.resume()
        tx: dict[str, Any] = dict(params)
        tx["from"] = self.account.address
        tx["chainId"] = self.chain_id
        try:
            tx["gas"] = self._gas_limit(tx, budget)
            tx.update(self._fees())
        except LedgerError:
            raise
        except Exception as exc:
            raise self.translate(exc) from exc
        with self._lock:
            tx["nonce"] = self._allocate_nonce()
            entry = self._sign_and_record(tx)
            self._broadcast(entry)
        receipt = self._await([entry], tx)
        if receipt["status"] != 1:
            raise self._failure(tx, receipt)
        return receipt

    def _await(self, candidates: list[OutboxEntry], tx: dict[str, Any] | None) -> TxReceipt:
        """Waits for one of ``candidates`` (transactions at the same nonce) to be mined, bumping
        fees when it is stuck for ``replace_after`` seconds and ``tx`` is known."""
        candidates = list(candidates)
        entry = candidates[0]
        deadline = time.monotonic() + self._timeout
        replace_at = time.monotonic() + self._replace_after
        while True:
            for candidate in candidates:
                try:
                    receipt = self.w3.eth.get_transaction_receipt(candidate.tx_hash)  # type: ignore[arg-type]
                except TransactionNotFound:
                    continue
                except Exception as exc:
                    self._stranded = True
                    raise self.translate(exc) from exc
                status: Status = "mined" if receipt["status"] == 1 else "failed"
                self.outbox.settle(candidate.tx_hash, status, int(receipt["blockNumber"]))
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
                    replacement = self._sign_and_record(tx)
                    self._broadcast(replacement)
                candidates.append(replacement)
                replace_at = now + self._replace_after
            time.sleep(self._poll)

    def resume(self) -> list[TxReceipt]:
        """Re-sends, in nonce order, every recorded transaction not yet settled (the same signed
        bytes, so the same hash), and waits for each nonce to be mined.

        A nonce may hold an original and its fee-bumped replacements: only the newest (the
        highest fee) is sent again, and whichever of them the node mines settles the nonce."""
        receipts = []
        with self._lock:
            self._stranded = False
            by_nonce: dict[int, list[OutboxEntry]] = {}
            for entry in self.outbox.unsettled(self.address):  # oldest first within a nonce
                by_nonce.setdefault(entry.nonce, []).append(entry)
            for group in by_nonce.values():
                self._broadcast(group[-1])
        for group in by_nonce.values():
            receipts.append(self._await(group, None))
        return receipts

    def nonce_gap(self) -> tuple[int, int] | None:
        """``(expected, lowest_queued)`` when the node's nonce is below the lowest transaction we
        still hold: a transaction was lost and every later one is stuck behind it."""
        pending = self.outbox.unsettled(self.address)
        if not pending:
            return None
        on_chain = self.w3.eth.get_transaction_count(self.account.address, "latest")
        lowest = pending[0].nonce
        return (on_chain, lowest) if on_chain < lowest else None

    def _failure(self, tx: dict[str, Any], receipt: TxReceipt) -> LedgerError:
        """Replays a failed transaction against the state before its block to name the error."""
        tx_hash = receipt["transactionHash"].to_0x_hex()
        replay = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value", "gas")}
        try:
            self.w3.eth.call(replay, block_identifier=receipt["blockNumber"] - 1)  # type: ignore[arg-type]
        except Exception as exc:
            error = self._decoder.from_exception(exc)
            if error is not None:
                return error
        if receipt["gasUsed"] >= tx["gas"]:
            return TransactionFailed(tx_hash, f"out of gas at limit {tx['gas']}")
        return TransactionFailed(tx_hash)
