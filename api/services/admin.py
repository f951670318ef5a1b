"""Running the programme: pausing, roles (as the chain says), activity kinds, limits, health."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ledger import ActivityKindSet, Role, RoleChanged, TxResult, checksum
from ledger.errors import InvalidInput
from ledger.records import LimitsChanged

from ..store import ChainRecordRow
from .context import Context
from .errors import Conflict, Invalid, NotFound
from .indexer import Indexer, load_records
from .intents import IntentView, handler, outcome, send_once, submit

__all__ = ["Health", "activity_kinds", "change_role", "health", "pause", "role_holders", "set_activity_kind"]


@dataclass(frozen=True)
class Health:
    chain_id: int
    block: int
    paused: bool
    indexed_block: int | None
    writer: str | None


def health(ctx: Context, indexer: Indexer) -> Health:
    """The node's head and whether the contracts are paused; never waits for chain work."""
    block = indexer.head()
    return Health(
        chain_id=ctx.ledger.chain_id,
        block=block,
        paused=indexer.paused(),
        indexed_block=indexer.cursor(),
        writer=ctx.leases.holder_of(ctx.writer_lease),
    )


def pause(ctx: Context, paused: bool, *, principal: str | None, key: str | None) -> list[str]:
    """Pauses (or resumes) awards, redemptions and badge issuance on both contracts."""
    if ctx.ledger.is_paused() == paused:
        state = "paused" if paused else "not paused"
        raise Conflict("already_paused" if paused else "not_paused", f"the contracts are {state} already")
    result = outcome(ctx, submit(ctx, "pause", {"paused": paused}, principal=principal, key=key))
    return list(result["transactions"])


@handler("pause")
def _pause(ctx: Context, intent: IntentView) -> dict[str, Any]:
    paused = bool(intent.payload["paused"])
    transactions = []
    for name, contract_paused in (
        ("points", ctx.ledger.is_paused_contract("points")),
        ("badges", ctx.ledger.is_paused_contract("badges")),
    ):
        if contract_paused == paused:
            continue

        def send(label: str, name: str = name) -> TxResult:
            return ctx.ledger.set_paused(name, paused, intent=label)

        result = send_once(ctx, f"{intent.id}:{name}", send)
        transactions.append(result.tx_hash)
    return {"transactions": transactions}


def role_holders(ctx: Context, indexer: Indexer) -> dict[str, dict[str, list[str]]]:
    """Who holds each role on each contract now, from the chain's role history (the index)."""
    indexer.catch_up()
    with ctx.store.session() as session:
        rows = list(session.scalars(select(ChainRecordRow).where(ChainRecordRow.kind == "RoleChanged")))
    holders: dict[str, dict[str, set[str]]] = {}
    for record in load_records(rows):
        assert isinstance(record, RoleChanged)
        role = record.role.value if record.role else record.role_id
        members = holders.setdefault(role, {}).setdefault(record.contract_name, set())
        if record.granted:
            members.add(record.account)
        else:
            members.discard(record.account)
    return {role: {c: sorted(m) for c, m in contracts.items()} for role, contracts in sorted(holders.items())}


def change_role(
    ctx: Context, role: str, address: str, grant: bool, *, principal: str | None, key: str | None
) -> list[str]:
    try:
        address = checksum(address, "address")
    except InvalidInput as exc:
        raise Invalid("invalid_address", str(exc)) from exc
    payload = {"role": role, "address": address, "grant": grant}
    return list(outcome(ctx, submit(ctx, "change_role", payload, principal=principal, key=key))["transactions"])


@handler("change_role")
def _change_role(ctx: Context, intent: IntentView) -> dict[str, Any]:
    p = intent.payload
    role, address = Role(p["role"]), p["address"]
    grant = bool(p["grant"])
    transactions = []
    for name in role.contracts:
        label = f"{intent.id}:{name}"

        def send(label: str, name: str = name) -> Any:
            return ctx.ledger.set_role(name, role, address, grant, intent=label)

        transactions.append(send_once(ctx, label, send).tx_hash)
    return {"transactions": transactions}


