"""Settling approved claims on-chain: activity ids from one allocator, batches pipelined.

Every path that awards points (citizens' claims, staff awards, the ``civic award`` command, the
demo seed) stores an approved claim and lets this module award it; nothing else sends awards.
Activity ids are given here, at settlement, from the store's allocator floored at the chain's own
last id, and the contract refuses any id not above its last one: so an id can never be used
twice, even by a store restored from an old backup. A claim is marked ``sending`` with its id and
settlement (the intent label its transaction is recorded under) before anything is sent, so a
crash at any point is reconciled from the outbox (:func:`reconcile`).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update

from ledger import ActivityAward, Metrics, TxResult
from ledger import errors as ledger_errors
from ledger._transactions import Submitted

from ..store import ActivityClaim, Citizen, ClaimStatus, IdAllocator, utcnow
from .context import Context
from .errors import Unavailable
from .intents import IntentView, handler

__all__ = ["SettleResult", "allocate_activity_ids", "reconcile", "settle"]

log = logging.getLogger("civic.settlement")

_ACTIVITY = "activity"


@dataclass
class SettleResult:
    awarded: int = 0
    transactions: list[str] = field(default_factory=list)


def allocate_activity_ids(ctx: Context, count: int) -> int:
    """Reserves ``count`` consecutive activity ids and returns the first. Called by the chain
    writer only (one per key): the floor is the chain's last id, so ids only increase."""
    floor = ctx.ledger.last_activity_id() + 1
    with ctx.store.session() as session:
        row = session.get(IdAllocator, _ACTIVITY)
        if row is None:
            row = IdAllocator(name=_ACTIVITY, next_value=floor)
            session.add(row)
        first = max(row.next_value, floor)
        row.next_value = first + count
        session.commit()
    return first


#: What an award needs of a claim (read as columns, not whole rows: a season is 100,000 claims).
_AWARD_COLUMNS = (
    ActivityClaim.id,
    ActivityClaim.activity_id,
    ActivityClaim.points,
    ActivityClaim.kind,
    ActivityClaim.distance_meters,
    ActivityClaim.duration_seconds,
    ActivityClaim.litter_grams,
    ActivityClaim.steps,
    ActivityClaim.evidence_commitment,
    Citizen.address,
)


def _award(row: Any, activity_id: int) -> ActivityAward:
    """An award for a row of :data:`_AWARD_COLUMNS`."""
    return ActivityAward(
        activity_id,
        row.address,
        row.points,
        row.kind,
        Metrics(row.distance_meters, row.duration_seconds, row.litter_grams, row.steps),
        bytes.fromhex(row.evidence_commitment[2:]),
    )


def settle(ctx: Context, *, claim_ids: list[int] | None = None, max_batches: int = 20) -> SettleResult:
    """Awards approved claims (all, oldest first, or just ``claim_ids``), in batches sent at
    consecutive nonces without waiting for each receipt in turn."""
    reconcile(ctx)
    result = SettleResult()
    if ctx.ledger.is_paused_contract("points"):
        raise Unavailable("ledger_paused", "awards are paused: approved claims wait until they resume")
    size = max(1, min(ctx.settings.award_batch_size, ctx.ledger.max_batch()))
    for _ in range(100):  # each pass awards or sets aside what it took; bounded all the same
        batches = _prepare(ctx, size, max_batches, claim_ids)
        if not batches:
            return result
        try:
            handles = ctx.ledger.submit_award_batches(batches)
            submitted = [(settlement, h) for (settlement, _), h in zip(batches, handles, strict=True)]
        except ledger_errors.LedgerError as exc:
            # Refused before anything more was sent (the first batch's check): the batches not
            # recorded in the outbox go back to approved; the reason is handled below.
            _handle_refusal(ctx, batches, exc)
            continue
        for settlement, sent in submitted:
            _settle_one(ctx, settlement, sent, result)
    return result


