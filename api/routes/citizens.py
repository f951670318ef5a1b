"""Citizens: enrolment with a sign-in card, profiles, erasure, key export, re-binding."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from ..deps import AdminDep, CitizenDep, CtxDep, EnrollerDep, KeyDep, ReaderDep
from ..presenters import citizen_public
from ..schemas import (
    CardPublic,
    CitizenCreate,
    CitizenPublic,
    CustodialCitizenCreated,
    KeyExport,
    KeyExportRequest,
    RebindingPublic,
    RebindingRequest,
)
from ..services import auth, citizens
from ..services.auth import CardIssued
from ..services.context import Context

router = APIRouter(prefix="/citizens", tags=["citizens"])


def _card(ctx: Context, card: CardIssued) -> CardPublic:
    url = f"{ctx.settings.public_base_url.rstrip('/')}/me/card?code={card.code}"
    return CardPublic(code=card.code, activate_by=card.activate_by, activate_url=url)


@router.post("", response_model=CustodialCitizenCreated, status_code=201)
def enrol_citizen(body: CitizenCreate, ctx: CtxDep, staff: EnrollerDep) -> CustodialCitizenCreated:
    """Enrols a citizen without a wallet: the city keeps an address for them (its key
    encrypted) and issues a sign-in card to print and hand over. The citizen activates it by
    choosing a PIN; staff get no session and cannot act as the citizen."""
    enrolled = citizens.enrol(ctx, body.model_dump(exclude_none=True), staff.name)
    return CustodialCitizenCreated(**citizen_public(enrolled.profile).model_dump(), card=_card(ctx, enrolled.card))


@router.get("", response_model=list[CitizenPublic])
def search_citizens(
    ctx: CtxDep,
    _: ReaderDep,
    q: Annotated[str, Query(max_length=100)] = "",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> list[CitizenPublic]:
    """Citizens whose address, id or display name contains ``q``."""
    return [citizen_public(p) for p in citizens.search(ctx, q, limit)]


@router.get("/me", response_model=CitizenPublic)
def read_me(citizen: CitizenDep, ctx: CtxDep) -> CitizenPublic:
    return citizen_public(citizens.profile(ctx, citizen))


@router.delete("/me/personal-data", response_model=CitizenPublic)
def erase_me(citizen: CitizenDep, ctx: CtxDep) -> CitizenPublic:
    return citizen_public(citizens.profile(ctx, citizens.erase(ctx, citizen, f"citizen:{citizen.id}")))


@router.post("/me/key-export", response_model=KeyExport)
def export_key(body: KeyExportRequest, citizen: CitizenDep, ctx: CtxDep) -> KeyExport:
    """Hands a custodial citizen their private key once, after they confirm with their card's
    PIN, and deletes the city's copy; the export is recorded."""
    address, key = citizens.export_key(ctx, citizen, body.pin)
    return KeyExport(address=address, private_key=key)


@router.get("/{citizen_id}", response_model=CitizenPublic)
def read_citizen(citizen_id: str, ctx: CtxDep, _: ReaderDep) -> CitizenPublic:
    return citizen_public(citizens.profile(ctx, citizens.get(ctx, citizen_id)))


@router.delete("/{citizen_id}/personal-data", response_model=CitizenPublic)
def erase_citizen(citizen_id: str, ctx: CtxDep, admin: AdminDep) -> CitizenPublic:
    return citizen_public(citizens.profile(ctx, citizens.erase(ctx, citizens.get(ctx, citizen_id), admin.name)))


@router.post("/{citizen_id}/card", response_model=CardPublic, status_code=201)
def reissue_card(citizen_id: str, ctx: CtxDep, staff: EnrollerDep) -> CardPublic:
    """A new sign-in card (a lost card, a forgotten PIN): the old one stops working."""
    return _card(ctx, auth.issue_card(ctx, citizens.get(ctx, citizen_id).id, staff.name))


@router.delete("/{citizen_id}/card", status_code=204)
def revoke_card(citizen_id: str, ctx: CtxDep, staff: EnrollerDep) -> None:
    auth.revoke_card(ctx, citizens.get(ctx, citizen_id).id, staff.name)


@router.get("/{citizen_id}/rebinding", response_model=dict[str, Any])
def rebinding_document(
    citizen_id: str,
    ctx: CtxDep,
    _: AdminDep,
    new_address: Annotated[str, Query(pattern=r"^0x[0-9a-fA-F]{40}$")],
    reason_code: Annotated[int, Query(ge=0, le=65_535)] = 1,
) -> dict[str, Any]:
    """The EIP-712 document the citizen's new wallet signs to receive their record."""
    return citizens.rebinding_document(ctx, citizens.get(ctx, citizen_id), new_address, reason_code)


@router.post("/{citizen_id}/rebinding", response_model=RebindingPublic)
def rebind(citizen_id: str, body: RebindingRequest, ctx: CtxDep, admin: AdminDep, keyed: KeyDep) -> RebindingPublic:
    """Moves an enrolled citizen's points and badges from their lost address to the new one
    that signed for them, in one recorded on-chain act."""
    answer = citizens.rebind(
        ctx,
        citizens.get(ctx, citizen_id),
        body.new_address,
        body.reason_code,
        body.deadline,
        bytes.fromhex(body.signature[2:]),
        admin.name,
        principal=keyed.principal,
        key=keyed.key,
    )
    return RebindingPublic(**answer)
