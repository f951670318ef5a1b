"""The reward catalogue, and redemption with the citizen's consent (exactly once)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update

from ledger import RedemptionConsent

from ..store import Citizen, RedemptionRow, Reward
from .citizens import custodial_key
from .context import Context
from .errors import Conflict, Invalid, NotFound
from .intents import IntentView, handler, outcome, send_once, submit

__all__ = ["RewardChange", "change", "consent_document", "create", "get", "list_rewards", "redeem"]

CONSENT_SECONDS = 900


@dataclass(frozen=True)
class RewardChange:
    title: str | None = None
    cost: int | None = None
    stock: int | None = None
    clear_stock: bool = False
    active: bool | None = None


def list_rewards(ctx: Context, *, include_retired: bool = False) -> list[Reward]:
    with ctx.store.session() as session:
        query = select(Reward).order_by(Reward.id)
        if not include_retired:
            query = query.where(Reward.active)
        return list(session.scalars(query))


def get(ctx: Context, reward_id: int, *, active: bool = True) -> Reward:
    with ctx.store.session() as session:
        reward = session.get(Reward, reward_id) if 0 < reward_id < 2**63 else None
    if reward is None or (active and not reward.active):
        raise NotFound("reward_not_found", f"no reward {reward_id} in the catalogue")
    return reward


def create(ctx: Context, title: str, cost: int, stock: int | None) -> Reward:
    with ctx.store.session() as session:
        row = Reward(title=title, cost=cost, stock=stock)
        session.add(row)
        session.commit()
    return row


def change(ctx: Context, reward_id: int, change: RewardChange) -> Reward:
    """Edits, retires (``active=False``) or restocks a reward."""
    with ctx.store.session() as session:
        row = session.get(Reward, reward_id) if 0 < reward_id < 2**63 else None
        if row is None:
            raise NotFound("reward_not_found", f"no reward {reward_id}")
        if change.title is not None:
            row.title = change.title
        if change.cost is not None:
            row.cost = change.cost
        if change.clear_stock:
            row.stock = None
        elif change.stock is not None:
            row.stock = change.stock
        if change.active is not None:
            row.active = change.active
        session.commit()
    return row


def consent_document(ctx: Context, citizen: Citizen, reward_id: int) -> tuple[dict[str, Any], int]:
    """The EIP-712 typed data a citizen with their own wallet signs to spend points on a reward."""
    reward = get(ctx, reward_id)
    deadline = ctx.ledger.chain_time() + CONSENT_SECONDS
    return ctx.ledger.redemption_typed_data(citizen.address, reward.cost, reward.id, deadline), deadline


def redeem(
    ctx: Context,
    citizen: Citizen,
    reward_id: int,
    *,
    signature: bytes | None,
    deadline: int | None,
    principal: str | None,
    key: str | None,
) -> dict[str, Any]:
    """Spends the reward's cost in points, once. A custodial citizen's authenticated request is
    their consent, signed with the key the city keeps for them; a wallet citizen sends the
    signature. The consent (and so its nonce) is fixed in the intent before anything is sent:
    a retry after a crash relays the same consent, which the contract accepts only once."""
    reward = get(ctx, reward_id)
    if signature is not None and deadline is None:
        raise Invalid("invalid_request", "a signature needs the deadline it was signed with")
    if signature is None and not (citizen.custodial and citizen.encrypted_key is not None):
        raise Invalid("consent_required", "sign the consent from GET /v1/redemptions/consent and send it")
    payload: dict[str, Any] = {
        "citizen_id": citizen.id,
        "reward_id": reward.id,
        "points": reward.cost,
        "signature": None if signature is None else "0x" + signature.hex(),
        "deadline": deadline,
    }
    intent = submit(ctx, "redeem", payload, principal=principal, key=key)
    return outcome(ctx, intent)


@handler("redeem")
def _redeem(ctx: Context, intent: IntentView) -> dict[str, Any]:
    p = intent.payload
    with ctx.store.session() as session:
        citizen = session.get(Citizen, p["citizen_id"])
        assert citizen is not None
        done = session.scalar(select(RedemptionRow).where(RedemptionRow.intent_id == intent.id))
    if done is not None and done.tx_hash:
        return _answer(ctx, done, citizen)
    consent = _consent(ctx, intent, citizen)
    if not intent.progress.get("reserved"):
        if ctx.ledger.balance_of(citizen.address) < p["points"]:
            raise Conflict(
                "insufficient_points",
                f"the reward costs {p['points']} points; the balance is {ctx.ledger.balance_of(citizen.address)}",
            )
        _reserve_stock(ctx, p["reward_id"])
        intent.save(ctx, reserved=True)
    try:
        result = send_once(ctx, intent.id, lambda label: ctx.ledger.redeem_with_consent(consent, intent=label))
    except Exception:
        if not ctx.ledger.outbox_entries(intent.id) or all(
            e.status in ("failed", "replaced") for e in ctx.ledger.outbox_entries(intent.id)
        ):
            _release_stock(ctx, p["reward_id"])
            intent.save(ctx, reserved=False)
        raise
    with ctx.store.session() as session:
        row = session.scalar(select(RedemptionRow).where(RedemptionRow.intent_id == intent.id))
        if row is None:
            row = RedemptionRow(
                citizen_id=citizen.id, reward_id=p["reward_id"], points=p["points"], intent_id=intent.id
            )
            session.add(row)
        row.tx_hash = result.tx_hash
        session.commit()
    return _answer(ctx, row, citizen)


def _consent(ctx: Context, intent: IntentView, citizen: Citizen) -> RedemptionConsent:
    """The consent this intent relays: the wallet's signature, or one signed once with the
    custodial key and kept in the intent's progress (never signed a second time)."""
    p = intent.payload
    kept = intent.progress.get("consent")
    if kept is None:
        if p["signature"] is not None:
            nonce = ctx.ledger.consent_nonce(citizen.address)
            kept = {"nonce": nonce, "deadline": p["deadline"], "signature": p["signature"]}
        else:
            signed = ctx.ledger.sign_redemption(custodial_key(ctx, citizen), p["points"], p["reward_id"])
            kept = {"nonce": signed.nonce, "deadline": signed.deadline, "signature": "0x" + signed.signature.hex()}
        intent.save(ctx, consent=kept)
    return RedemptionConsent(
        citizen.address,
        p["points"],
        p["reward_id"],
        int(kept["nonce"]),
        int(kept["deadline"]),
        bytes.fromhex(kept["signature"][2:]),
    )


def _reserve_stock(ctx: Context, reward_id: int) -> None:
    with ctx.store.session() as session:
        taken = session.execute(
            update(Reward)
            .where(Reward.id == reward_id, Reward.stock.is_not(None), Reward.stock > 0)
            .values(stock=Reward.stock - 1)
        )
        if taken.rowcount == 0:  # type: ignore[attr-defined]
            reward = session.get(Reward, reward_id)
            if reward is not None and reward.stock is not None:
                raise Conflict("out_of_stock", "this reward is out of stock")
        session.commit()


def _release_stock(ctx: Context, reward_id: int) -> None:
    with ctx.store.session() as session:
        session.execute(
            update(Reward).where(Reward.id == reward_id, Reward.stock.is_not(None)).values(stock=Reward.stock + 1)
        )
        session.commit()


def _answer(ctx: Context, row: RedemptionRow, citizen: Citizen) -> dict[str, Any]:
    return {
        "reward_id": row.reward_id,
        "points": row.points,
        "tx_hash": row.tx_hash,
        "balance": ctx.ledger.balance_of(citizen.address),
    }
