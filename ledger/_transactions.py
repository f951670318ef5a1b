"""Signing and sending transactions: local keys, a local nonce counter, no gas re-execution storm."""

from __future__ import annotations

import threading
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3
from web3.exceptions import TimeExhausted, Web3Exception
from web3.providers.eth_tester import EthereumTesterProvider
from web3.types import TxParams, TxReceipt

from .errors import ChainUnavailable, LedgerError, RevertDecoder, TransactionFailed

_DEFAULT_PRIORITY_FEE = 10**9


class TransactionSender:
    """Sends transactions signed by one local account.

    The nonce comes from a counter kept here under a lock (read from the node once), so
    concurrent callers never take the same nonce and no request waits on the node's pending
    count. Before spending the city's gas every transaction is checked: on a real node by
    ``eth_estimateGas`` (which also yields the limit), on eth-tester by one ``eth_call`` and a
    fixed budget, because eth-tester's estimate re-executes the transaction about a dozen times.
    """

    def __init__(
        self,
        w3: Web3,
        account: LocalAccount,
        decoder: RevertDecoder,
        *,
        gas_strategy: str | None = None,
        receipt_timeout: float = 120.0,
        receipt_poll: float = 0.02,
    ) -> None:
        self.w3 = w3
        self.account = account
        self._decoder = decoder
        embedded = isinstance(w3.provider, EthereumTesterProvider)
        self._strategy = gas_strategy or ("preflight" if embedded else "estimate")
        self._timeout = receipt_timeout
        self._poll = receipt_poll
        self._lock = threading.Lock()
        self._next_nonce: int | None = None
        self.chain_id = w3.eth.chain_id
        self._block_gas_limit = int(w3.eth.get_block("latest")["gasLimit"])

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

    def _gas_limit(self, tx: TxParams, budget: int) -> int:
        try:
            if self._strategy == "estimate":
                return min(int(self.w3.eth.estimate_gas(tx) * 1.25) + 10_000, self._block_gas_limit)
            self.w3.eth.call(tx)
        except Exception as exc:
            error = self._decoder.from_exception(exc)
            if error is not None:
                raise error from exc
            raise ChainUnavailable(f"node refused the transaction check: {exc}") from exc
        return min(budget, self._block_gas_limit - 1)

    def _fees(self) -> dict[str, int]:
        base = self.w3.eth.get_block("latest").get("baseFeePerGas", 0) or 0
        try:
            tip = int(self.w3.eth.max_priority_fee)
        except Web3Exception:
            tip = _DEFAULT_PRIORITY_FEE
        return {"maxPriorityFeePerGas": tip, "maxFeePerGas": 2 * int(base) + tip}

    def send(self, params: TxParams, *, budget: int) -> TxReceipt:
        """Checks, signs, sends and waits for ``params``; raises the decoded error if it fails."""
        tx: dict[str, Any] = dict(params)
        tx["from"] = self.account.address
        tx["chainId"] = self.chain_id
        try:
            tx["gas"] = self._gas_limit(tx, budget)  # type: ignore[arg-type]
            tx.update(self._fees())
            with self._lock:
                if self._next_nonce is None:
                    self._next_nonce = self.w3.eth.get_transaction_count(self.account.address, "pending")
                tx["nonce"] = self._next_nonce
                signed = self.account.sign_transaction(tx)  # type: ignore[arg-type]
                try:
                    tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                except Exception:
                    self._next_nonce = None  # resynchronise from the node on the next send
                    raise
                self._next_nonce += 1
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._timeout, poll_latency=self._poll)
        except LedgerError:
            raise
        except TimeExhausted as exc:
            raise ChainUnavailable(f"no receipt within {self._timeout}s: {exc}") from exc
        except Exception as exc:
            error = self._decoder.from_exception(exc)
            if error is not None:
                raise error from exc
            raise ChainUnavailable(f"sending the transaction failed: {exc}") from exc
        if receipt["status"] != 1:
            raise self._failure(tx, receipt)
        return receipt

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