def activity_kinds(ctx: Context, indexer: Indexer) -> dict[int, dict[str, Any]]:
    """The activity kinds the chain says are enabled, with their labels."""
    indexer.catch_up()
    with ctx.store.session() as session:
        rows = list(session.scalars(select(ChainRecordRow).where(ChainRecordRow.kind == "ActivityKindSet")))
    kinds: dict[int, dict[str, Any]] = {}
    for record in load_records(sorted(rows, key=lambda r: (r.block_number, r.log_index))):
        assert isinstance(record, ActivityKindSet)
        kinds[record.kind] = {"kind": record.kind, "label": record.label, "enabled": record.enabled}
    return dict(sorted(kinds.items()))


def limits(ctx: Context, indexer: Indexer) -> list[dict[str, Any]]:
    """Every limit the contract has had, with the block it took effect."""
    indexer.catch_up()
    with ctx.store.session() as session:
        rows = list(session.scalars(select(ChainRecordRow).where(ChainRecordRow.kind == "LimitsChanged")))
    answer = []
    for record in load_records(rows):
        assert isinstance(record, LimitsChanged)
        answer.append(
            {
                "max_points_per_award": record.max_points_per_award,
                "daily_cap": record.daily_cap,
                "block_number": record.ref.block_number,
                "tx_hash": record.ref.tx_hash,
            }
        )
    return answer


def set_activity_kind(
    ctx: Context, kind: int, enabled: bool, label: str, *, principal: str | None, key: str | None
) -> list[str]:
    payload = {"kind": kind, "enabled": enabled, "label": label}
    return list(outcome(ctx, submit(ctx, "activity_kind", payload, principal=principal, key=key))["transactions"])


@handler("activity_kind")
def _activity_kind(ctx: Context, intent: IntentView) -> dict[str, Any]:
    p = intent.payload
    result = send_once(
        ctx, intent.id, lambda label: ctx.ledger.set_activity_kind(p["kind"], p["enabled"], p["label"], intent=label)
    )
    return {"transactions": [result.tx_hash]}


def reverse(
    ctx: Context, activity_id: int, reason_code: int, *, principal: str | None, key: str | None
) -> dict[str, Any]:
    """Reverses a wrongful award: a new on-chain record and a balance correction, never an edit."""
    payload = {"activity_id": activity_id, "reason_code": reason_code}
    return outcome(ctx, submit(ctx, "reverse_award", payload, principal=principal, key=key))


@handler("reverse_award")
def _reverse(ctx: Context, intent: IntentView) -> dict[str, Any]:
    from ..store import ActivityClaim

    p = intent.payload
    activity_id = int(p["activity_id"])
    with ctx.store.session() as session:
        claim = session.scalar(select(ActivityClaim).where(ActivityClaim.activity_id == activity_id))
        award_tx = claim.tx_hash if claim is not None else None
        if award_tx is None:
            row = session.scalar(
                select(ChainRecordRow).where(
                    ChainRecordRow.activity_id == activity_id, ChainRecordRow.kind == "AwardRecorded"
                )
            )
            award_tx = row.tx_hash if row is not None else None
    try:
        result = send_once(
            ctx,
            intent.id,
            lambda label: ctx.ledger.reverse_award(activity_id, p["reason_code"], award_tx=award_tx, intent=label),
        )
    except InvalidInput as exc:
        raise NotFound("activity_not_found", f"activity {activity_id} has no award on-chain") from exc
    reversal = next(r for r in result.records if type(r).__name__ == "AwardReversed")
    return {
        "activity_id": activity_id,
        "points": -reversal.points,  # type: ignore[attr-defined]
        "tx_hash": result.tx_hash,
        "balance": ctx.ledger.balance_of(reversal.citizen),  # type: ignore[attr-defined]
        "reason_code": p["reason_code"],
    }
