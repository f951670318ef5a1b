"""Citizens: custodial accounts the city creates, profiles, erasure and key export."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from eth_account import Account
from fastapi import APIRouter

from ..deps import AdminDep, AnyStaffDep, CitizenDep, EnrollerDep, SessionDep, StateDep
from ..errors import ApiError
from ..schemas import CitizenCreate, CitizenPublic, CustodialCitizenCreated, KeyExport
from ..security import Cipher, hash_token, new_token
from ..store import ActivityClaim, Citizen, CitizenSession, utcnow

router = APIRouter(prefix="/v1/citizens", tags=["citizens"])


def citizen_public(citizen: Citizen, cipher: Cipher) -> CitizenPublic:
    profile = json.loads(cipher.decrypt(citizen.encrypted_profile)) if citizen.encrypted_profile else {}
    return CitizenPublic(
        citizen_id=citizen.id,
        address=citizen.address,
        custodial=citizen.custodial,
        erased=citizen.erased_at is not None,
        **profile,
    )


@router.post("", response_model=CustodialCitizenCreated, status_code=201)
def create_custodial_citizen(
    body: CitizenCreate,
    state: StateDep,
    session: SessionDep,
    _: EnrollerDep,
) -> CustodialCitizenCreated:
    """Creates a citizen without a wallet: the city keeps an address for them, its key encrypted,
    and returns a session token to hand to the citizen (for example on a printed card)."""
    account = Account.create()
    profile = body.model_dump(exclude_none=True)
    citizen = Citizen(
        id=str(uuid.uuid4()),
        address=account.address,
        custodial=True,
        encrypted_key=state.cipher.encrypt(account.key),
        encrypted_profile=state.cipher.encrypt(json.dumps(profile).encode()) if profile else None,
    )
    session.add(citizen)
    token = new_token("cit")
    expires = utcnow() + timedelta(seconds=state.settings.session_ttl_seconds)
    session.add(CitizenSession(token_hash=hash_token(token), citizen_id=citizen.id, expires_at=expires))
    session.commit()
    return CustodialCitizenCreated(**citizen_public(citizen, state.cipher).model_dump(), session_token=token)


@router.get("/me", response_model=CitizenPublic)
def read_me(citizen: CitizenDep, state: StateDep) -> CitizenPublic:
    return citizen_public(citizen, state.cipher)


@router.get("/{citizen_id}", response_model=CitizenPublic)
def read_citizen(citizen_id: str, state: StateDep, session: SessionDep, _: AnyStaffDep) -> CitizenPublic:
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise ApiError(404, "citizen_not_found", f"no citizen {citizen_id}")
    return citizen_public(citizen, state.cipher)


def _erase(citizen: Citizen, session: SessionDep) -> None:
    """Deletes personal data and the salts that tie on-chain evidence commitments to evidence.
    The chain holds only the address, ids, points and salted hashes: nothing left links back."""
    citizen.encrypted_profile = None
    citizen.erased_at = utcnow()
    for claim in session.query(ActivityClaim).filter(ActivityClaim.citizen_id == citizen.id):
        claim.evidence_salt = None
    session.commit()


@router.delete("/me/personal-data", response_model=CitizenPublic)
def erase_me(citizen: CitizenDep, state: StateDep, session: SessionDep) -> CitizenPublic:
    _erase(citizen, session)
    return citizen_public(citizen, state.cipher)


@router.delete("/{citizen_id}/personal-data", response_model=CitizenPublic)
def erase_citizen(citizen_id: str, state: StateDep, session: SessionDep, _: AdminDep) -> CitizenPublic:
    citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise ApiError(404, "citizen_not_found", f"no citizen {citizen_id}")
    _erase(citizen, session)
    return citizen_public(citizen, state.cipher)


@router.post("/me/key-export", response_model=KeyExport)
def export_key(citizen: CitizenDep, state: StateDep, session: SessionDep) -> KeyExport:
    """Hands a custodial citizen their private key once and deletes the city's copy: from now on
    the citizen's own wallet holds the address."""
    if not citizen.custodial or citizen.encrypted_key is None:
        raise ApiError(409, "not_custodial", "the city holds no key for this citizen")
    key = state.cipher.decrypt(citizen.encrypted_key)
    citizen.encrypted_key = None
    citizen.custodial = False
    citizen.key_exported_at = utcnow()
    session.commit()
    return KeyExport(address=citizen.address, private_key="0x" + key.hex())
