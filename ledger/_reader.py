"""Reads of many things from a node (the audit's whole-chain scan, the indexer's contract state):
logs in block ranges sized to the node's limits, and the many small reads (contract views at a
block, block timestamps, transaction senders) sent as JSON-RPC batch requests.

A JSON-RPC node gets batches (``HTTPProvider.make_batch_request``: one HTTP request carries up to
``batch_size`` calls); a batch the node refuses as a whole is split in halves, single answers the
node refused (a rate limit) are asked again, and a request that fails for the node's sake is
retried with a growing pause before the audit gives up. The embedded eth-tester chain answers in
process, one request at a time (it has no batches). Everything raised is a
:class:`ledger.errors.LedgerError`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from eth_utils import to_checksum_address

from ._chain import Chain
from .errors import ChainUnavailable, ContractRevert, LedgerError, TransactionFailed

__all__ = ["AuditNodeError", "NodeReader", "ScanStats"]

T = TypeVar("T")

#: Words in a node's error that mean "ask for less" (eth_getLogs result caps, range caps, batch caps).
_LIMIT_WORDS = (
    "too many",
    "limit",
    "exceed",
    "range",
    "more than",
    "too large",
    "response size",
    "query timeout",
    "10000 results",
    "batch",
)


class AuditNodeError(ChainUnavailable):
    """The node kept failing after every retry: the audit could not be completed."""


@dataclass
class ScanStats:
    """What the scan cost, for the report (and for tuning a slow node)."""

    log_requests: int = 0
    logs: int = 0
    range_halvings: int = 0
    retries: int = 0
    batches: int = 0
    calls: int = 0
    errors: list[str] = field(default_factory=list)


def _is_limit_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return any(word in text for word in _LIMIT_WORDS)


#: What a batch holds for a call the contract reverted or the EVM refused to run to its end (an
#: invalid jump or opcode in code replaced at the address): the contract's answer, not the
#: node's failure, so not retried.
REVERTED = object()

#: Words of nodes' errors for an execution that failed (geth, anvil, erigon, nethermind).
_EXECUTION_WORDS = (
    "revert",
    "evm error",
    "invalid opcode",
    "invalid jump",
    "out of gas",
    "stack underflow",
    "stack overflow",
    "bad instruction",
)


def _is_revert(error: Any) -> bool:
    if not isinstance(error, dict):
        return False
    message = str(error.get("message", "")).lower()
    return error.get("code") == 3 or any(word in message for word in _EXECUTION_WORDS)


def _is_vm_error(exc: BaseException) -> bool:
    """Whether eth-tester's failure is the EVM's (py-evm's ``VMError``): the call failed."""
    cause = exc.__cause__
    return cause is not None and any(c.__name__ == "VMError" for c in type(cause).__mro__)


def _hex_int(value: Any) -> int:
    return int(value, 16) if isinstance(value, str) else int(value)


class NodeReader:
    """Batched, retried reads of one chain (a JSON-RPC node or the embedded eth-tester)."""

    def __init__(
        self,
        chain: Chain,
        *,
        batch_size: int = 500,
        retries: int = 5,
        backoff: float = 0.25,
        log_range: int = 5_000,
        target_logs: int = 20_000,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.chain = chain
        self.batch_size = max(1, batch_size)
        self.retries = retries
        self.backoff = backoff
        self.log_range = max(1, log_range)
        self.target_logs = target_logs
        self.stats = ScanStats()
        self._sleep = sleep
        self._caller: str | None = None

    # ------------------------------------------------------------------ retries

    def _retrying(self, doing: str, action: Callable[[], T]) -> T:
        """``action`` run until it answers, with a growing pause after each node failure."""
        attempt = 0
        while True:
            try:
                return action()
            except LedgerError as exc:
                if not isinstance(exc, ChainUnavailable):
                    raise
                attempt += 1
                self.stats.errors.append(f"{doing}: {exc}")
                if attempt > self.retries:
                    raise AuditNodeError(f"{doing} failed {attempt} times; last: {exc}") from exc
                self.stats.retries += 1
                self._sleep(self.backoff * 2 ** (attempt - 1))

    # ------------------------------------------------------------------ logs

    def scan_logs(
        self,
        addresses: Sequence[str],
        from_block: int,
        to_block: int,
        progress: Callable[[int, int], None] | None = None,
    ) -> Iterator[list[dict[str, Any]]]:
        """The logs of ``addresses`` in ``[from_block, to_block]``, range by range (each range's
        logs as the node sends them). A range the node refuses as too large is halved (down to a
        single block); a range with many logs makes the next one smaller, one with few makes it
        larger again (never above ``log_range``); other failures are retried with a pause."""
        total = max(0, to_block - from_block + 1)
        # About twenty steps on a short chain (a progress bar that moves), never above the cap.
        span = min(self.log_range, max(1, -(-total // 20)))
        start = from_block
        attempt = 0
        if progress:
            progress(0, total)
        while start <= to_block:
            end = min(start + span - 1, to_block)
            try:
                self.stats.log_requests += 1
                logs = self.chain.logs(addresses, start, end)
            except LedgerError as exc:
                if not isinstance(exc, ChainUnavailable):
                    raise
                self.stats.errors.append(f"eth_getLogs {start}-{end}: {exc}")
                if _is_limit_error(exc) and span > 1:
                    span = max(1, span // 2)
                    self.stats.range_halvings += 1
                    continue
                attempt += 1
                if attempt > self.retries:
                    raise AuditNodeError(f"eth_getLogs {start}-{end} failed {attempt} times; last: {exc}") from exc
                self.stats.retries += 1
                self._sleep(self.backoff * 2 ** (attempt - 1))
                continue
            attempt = 0
            self.stats.logs += len(logs)
            yield logs
            if len(logs) > self.target_logs and span > 1:
                span = max(1, span // 2)
            elif len(logs) < self.target_logs // 4 and span < self.log_range:
                span = min(self.log_range, span * 2)
            start = end + 1
            if progress:
                progress(start - from_block, total)

    # ------------------------------------------------------------------ batches

    def _batch(self, requests: Sequence[tuple[str, list[Any]]]) -> list[Any]:
        """The results of ``requests`` (raw JSON-RPC answers), in order, batched on a node."""
        results: list[Any] = [None] * len(requests)
        if not requests:
            return results
        if self.chain.embedded:
            raise AssertionError("eth-tester has no batches: the typed reads below ask it one by one")
        size = self.batch_size
        pending = list(range(len(requests)))
        attempt = 0
        while pending:
            chunk, rest = pending[:size], pending[size:]
            try:
                answers = self._send_batch([requests[i] for i in chunk])
            except _BatchRefused as exc:
                if size > 1 and (_is_limit_error(exc) or len(chunk) > 1):
                    size = max(1, size // 2)
                    self.stats.errors.append(f"batch of {len(chunk)} refused: {exc}; trying {size}")
                    continue
                attempt += 1
                if attempt > self.retries:
                    raise AuditNodeError(f"a batch of {len(chunk)} requests failed: {exc}") from exc
                self.stats.retries += 1
                self._sleep(self.backoff * 2 ** (attempt - 1))
                continue
            except ChainUnavailable as exc:
                attempt += 1
                self.stats.errors.append(f"batch of {len(chunk)}: {exc}")
                if attempt > self.retries:
                    raise AuditNodeError(f"a batch of {len(chunk)} requests failed {attempt} times: {exc}") from exc
                self.stats.retries += 1
                self._sleep(self.backoff * 2 ** (attempt - 1))
                continue
            failed = []
            for index, answer in zip(chunk, answers, strict=True):
                if "error" in answer and _is_revert(answer["error"]):
                    results[index] = REVERTED  # the contract's answer, not the node's failure
                elif "error" in answer:
                    failed.append((index, answer["error"]))
                else:
                    results[index] = answer.get("result")
            if failed:
                attempt += 1
                first = failed[0]
                self.stats.errors.append(f"{len(failed)} answers refused, e.g. {requests[first[0]][0]}: {first[1]}")
                if attempt > self.retries:
                    method, params = requests[first[0]]
                    raise AuditNodeError(f"{method}{params!r} failed: {first[1]}")
                self.stats.retries += 1
                self._sleep(self.backoff * 2 ** (attempt - 1))
                rest = [i for i, _ in failed] + rest
            else:
                attempt = 0
            pending = rest
        return results

    def _send_batch(self, requests: Sequence[tuple[str, list[Any]]]) -> list[dict[str, Any]]:
        provider: Any = self.chain._w3.provider
        self.stats.batches += 1
        self.stats.calls += len(requests)
        with self.chain.translated("a batch of node requests"):
            answer = provider.make_batch_request([(method, params) for method, params in requests])
        if not isinstance(answer, list):
            raise _BatchRefused(str(answer.get("error", answer)))
        if len(answer) != len(requests):
            raise _BatchRefused(f"{len(answer)} answers to {len(requests)} requests")
        return [dict(a) for a in answer]

    # ------------------------------------------------------------------ typed reads

    def call_many(self, calls: Sequence[tuple[str, bytes]], block: int) -> list[bytes | None]:
        """``eth_call`` of each ``(address, calldata)`` at ``block``: the raw return data, or
        None where the contract reverted (code replaced at the address, say)."""
        if self.chain.embedded:
            provider: Any = self.chain._w3.provider
            if self._caller is None:
                # eth-tester charges a call's gas to its sender: one of its own funded accounts
                # (and naming one spares web3 guessing it, which costs more than the call).
                with self.chain.translated("listing the embedded chain's accounts"):
                    self._caller = str(self.chain._w3.eth.accounts[0])

            def one(address: str, data: bytes) -> bytes | None:
                request = {"to": to_checksum_address(address), "data": "0x" + data.hex(), "from": self._caller}
                try:
                    with self.chain.translated("calling a contract"):
                        answer = provider.make_request("eth_call", [request, block])
                except (ContractRevert, TransactionFailed):
                    return None
                except ChainUnavailable as exc:
                    if _is_vm_error(exc):
                        return None
                    raise
                if "error" in answer:
                    raise ChainUnavailable(f"eth_call to {address} failed: {answer['error']}")
                return bytes.fromhex(str(answer["result"])[2:])

            self.stats.calls += len(calls)
            return [self._retrying("eth_call", partial(one, a, d)) for a, d in calls]
        tag = hex(block)
        answers = self._batch([("eth_call", [{"to": a, "data": "0x" + d.hex()}, tag]) for a, d in calls])
        return [None if r is REVERTED else bytes.fromhex(str(r)[2:]) for r in answers]

    def block_times(self, numbers: Sequence[int]) -> dict[int, int]:
        """The timestamp of each block."""
        numbers = sorted(set(numbers))
        if self.chain.embedded:
            self.stats.calls += len(numbers)
            return {n: self._retrying("eth_getBlockByNumber", partial(self.chain.block_time, n)) for n in numbers}
        answers = self._batch([("eth_getBlockByNumber", [hex(n), False]) for n in numbers])
        times = {}
        for n, block in zip(numbers, answers, strict=True):
            if block is None:
                raise AuditNodeError(f"the node has no block {n}")
            times[n] = _hex_int(block["timestamp"])
        return times

    def block_hash(self, number: int) -> str | None:
        return self._retrying("eth_getBlockByNumber", partial(self.chain.block_hash, number))

    def transactions(self, hashes: Sequence[str]) -> dict[str, tuple[str, str | None]]:
        """``(from, to)`` of each transaction (``to`` None for a contract creation)."""
        hashes = sorted(set(hashes))
        found: dict[str, tuple[str, str | None]] = {}
        if self.chain.embedded:
            self.stats.calls += len(hashes)
            for h in hashes:
                tx = self._retrying("eth_getTransactionByHash", partial(self.chain.transaction, h))
                if tx is None:
                    raise AuditNodeError(f"the node has no transaction {h}")
                found[h] = (str(tx["from"]), str(tx["to"]) if tx.get("to") else None)
            return found
        answers = self._batch([("eth_getTransactionByHash", [h]) for h in hashes])
        for h, tx in zip(hashes, answers, strict=True):
            if tx is None:
                raise AuditNodeError(f"the node has no transaction {h}")
            to = tx.get("to")
            found[h] = (to_checksum_address(tx["from"]), to_checksum_address(to) if to else None)
        return found

    def code(self, address: str, block: int) -> bytes:
        return self._retrying("eth_getCode", partial(self.chain.code, address, block))

    def receipt(self, tx_hash: str) -> Any:
        return self._retrying("eth_getTransactionReceipt", partial(self.chain.receipt, tx_hash))


class _BatchRefused(ChainUnavailable):
    """The node answered a batch with one error (often: the batch is too large)."""
