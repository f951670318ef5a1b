"""Citizens: enrolment without a wallet, profiles, erasure, moving to a wallet of one's own, and
re-binding a record after a lost key."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select, update

from ledger import RebindingConsent, checksum
from ledger.errors import InvalidInput
from ledger.signin import citizen_key, new_citizen_key

from ..store import (
    ActivityClaim,
    Citizen,
    EvidenceFile,
    EvidenceUse,
    IdempotencyRecord,
    ReviewDecision,
    utcnow,
)
from .auth import CardIssued, audit, check_card_pin, issue_card
from .context import Context
from .errors import Conflict, Forbidden, Invalid, NotFound
from .intents import IntentView, handler, outcome, send_once, submit

__all__ = [
    "Enrolled",
    "Profile",
    "enrol",
    "erase",
    "export_key",
    "find",
    "get",
    "profile",
    "rebind",
    "rebinding_document",
    "search",
]

PROFILE_FIELDS = ("display_name", "email", "phone")
_ERASED = {"error": {"code": "erased", "message": "this answer held personal data that was erased"}}


@dataclass(frozen=True)
class Profile:
    citizen: Citizen
    fields: dict[str, str]

    @property
    def display_name(self) -> str | None:
        return self.fields.get("display_name")


@dataclass(frozen=True)
class Enrolled:
    profile: Profile
    card: CardIssued


def profile(ctx: Context, citizen: Citizen) -> Profile:
    fields = json.loads(ctx.cipher.decrypt(citizen.encrypted_profile)) if citizen.encrypted_profile else {}
    return Profile(citizen, fields)


def get(ctx: Context, citizen_id: str) -> Citizen:
    with ctx.store.session() as session:
        citizen = session.get(Citizen, citizen_id)
    if citizen is None:
        raise NotFound("citizen_not_found", f"no citizen {citizen_id}")
    return citizen


def find(ctx: Context, reference: str) -> Citizen:
    """A citizen by current address, a former address, or id."""
    with ctx.store.session() as session:
        if reference.startswith("0x") and len(reference) == 42:
            try:
                address = checksum(reference)
            except InvalidInput as exc:
                raise Invalid("invalid_address", str(exc)) from exc
            citizen = session.scalar(select(Citizen).where(Citizen.address == address))
            if citizen is None:
                citizen = session.scalar(select(Citizen).where(Citizen.former_addresses.contains(address)))
        else:
            citizen = session.get(Citizen, reference)
    if citizen is None:
        raise NotFound("citizen_not_found", f"no citizen {reference}")
    return citizen


def enrol(ctx: Context, fields: dict[str, str], by: str) -> Enrolled:
    """Creates a citizen without a wallet: the city keeps an address for them (its key
    encrypted) and issues a sign-in card. Staff get the card's code to hand over, never a
    session: only the PIN the citizen chooses when activating the card opens one."""
    key = new_citizen_key()
    fields = {k: v for k, v in fields.items() if v}
    citizen = Citizen(
        id=str(uuid.uuid4()),
        address=str(key.address),
        custodial=True,
        encrypted_key=ctx.cipher.encrypt(bytes(key.key)),
        encrypted_profile=ctx.cipher.encrypt(json.dumps(fields).encode()) if fields else None,
    )
    with ctx.store.session() as session:
        session.add(citizen)
        session.commit()
    audit(ctx, by, "citizen_enrolled", f"citizen:{citizen.id}")
    return Enrolled(Profile(citizen, fields), issue_card(ctx, citizen.id, by))


def search(ctx: Context, query: str, limit: int = 50) -> list[Profile]:
    """Citizens whose address, id or display name contains ``query`` (case-insensitive).
    Profiles are encrypted at rest, so names are matched after decrypting, page by page."""
    needle = query.strip().lower()
    found: list[Profile] = []
    with ctx.store.session() as session:
        for citizen in session.scalars(select(Citizen).order_by(Citizen.created_at).execution_options(yield_per=500)):
            prof = profile(ctx, citizen)
            haystack = [citizen.address.lower(), citizen.id, (prof.display_name or "").lower()]
            if not needle or any(needle in h for h in haystack):
                found.append(prof)
                if len(found) >= limit:
                    break
    return found


def erase(ctx: Context, citizen: Citizen, by: str) -> Citizen:
    """Deletes personal data: the profile, uploaded evidence and its hashes, the salts that tie
    on-chain evidence commitments to evidence, outing times, notes and reviewers' reasons. The
    chain holds only the address, ids, points and salted hashes: nothing left links back. Anchor
    proofs stay valid (they hold leaf hashes, not content)."""
    with ctx.store.session() as session:
        row = session.get(Citizen, citizen.id)
        assert row is not None
        row.encrypted_profile = None
        row.erased_at = utcnow()
        claim_ids = list(session.scalars(select(ActivityClaim.id).where(ActivityClaim.citizen_id == row.id)))
        session.execute(
            update(ActivityClaim)
            .where(ActivityClaim.citizen_id == row.id)
            .values(
                evidence_salt=None,
                photo_hash=None,
                track_hash=None,
                note=None,
                appeal_note=None,
                started_at=None,
                ended_at=None,
            )
        )
        if claim_ids:
            session.execute(delete(EvidenceUse).where(EvidenceUse.claim_id.in_(claim_ids)))
            session.execute(
                update(ReviewDecision).where(ReviewDecision.claim_id.in_(claim_ids)).values(reason="(erased)")
            )
        session.execute(delete(EvidenceFile).where(EvidenceFile.citizen_id == row.id))
        # Answers kept for Idempotency-Key replays carry outing times, notes and reasons: an
        # answer about the citizen is replaced by one saying it was erased (the key stays used).
        session.execute(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.response_body.contains(row.id))
            .values(status_code=410, response_body=json.dumps(_ERASED))
        )
        session.commit()
    audit(ctx, by, "personal_data_erased", f"citizen:{citizen.id}")
    return row


def export_key(ctx: Context, citizen: Citizen, pin: str) -> tuple[str, str]:
    """Hands a custodial citizen their private key once, after a fresh confirmation (the PIN of
    their card), records it, and deletes the city's copy: from now on the citizen's own wallet
    holds the address. Returns (address, private key)."""
    if not citizen.custodial or citizen.encrypted_key is None:
        raise Conflict("not_custodial", "the city holds no key for this citizen")
    check_card_pin(ctx, citizen.id, pin)
    with ctx.store.session() as session:
        row = session.get(Citizen, citizen.id)
        assert row is not None and row.encrypted_key is not None
        key = ctx.cipher.decrypt(row.encrypted_key)
        row.encrypted_key, row.custodial, row.key_exported_at = None, False, utcnow()
        session.commit()
    audit(ctx, f"citizen:{citizen.id}", "key_exported", f"citizen:{citizen.id}", address=citizen.address)
    return citizen.address, "0x" + key.hex()


def custodial_key(ctx: Context, citizen: Citizen) -> Any:
    """The key the city keeps for a custodial citizen (to sign their consents)."""
    if not citizen.custodial or citizen.encrypted_key is None:
        raise Forbidden("consent_required", "sign the consent with your own wallet and send the signature")
    return citizen_key(ctx.cipher.decrypt(citizen.encrypted_key))


# ---------------------------------------------------------------------- re-binding a lost key


def rebinding_document(ctx: Context, citizen: Citizen, new_address: str, reason_code: int) -> dict[str, Any]:
    """The EIP-712 document the citizen's new wallet signs to receive their record."""
    new_address = _fresh_address(ctx, citizen, new_address)
    deadline = ctx.ledger.chain_time() + 24 * 3600
    return ctx.ledger.rebinding_typed_data(citizen.address, new_address, reason_code, deadline)


