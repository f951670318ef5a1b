"""Chain work as intents, and the one chain writer that carries them out.

A request that changes the chain records an *intent* (what to do, for whom, under which
Idempotency-Key) and waits for it. The chain writer, one thread in whichever process holds the
writer lease for the city's key, runs intents one after another; every transaction it sends is
recorded in the outbox under the intent's id before it is broadcast. So the unit of exactly-once
is the on-chain effect, not the HTTP request: a retry with the same key finds the intent; a
restart (or a new writer after the old one died) re-sends the outbox's unsettled transactions
and runs unfinished intents again, and each handler first looks in the outbox for what the
intent already sent (:func:`send_once`) before sending anything.

No request holds a database connection while it waits: it polls the intent with short sessions
and wakes early when this process's writer finishes one.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ledger import LedgerError, TxResult
from ledger.errors import ChainUnavailable

from ..store import Intent, IntentStatus, utcnow
from .context import Context
from .errors import Conflict, ErrorKind, Failure, NotFound, ServiceError, classify

__all__ = ["ChainWriter", "IntentView", "StillRunning", "handler", "outcome", "send_once", "sent_result", "submit"]

log = logging.getLogger("civic.writer")

Handler = Callable[[Context, "IntentView"], dict[str, Any]]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    """Registers the function that carries out intents of ``kind``. It must be safe to run
    again after a crash at any point (use :func:`send_once` for every transaction)."""

    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register


class StillRunning(Exception):
    """The intent was not finished within the wait: it goes on, and a retry with the same
    Idempotency-Key (or ``GET /v1/intents/{id}``) finds its outcome."""

    def __init__(self, intent_id: str, status: str) -> None:
        super().__init__(f"intent {intent_id} is {status}")
        self.intent_id = intent_id
        self.status = status


@dataclass
class IntentView:
    id: str
    kind: str
    payload: dict[str, Any]
    progress: dict[str, Any]
    attempts: int

    def save(self, ctx: Context, **progress: Any) -> None:
        """Records progress durably before the handler goes on (e.g. a signed consent)."""
        self.progress.update(progress)
        with ctx.store.session() as session:
            session.execute(update(Intent).where(Intent.id == self.id).values(progress=json.dumps(self.progress)))
            session.commit()


def submit(ctx: Context, kind: str, payload: dict[str, Any], *, principal: str | None, key: str | None) -> str:
    """Records an intent (or finds the one already recorded under ``principal`` and ``key``)
    and wakes the writer; returns its id."""
    body = json.dumps(payload, sort_keys=True)
    with ctx.store.session() as session:
        if key is not None:
            existing = session.scalar(select(Intent).where(Intent.principal == principal, Intent.key == key))
            if existing is not None:
                if existing.kind != kind or existing.payload != body:
                    raise Conflict("idempotency_key_reused", "this Idempotency-Key was used for a different request")
                if existing.status == IntentStatus.FAILED and existing.error_kind in _RETRYABLE:
                    # It failed before sending anything (the node was away), or on a defect:
                    # the retry runs it again (what it sent, if anything, is in the outbox).
                    existing.status, existing.error_kind, existing.error_code = IntentStatus.QUEUED, None, None
                    existing.error_message = None
                    session.commit()
                    ChainWriter.wake_all()
                return existing.id
        row = Intent(
            id=str(uuid.uuid4()),
            kind=kind,
            principal=principal if key is not None else None,
            key=key,
            status=IntentStatus.QUEUED,
            payload=body,
        )
        session.add(row)
        try:
            session.commit()
        except IntegrityError:  # the same key raced in from a concurrent retry
            session.rollback()
            found = session.scalar(select(Intent).where(Intent.principal == principal, Intent.key == key))
            if found is None:
                raise
            return found.id
        intent_id = row.id
    ChainWriter.wake_all()
    return intent_id


#: Failures a retry with the same key runs again; the others (a conflict, say) are answers.
_RETRYABLE = {ErrorKind.UNAVAILABLE.value, ErrorKind.INTERNAL.value}


def outcome(ctx: Context, intent_id: str, timeout: float | None = None) -> dict[str, Any]:
    """Waits for the intent; its result, or the error it failed with, or :class:`StillRunning`."""
    deadline = time.monotonic() + (ctx.settings.intent_wait_seconds if timeout is None else timeout)
    while True:
        with ctx.finished:
            ctx.finished_ids.discard(intent_id)
        with ctx.store.session() as session:
            row = session.get(Intent, intent_id)
            if row is None:
                raise NotFound("intent_not_found", f"no intent {intent_id}")
            status, result = row.status, row.result
            failure = (
                Failure(ErrorKind(row.error_kind), row.error_code or "", row.error_message or "")
                if row.error_kind
                else None
            )
        if status == IntentStatus.DONE:
            return dict(json.loads(result or "{}"))
        if status == IntentStatus.FAILED and failure is not None:
            raise failure.error()
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise StillRunning(intent_id, status.value)
        # Woken at once when this process's writer finishes it; another process's writer is
        # seen by asking the database again every half second.
        with ctx.finished:
            ctx.finished.wait_for(lambda: intent_id in ctx.finished_ids, timeout=min(remaining, 0.5))


def read(ctx: Context, intent_id: str) -> Intent:
    with ctx.store.session() as session:
        row = session.get(Intent, intent_id)
        if row is None:
            raise NotFound("intent_not_found", f"no intent {intent_id}")
        return row


def sent_result(ctx: Context, label: str) -> TxResult | None:
    """The mined result of what the outbox holds for ``label`` (settling it first: re-sending its
    very bytes if it was never mined), or None if nothing was sent for it that took effect."""
    entries = ctx.ledger.outbox_entries(label)
    if any(e.status == "signed" for e in entries):
        ctx.ledger.resume()
        entries = ctx.ledger.outbox_entries(label)
    for entry in entries:
        if entry.status == "mined":
            result = ctx.ledger.result_of(entry.tx_hash)
            if result is not None:
                return result
    return None


def send_once(ctx: Context, label: str, send: Callable[[str], TxResult]) -> TxResult:
    """Sends a transaction for ``label`` (an intent id, or ``id:chunk``) unless the outbox shows
    one was sent for it already, in which case that one's result is returned. A transaction that
    was refused or failed did nothing, so then it is sent anew."""
    return sent_result(ctx, label) or send(label)


def _finish(ctx: Context, intent_id: str, **values: Any) -> None:
    with ctx.store.session() as session:
        session.execute(update(Intent).where(Intent.id == intent_id).values(updated_at=utcnow(), **values))
        session.commit()
    ctx.chain_moved()
    with ctx.finished:
        ctx.finished_ids.add(intent_id)
        if len(ctx.finished_ids) > 10_000:
            ctx.finished_ids.clear()
        ctx.finished.notify_all()


class ChainWriter:
    """The thread that sends the city's transactions, in the process holding the writer lease.

    Besides intents it settles approved claims every ``award_interval`` seconds, closes nonce
    gaps, and (through ``periodic``) runs other one-at-a-time chain jobs such as anchoring."""

    _instances: ClassVar[list[ChainWriter]] = []

    def __init__(
        self,
        ctx: Context,
        *,
        award_interval: float | None = None,
        periodic: list[tuple[float, Callable[[Context], Any]]] | None = None,
    ) -> None:
        self.ctx = ctx
        self.award_interval = ctx.settings.award_interval_seconds if award_interval is None else award_interval
        self.periodic = list(periodic or [])
        self._stop = threading.Event()
        self._work = threading.Event()
        self._leader = threading.Event()
        self._threads: list[threading.Thread] = []
        self.recovered = threading.Event()

    @classmethod
    def wake_all(cls) -> None:
        for writer in cls._instances:
            writer._work.set()

    @property
    def leader(self) -> bool:
        return self._leader.is_set()

    def start(self) -> None:
        ChainWriter._instances.append(self)
        for target, name in ((self._heartbeat, "lease"), (self._run, "writer")):
            thread = threading.Thread(target=target, name=f"civic-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._work.set()
        for thread in self._threads:
            thread.join(timeout)
        if self in ChainWriter._instances:
            ChainWriter._instances.remove(self)
        if self.leader:
            self.ctx.leases.release(self.ctx.writer_lease)
        self.ctx.leases.release(f"process:{self.ctx.process_id}")

    # ------------------------------------------------------------------ the lease

    def _heartbeat(self) -> None:
        interval = max(0.2, self.ctx.leases.ttl / 5)
        liveness = f"process:{self.ctx.process_id}"
        while not self._stop.is_set():
            try:
                self.ctx.leases.hold(liveness)
                held = self.ctx.leases.hold(self.ctx.writer_lease)
            except Exception:  # the database is away for a moment: try again
                log.exception("could not renew the writer lease")
                held = False
            if held:
                if not self.leader:
                    log.info("this process is the chain writer for %s", self.ctx.ledger.address)
                self._leader.set()
                self._work.set()
            else:
                self._leader.clear()
            self._stop.wait(interval)

    # ------------------------------------------------------------------ the work

    def _run(self) -> None:
        recovered = False
        next_award = next_gap = 0.0
        next_periodic = [0.0] * len(self.periodic)
        while not self._stop.is_set():
            if not self.leader:
                recovered = False
                self._work.wait(0.5)
                self._work.clear()
                continue
            try:
                if not recovered:
                    self._recover()
                    recovered = True
                    self.recovered.set()
                if self._run_next():
                    continue
                now = time.monotonic()
                if self.award_interval > 0 and now >= next_award:
                    from .settlement import settle

                    settle(self.ctx)
                    next_award = time.monotonic() + self.award_interval
                if now >= next_gap:
                    filled = self.ctx.ledger.fill_nonce_gaps()
                    if filled:
                        log.warning("filled nonce gap at %s", filled)
                    next_gap = now + 10.0
                for i, (every, job) in enumerate(self.periodic):
                    if now >= next_periodic[i]:
                        job(self.ctx)
                        next_periodic[i] = time.monotonic() + every
            except LedgerError as exc:
                log.warning("chain work postponed: %s", exc)
                self._stop.wait(1.0)
            except Exception:
                log.exception("chain work failed; trying again")
                self._stop.wait(1.0)
            self._work.wait(0.05)
            self._work.clear()

    def _recover(self) -> None:
        """On becoming the writer: re-send what the outbox holds unsettled (a crashed writer's
        transactions, same bytes), close nonce gaps, reconcile claims caught mid-award, and put
        intents that were running back in the queue (their handlers find what was sent)."""
        from .settlement import reconcile

        self.ctx.ledger.resume()
        reconcile(self.ctx)
        with self.ctx.store.session() as session:
            session.execute(
                update(Intent).where(Intent.status == IntentStatus.RUNNING).values(status=IntentStatus.QUEUED)
            )
            session.commit()

    def _run_next(self) -> bool:
        with self.ctx.store.session() as session:
            row = session.scalar(
                select(Intent).where(Intent.status == IntentStatus.QUEUED).order_by(Intent.created_at).limit(1)
            )
            if row is None:
                return False
            view = IntentView(row.id, row.kind, json.loads(row.payload), json.loads(row.progress), row.attempts + 1)
            row.status, row.attempts, row.updated_at = IntentStatus.RUNNING, view.attempts, utcnow()
            session.commit()
        self.run_intent(view)
        return True

    def run_intent(self, view: IntentView) -> None:
        try:
            result = HANDLERS[view.kind](self.ctx, view)
        except ChainUnavailable:
            if self.ctx.ledger.outbox_entries(view.id) or any(
                self.ctx.ledger.outbox_entries(f"{view.id}:{i}") for i in range(int(view.progress.get("chunks", 0)))
            ):
                # Something was sent: it stays queued in the outbox and this intent is run again
                # (and reconciled) once the node answers.
                _finish(self.ctx, view.id, status=IntentStatus.QUEUED)
                raise
            failure = classify(ChainUnavailable("node away"))
            _finish(self.ctx, view.id, status=IntentStatus.FAILED, **_failure_columns(failure))
            raise
        except (ServiceError, LedgerError) as exc:
            _finish(self.ctx, view.id, status=IntentStatus.FAILED, **_failure_columns(classify(exc)))
            return
        except Exception:
            log.exception("intent %s (%s) failed", view.id, view.kind)
            failure = Failure(ErrorKind.INTERNAL, "internal_error", "an unexpected error occurred")
            _finish(self.ctx, view.id, status=IntentStatus.FAILED, **_failure_columns(failure))
            return
        _finish(self.ctx, view.id, status=IntentStatus.DONE, result=json.dumps(result))


def _failure_columns(failure: Failure) -> dict[str, Any]:
    return {"error_kind": failure.kind.value, "error_code": failure.code, "error_message": failure.message}