def _prepare(
    ctx: Context, size: int, max_batches: int, claim_ids: list[int] | None
) -> list[tuple[str, list[ActivityAward]]]:
    """Puts up to ``max_batches`` batches of approved claims into ``sending``, each with its
    activity ids and settlement label, committed before any transaction is built."""
    with ctx.store.session() as session:
        now = utcnow()
        query = (
            select(*_AWARD_COLUMNS)
            .join(Citizen, Citizen.id == ActivityClaim.citizen_id)
            .where(
                ActivityClaim.status == ClaimStatus.APPROVED,
                (ActivityClaim.settle_after.is_(None)) | (ActivityClaim.settle_after <= now),
            )
        )
        if claim_ids is not None:
            query = query.where(ActivityClaim.id.in_(claim_ids))
        rows = list(session.execute(query.order_by(ActivityClaim.id).limit(size * max_batches)))
        if not rows:
            return []
        first = allocate_activity_ids(ctx, len(rows))
        batches = []
        changes = []
        for start in range(0, len(rows), size):
            settlement = str(uuid.uuid4())
            chunk = rows[start : start + size]
            ids = range(first + start, first + start + len(chunk))
            changes += [
                {"id": row.id, "activity_id": i, "status": ClaimStatus.SENDING, "settlement": settlement}
                for row, i in zip(chunk, ids, strict=True)
            ]
            batches.append((settlement, [_award(row, i) for row, i in zip(chunk, ids, strict=True)]))
        session.execute(update(ActivityClaim), changes)  # by primary key, one statement per batch of rows
        session.commit()
    return batches


def _settle_one(ctx: Context, settlement: str, sent: Submitted, result: SettleResult) -> None:
    try:
        mined = ctx.ledger.await_result(sent, decode=False)  # the indexer decodes the records
    except ledger_errors.ChainUnavailable:
        return  # stays "sending": reconciled from the outbox when the node answers
    except ledger_errors.LedgerError as exc:
        _handle_refusal(ctx, [(settlement, [])], exc)
        return
    ctx.chain_moved()
    result.awarded += _mark_awarded(ctx, settlement, mined)
    result.transactions.append(mined.tx_hash)


def _mark_awarded(ctx: Context, settlement: str, mined: TxResult) -> int:
    """The settlement's claims are awarded (a batch is all or nothing on-chain); how many."""
    with ctx.store.session() as session:
        done = session.execute(
            update(ActivityClaim)
            .where(ActivityClaim.settlement == settlement)
            .values(status=ClaimStatus.AWARDED, tx_hash=mined.tx_hash, block_number=mined.block_number)
            .execution_options(synchronize_session=False)
        )
        session.commit()
    return int(done.rowcount)  # type: ignore[attr-defined]


def _back_to_approved(
    ctx: Context, settlement: str, hold: dict[int, str] | None = None, defer: set[int] | None = None
) -> None:
    """The settlement's transaction did nothing: its claims wait for the next batch with new
    ids; those the contract refused are held with its reason, those over today's on-chain cap
    wait for the city's next day."""
    hold, defer = hold or {}, defer or set()
    tomorrow = _next_city_day(ctx)
    with ctx.store.session() as session:
        for row in session.scalars(select(ActivityClaim).where(ActivityClaim.settlement == settlement)):
            reason = hold.get(row.activity_id or -1)
            if row.activity_id in defer:
                row.settle_after = tomorrow
            row.activity_id, row.settlement = None, None
            if reason:
                row.status = ClaimStatus.HELD
                row.hold_reasons = "\n".join(r for r in (row.hold_reasons, reason) if r)
            else:
                row.status = ClaimStatus.APPROVED
        session.commit()


def _next_city_day(ctx: Context) -> datetime:
    """The start of the next day in the city's time zone, as the contract counts days."""
    offset = ctx.ledger.deployment.day_offset_seconds
    day = (ctx.ledger.chain_time() + offset) // 86_400
    return datetime.fromtimestamp((day + 1) * 86_400 - offset + 1, UTC)