def _fresh_address(ctx: Context, citizen: Citizen, new_address: str) -> str:
    try:
        new_address = checksum(new_address, "new address")
    except InvalidInput as exc:
        raise Invalid("invalid_address", str(exc)) from exc
    if new_address == citizen.address:
        raise Conflict("same_address", "the new address is the citizen's current one")
    with ctx.store.session() as session:
        if session.scalar(select(Citizen).where(Citizen.address == new_address)) is not None:
            raise Conflict("address_in_use", "another citizen holds that address")
    return new_address


def rebind(
    ctx: Context,
    citizen: Citizen,
    new_address: str,
    reason_code: int,
    deadline: int,
    signature: bytes,
    by: str,
    *,
    principal: str | None,
    key: str | None,
) -> dict[str, Any]:
    """Moves an enrolled citizen's points and badges to the new address that signed for them,
    in one recorded on-chain act; every later read follows the citizen to it."""
    new_address = _fresh_address(ctx, citizen, new_address)
    payload = {
        "citizen_id": citizen.id,
        "old": citizen.address,
        "new": new_address,
        "reason_code": reason_code,
        "deadline": deadline,
        "signature": "0x" + signature.hex(),
        "by": by,
    }
    intent = submit(ctx, "rebind", payload, principal=principal, key=key)
    return outcome(ctx, intent)


@handler("rebind")
def _rebind(ctx: Context, intent: IntentView) -> dict[str, Any]:
    p = intent.payload
    consent = RebindingConsent(p["old"], p["new"], p["reason_code"], p["deadline"], bytes.fromhex(p["signature"][2:]))
    result = send_once(ctx, intent.id, lambda label: ctx.ledger.rebind_citizen(consent, intent=label))
    with ctx.store.session() as session:
        row = session.get(Citizen, p["citizen_id"])
        assert row is not None
        if row.address == p["old"]:
            row.former_addresses = ",".join(a for a in (row.former_addresses, p["old"]) if a)
            row.address = p["new"]
            row.custodial, row.encrypted_key = False, None
            session.commit()
    audit(ctx, p["by"], "citizen_rebound", f"citizen:{p['citizen_id']}", old=p["old"], new=p["new"])
    return {"citizen_id": p["citizen_id"], "old": p["old"], "new": p["new"], "tx_hash": result.tx_hash}
