"""The reward catalogue, redemption with the citizen's consent, and reversals."""

from __future__ import annotations

from eth_account import Account
from fastapi import APIRouter, Query
from sqlalchemy import select

from ledger import RedemptionConsent

from ..deps import AdminDep, CitizenDep, PauserDep, SessionDep, StateDep
from ..errors import ApiError
from ..schemas import (
    ConsentRequest,
    RedemptionCreate,
    RedemptionPublic,
    Reverse,
    RewardCreate,
    RewardPublic,
    RoleChange,
)
from ..store import RedemptionRow, Reward

router = APIRouter(prefix="/v1", tags=["rewards and administration"])

CONSENT_SECONDS = 900


@router.get("/rewards", response_model=list[RewardPublic])
def list_rewards(session: SessionDep) -> list[RewardPublic]:
    rows = session.scalars(select(Reward).where(Reward.active).order_by(Reward.id))
    return [RewardPublic(reward_id=r.id, title=r.title, cost=r.cost) for r in rows]


@router.post("/rewards", response_model=RewardPublic, status_code=201)
def create_reward(body: RewardCreate, session: SessionDep, _: AdminDep) -> RewardPublic:
    row = Reward(title=body.title, cost=body.cost)
    session.add(row)
    session.commit()
    return RewardPublic(reward_id=row.id, title=row.title, cost=row.cost)


def _reward(session: SessionDep, reward_id: int) -> Reward:
    reward = session.get(Reward, reward_id)
    if reward is None or not reward.active:
        raise ApiError(404, "reward_not_found", f"no reward {reward_id} in the catalogue")
    return reward


@router.get("/redemptions/consent", response_model=ConsentRequest)
def consent_request(
    citizen: CitizenDep, state: StateDep, session: SessionDep, reward_id: int = Query(ge=1, le=2**63 - 1)
) -> ConsentRequest:
    """The EIP-712 typed data a citizen with their own wallet signs to spend points on a reward."""
    reward = _reward(session, reward_id)
    with state.chain() as ledger:
        deadline = ledger.chain_time() + CONSENT_SECONDS
        typed = ledger.redemption_typed_data(citizen.address, reward.cost, reward.id, deadline)
    return ConsentRequest(typed_data=typed, deadline=deadline)


@router.post("/redemptions", response_model=RedemptionPublic, status_code=201)
def redeem(body: RedemptionCreate, citizen: CitizenDep, state: StateDep, session: SessionDep) -> RedemptionPublic:
    """Spends the reward's cost in points. A custodial citizen's authenticated request is their
    consent, signed with the key the city keeps for them; a wallet citizen sends the signature."""
    reward = _reward(session, body.reward_id)
    with state.chain() as ledger:
        balance = ledger.balance_of(citizen.address)
        if balance < reward.cost:
            raise ApiError(
                409, "insufficient_points", f"the reward costs {reward.cost} points; the balance is {balance}"
            )
        if body.signature is not None:
            if body.deadline is None:
                raise ApiError(422, "invalid_request", "a signature needs the deadline it was signed with")
            nonce = ledger.consent_nonce(citizen.address)
            consent = RedemptionConsent(
                citizen.address, reward.cost, reward.id, nonce, body.deadline, bytes.fromhex(body.signature[2:])
            )
        elif citizen.custodial and citizen.encrypted_key is not None:
            account = Account.from_key(state.cipher.decrypt(citizen.encrypted_key))
            consent = ledger.sign_redemption(account, reward.cost, reward.id)
        else:
            raise ApiError(422, "consent_required", "sign the consent from GET /v1/redemptions/consent and send it")
        result = ledger.redeem_with_consent(consent)
        balance = ledger.balance_of(citizen.address)
    session.add(RedemptionRow(citizen_id=citizen.id, reward_id=reward.id, points=reward.cost, tx_hash=result.tx_hash))
    session.commit()
    return RedemptionPublic(reward_id=reward.id, points=reward.cost, tx_hash=result.tx_hash, balance=balance)


@router.post("/activities/{activity_id}/reverse", response_model=RedemptionPublic)
def reverse_award(activity_id: int, body: Reverse, state: StateDep, _: AdminDep) -> RedemptionPublic:
    """Reverses a wrongful award: a new on-chain event and a balance correction, never an edit."""
    if not 0 <= activity_id < 2**256:
        raise ApiError(422, "invalid_input", "activity ids are unsigned 256-bit integers")
    with state.chain() as ledger:
        record = ledger.activity(activity_id)
        if record is None:
            raise ApiError(404, "activity_not_found", f"activity {activity_id} has no award on-chain")
        result = ledger.reverse_award(activity_id, body.reason_code)
        balance = ledger.balance_of(record.citizen)
    return RedemptionPublic(reward_id=0, points=-record.points, tx_hash=result.tx_hash, balance=balance)


@router.post("/admin/roles", response_model=list[str])
def change_role(body: RoleChange, state: StateDep, _: AdminDep) -> list[str]:
    """Grants or revokes an on-chain role; returns the transaction hashes."""
    from ledger import Role

    with state.chain() as ledger:
        role = Role(body.role)
        results = ledger.grant_role(role, body.address) if body.grant else ledger.revoke_role(role, body.address)
    return [r.tx_hash for r in results]


@router.post("/admin/pause", response_model=list[str])
def pause(state: StateDep, _: PauserDep) -> list[str]:
    with state.chain() as ledger:
        return [r.tx_hash for r in ledger.pause()]


@router.post("/admin/unpause", response_model=list[str])
def unpause(state: StateDep, _: PauserDep) -> list[str]:
    with state.chain() as ledger:
        return [r.tx_hash for r in ledger.unpause()]