def _handle_refusal(ctx: Context, batches: list[tuple[str, list[ActivityAward]]], exc: Exception) -> None:
    """Batches the contract refused (or that were never sent after the first was refused):
    hold the claims the refusal names, with the contract's reason, defer what is over today's
    on-chain cap, and put the rest back; an id below the chain's last (a stale allocator) only
    needs new ids."""
    pending = [
        (settlement, awards or _awards_of(ctx, settlement))
        for settlement, awards in batches
        if not any(e.status in ("signed", "mined") for e in ctx.ledger.outbox_entries(settlement))
    ]
    held: dict[int, str] = {}
    deferred: set[int] = set()
    if isinstance(exc, ledger_errors.DailyCapExceeded):
        # The refusal names one citizen; every citizen in these batches is checked against
        # today's cap at once, or a season for many members would be refused one member a pass.
        cap = int(exc.values["daily_cap"])
        so_far: dict[str, int] = {}
        for _, awards in pending:
            for award in awards:
                citizen = award.citizen.lower()
                if citizen not in so_far:
                    so_far[citizen] = ctx.ledger.awarded_today(citizen)
                if so_far[citizen] + award.points > cap:
                    deferred.add(award.activity_id)
                else:
                    so_far[citizen] += award.points
    elif isinstance(
        exc,
        ledger_errors.AwardTooLarge
        | ledger_errors.UnknownActivityKind
        | ledger_errors.ZeroPointsAward
        | ledger_errors.MalformedAward,
    ):
        refused = exc.values.get("activity_id")
        if refused is not None:
            held[int(refused)] = f"the contract refused the award: {exc}"
    elif isinstance(exc, ledger_errors.InvalidCitizen):
        citizen = str(exc.values["citizen"]).lower()
        for _, awards in pending:
            for award in awards:
                if award.citizen.lower() == citizen:
                    held[award.activity_id] = "the citizen's address was re-bound: an operator must move the claim"
    elif not isinstance(
        exc, ledger_errors.ActivityIdNotIncreasing | ledger_errors.ChainUnavailable | ledger_errors.LedgerPaused
    ):
        log.warning("award batch refused: %s", exc)
        for _, awards in pending:
            for award in awards:
                held[award.activity_id] = f"the award failed on-chain: {exc}"
    for settlement, _ in pending:
        _back_to_approved(ctx, settlement, held, deferred)
    if isinstance(exc, ledger_errors.ChainUnavailable | ledger_errors.LedgerPaused):
        raise exc  # nothing is wrong with the claims: they wait, approved, for the chain


def _awards_of(ctx: Context, settlement: str) -> list[ActivityAward]:
    with ctx.store.session() as session:
        rows = session.execute(
            select(*_AWARD_COLUMNS)
            .join(Citizen, Citizen.id == ActivityClaim.citizen_id)
            .where(ActivityClaim.settlement == settlement, ActivityClaim.activity_id.is_not(None))
            .order_by(ActivityClaim.activity_id)
        )
        return [_award(row, row.activity_id) for row in rows]


def reconcile(ctx: Context) -> None:
    """Settles claims left ``sending`` (by a crash, or a node that went away) from the outbox:
    mined means awarded; a transaction that failed, was replaced or was never recorded means
    the claims go back to approved for a new batch with new ids."""
    with ctx.store.session() as session:
        settlements = set(
            session.scalars(
                select(ActivityClaim.settlement).where(ActivityClaim.status == ClaimStatus.SENDING).distinct()
            )
        )
    for settlement in settlements:
        if settlement is None:
            continue
        entries = ctx.ledger.outbox_entries(settlement)
        if any(e.status == "signed" for e in entries):
            ctx.ledger.resume()
            entries = ctx.ledger.outbox_entries(settlement)
        mined = next((e for e in entries if e.status == "mined"), None)
        if mined is not None:
            receipt = ctx.ledger.result_of(mined.tx_hash)
            if receipt is not None:
                _mark_awarded(ctx, settlement, receipt)
                continue
        if any(e.status == "signed" for e in entries):
            continue  # still in flight
        if entries and all(e.status in ("failed", "replaced") for e in entries):
            failed = next((e for e in entries if e.status == "failed"), None)
            error: Exception = ledger_errors.TransactionFailed(failed.tx_hash if failed else settlement)
            if failed is not None:
                receipt = ctx.ledger.result_of(failed.tx_hash)
                if receipt is not None:
                    error = ledger_errors.TransactionFailed(failed.tx_hash, "reverted")
            _handle_refusal(ctx, [(settlement, [])], error)
            continue
        _back_to_approved(ctx, settlement)


@handler("settle")
def _settle_now(ctx: Context, intent: IntentView) -> dict[str, object]:
    claim_ids = intent.payload.get("claim_ids")
    result = settle(ctx, claim_ids=claim_ids)
    if claim_ids:
        with ctx.store.session() as session:
            rows = list(session.scalars(select(ActivityClaim).where(ActivityClaim.id.in_(claim_ids))))
            return {
                "awarded": result.awarded,
                "transactions": result.transactions,
                "claims": {str(r.id): r.status.value for r in rows},
            }
    return {"awarded": result.awarded, "transactions": result.transactions}
