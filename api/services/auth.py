"""Who is calling: staff tokens, citizens' sessions, Sign-In with Ethereum, and sign-in cards.

A citizen with a wallet signs in with EIP-4361. A citizen without one (most plogging-club
members) has a sign-in card: staff enrol them and hand over a card with a code; the citizen
activates it by choosing a PIN, and signs in with code and PIN whenever they come back. Staff
can re-issue a card (the old one stops working and must be activated again) or revoke it, but
never sign in with it: they never learn the PIN, and enrolling returns no session.
"""

from __future__ import annotations

import base64
import json
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ledger.signin import SignInRefused, verify_sign_in

from ..store import AuditEntry, Citizen, CitizenCard, CitizenSession, SiweNonce, StaffToken, utcnow
from .context import Context
from .errors import Forbidden, Gone, Invalid, NotFound, RateLimited, Unauthenticated
from .security import hash_pin, hash_token, new_token, pin_matches

__all__ = [
    "STAFF_ROLES",
    "CardIssued",
    "NewSession",
    "SiweChallenge",
    "StaffPrincipal",
    "activate_card",
    "audit",
    "authenticate_citizen",
    "authenticate_staff",
    "create_staff_token",
    "issue_card",
    "revoke_card",
    "revoke_staff_token",
    "sign_in_with_card",
    "sign_in_with_ethereum",
    "sign_out",
    "siwe_challenge",
]

#: Staff roles; each mirrors an on-chain role (reviewing claims is the minter's job).
STAFF_ROLES = ("admin", "minter", "issuer", "redeemer", "pauser")
_LOCK = timedelta(minutes=15)


@dataclass(frozen=True)
class StaffPrincipal:
    token_id: int
    label: str
    role: str

    @property
    def name(self) -> str:
        return f"{self.label}#{self.token_id}"

    def may(self, *roles: str) -> bool:
        return self.role == "admin" or self.role in roles


@dataclass(frozen=True)
class NewSession:
    token: str
    citizen_id: str
    address: str
    expires_at: datetime


@dataclass(frozen=True)
class SiweChallenge:
    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_id: int


@dataclass(frozen=True)
class CardIssued:
    citizen_id: str
    code: str
    activate_by: datetime


def audit(ctx: Context, actor: str, action: str, subject: str, **details: object) -> None:
    with ctx.store.session() as session:
        session.add(AuditEntry(actor=actor, action=action, subject=subject, details=json.dumps(details, default=str)))
        session.commit()


# ---------------------------------------------------------------------- staff


def authenticate_staff(ctx: Context, token: str) -> StaffPrincipal:
    with ctx.store.session() as session:
        row = session.scalar(select(StaffToken).where(StaffToken.token_hash == hash_token(token)))
        if row is None or row.revoked_at is not None:
            if token.startswith("cit_"):
                raise Forbidden("forbidden", "this route is for city staff")
            raise Unauthenticated("invalid_token", "the token is unknown or revoked")
        row.last_used_at = utcnow()
        session.commit()
        return StaffPrincipal(row.id, row.label, row.role)


def create_staff_token(ctx: Context, label: str, role: str, by: str) -> tuple[StaffToken, str]:
    if role not in STAFF_ROLES:
        raise Invalid("invalid_role", f"role must be one of {', '.join(STAFF_ROLES)}")
    token = new_token("staff")
    with ctx.store.session() as session:
        row = StaffToken(label=label, role=role, token_hash=hash_token(token))
        session.add(row)
        session.commit()
    audit(ctx, by, "staff_token_created", f"staff-token#{row.id}", role=role, label=label)
    return row, token


def revoke_staff_token(ctx: Context, token_id: int, by: str) -> StaffToken:
    with ctx.store.session() as session:
        row = session.get(StaffToken, token_id)
        if row is None:
            raise NotFound("staff_token_not_found", f"no staff token {token_id}")
        row.revoked_at = row.revoked_at or utcnow()
        session.commit()
    audit(ctx, by, "staff_token_revoked", f"staff-token#{token_id}")
    return row


def list_staff_tokens(ctx: Context) -> list[StaffToken]:
    with ctx.store.session() as session:
        return list(session.scalars(select(StaffToken).order_by(StaffToken.id)))


# ---------------------------------------------------------------------- citizens' sessions


def _open_session(ctx: Context, citizen: Citizen, method: str) -> NewSession:
    token = new_token("cit")
    expires = utcnow() + timedelta(seconds=ctx.settings.session_ttl_seconds)
    with ctx.store.session() as session:
        session.add(
            CitizenSession(token_hash=hash_token(token), citizen_id=citizen.id, method=method, expires_at=expires)
        )
        session.commit()
    return NewSession(token, citizen.id, citizen.address, expires)


def authenticate_citizen(ctx: Context, token: str) -> Citizen:
    with ctx.store.session() as session:
        row = session.get(CitizenSession, hash_token(token))
        if row is None or row.revoked_at is not None:
            if token.startswith("staff_"):
                raise Forbidden("forbidden", "this route is for citizens")
            raise Unauthenticated("invalid_token", "the session is unknown; sign in again")
        if row.expires_at <= utcnow():
            raise Unauthenticated("session_expired", "the session has expired; sign in again")
        citizen = session.get(Citizen, row.citizen_id)
        if citizen is None:
            raise Unauthenticated("invalid_token", "the session's citizen no longer exists")
        return citizen


def sign_out(ctx: Context, token: str) -> None:
    with ctx.store.session() as session:
        session.execute(
            update(CitizenSession).where(CitizenSession.token_hash == hash_token(token)).values(revoked_at=utcnow())
        )
        session.commit()


def _revoke_sessions(session: object, citizen_id: str) -> None:
    session.execute(  # type: ignore[attr-defined]
        update(CitizenSession)
        .where(CitizenSession.citizen_id == citizen_id, CitizenSession.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# ---------------------------------------------------------------------- Sign-In with Ethereum


def siwe_challenge(ctx: Context) -> SiweChallenge:
    nonce = secrets.token_hex(16)
    expires = utcnow() + timedelta(seconds=ctx.settings.siwe_nonce_ttl_seconds)
    with ctx.store.session() as session:
        session.add(SiweNonce(nonce=nonce, expires_at=expires))
        session.commit()
    return SiweChallenge(
        nonce, expires, ctx.settings.siwe_domain, ctx.settings.public_base_url.rstrip("/"), ctx.ledger.chain_id
    )


def sign_in_with_ethereum(ctx: Context, message: str, signature: str) -> NewSession:
    """Checks the signed message (domain, URI, chain, nonce, validity, signer) and opens a session."""
    now = utcnow()
    try:
        signed = verify_sign_in(message, signature, domain=ctx.settings.siwe_domain, now=now)
    except SignInRefused as exc:
        raise Unauthenticated(f"siwe_{exc.reason}", str(exc)) from exc
    if signed.uri.rstrip("/") != ctx.settings.public_base_url.rstrip("/"):
        raise Unauthenticated("siwe_wrong_domain", f"the message must be for {ctx.settings.public_base_url}")
    if signed.chain_id != ctx.ledger.chain_id:
        raise Unauthenticated("siwe_wrong_chain", f"the message must name chain {ctx.ledger.chain_id}")
    with ctx.store.session() as session:
        nonce = session.get(SiweNonce, signed.nonce)
        if nonce is None or nonce.expires_at <= now:
            raise Unauthenticated("siwe_unknown_nonce", "the nonce is unknown or expired; ask for a new one")
        # Spend the nonce with one conditional write: of concurrent requests replaying one
        # signed message, only the first finds it unused.
        spent = session.execute(
            update(SiweNonce).where(SiweNonce.nonce == signed.nonce, SiweNonce.used_at.is_(None)).values(used_at=now)
        )
        if spent.rowcount != 1:  # type: ignore[attr-defined]
            session.rollback()
            raise Unauthenticated("siwe_nonce_used", "the nonce has already been used")
        session.commit()
    return _open_session(ctx, _citizen_for(ctx, signed.address), "wallet")


def _citizen_for(ctx: Context, address: str) -> Citizen:
    """The citizen signing in as ``address``, created on the first sign-in. Two first sign-ins
    racing each other both end with the one row the unique address allows."""
    with ctx.store.session() as session:
        citizen = session.scalar(select(Citizen).where(Citizen.address == address))
        if citizen is not None:
            return citizen
        session.add(Citizen(id=str(uuid.uuid4()), address=address, custodial=False))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
        return session.scalars(select(Citizen).where(Citizen.address == address)).one()


# ---------------------------------------------------------------------- sign-in cards


def _card_code() -> str:
    """20 characters of base32 (100 bits) in groups of four, easy to read off a card."""
    raw = base64.b32encode(secrets.token_bytes(15)).decode().rstrip("=")[:20]
    return "-".join(raw[i : i + 4] for i in range(0, 20, 4))


def _normal(code: str) -> str:
    return code.strip().upper().replace(" ", "").replace("-", "")


def issue_card(ctx: Context, citizen_id: str, by: str) -> CardIssued:
    """A new sign-in card for the citizen; any earlier card and every open session stop."""
    code = _card_code()
    activate_by = utcnow() + timedelta(days=ctx.settings.card_activation_days)
    with ctx.store.session() as session:
        citizen = session.get(Citizen, citizen_id)
        if citizen is None:
            raise NotFound("citizen_not_found", f"no citizen {citizen_id}")
        session.execute(
            update(CitizenCard)
            .where(CitizenCard.citizen_id == citizen_id, CitizenCard.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        _revoke_sessions(session, citizen_id)
        session.add(
            CitizenCard(
                citizen_id=citizen_id, code_hash=hash_token(_normal(code)), activate_by=activate_by, issued_by=by
            )
        )
        session.commit()
    audit(ctx, by, "card_issued", f"citizen:{citizen_id}")
    return CardIssued(citizen_id, code, activate_by)


def revoke_card(ctx: Context, citizen_id: str, by: str) -> None:
    with ctx.store.session() as session:
        revoked = session.execute(
            update(CitizenCard)
            .where(CitizenCard.citizen_id == citizen_id, CitizenCard.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if revoked.rowcount == 0:  # type: ignore[attr-defined]
            raise NotFound("card_not_found", f"citizen {citizen_id} has no card in use")
        _revoke_sessions(session, citizen_id)
        session.commit()
    audit(ctx, by, "card_revoked", f"citizen:{citizen_id}")


def _valid_pin(pin: str) -> str:
    if not (pin.isdigit() and 4 <= len(pin) <= 8):
        raise Invalid("invalid_pin", "the PIN must be 4 to 8 digits")
    return pin


def _card(session: object, code: str) -> CitizenCard:
    card = session.scalar(select(CitizenCard).where(CitizenCard.code_hash == hash_token(_normal(code))))  # type: ignore[attr-defined]
    if card is None or card.revoked_at is not None:
        raise Unauthenticated("card_invalid", "this card is unknown or no longer valid; ask the city for a new one")
    return card  # type: ignore[no-any-return]


def activate_card(ctx: Context, code: str, pin: str) -> NewSession:
    """The citizen chooses the card's PIN (once); returns their first session."""
    pin = _valid_pin(pin)
    with ctx.store.session() as session:
        card = _card(session, code)
        if card.activated_at is not None:
            raise Forbidden("card_already_active", "this card is active already: sign in with its PIN")
        if card.activate_by <= utcnow():
            raise Gone("card_activation_expired", "the card was not activated in time; ask the city to re-issue it")
        card.pin_hash, card.activated_at = hash_pin(pin), utcnow()
        citizen = session.get(Citizen, card.citizen_id)
        session.commit()
    assert citizen is not None
    audit(ctx, f"citizen:{citizen.id}", "card_activated", f"citizen:{citizen.id}")
    return _open_session(ctx, citizen, "card")


def check_card_pin(ctx: Context, citizen_id: str, pin: str) -> None:
    """A fresh confirmation: the PIN of the citizen's active card (for key export, say)."""
    with ctx.store.session() as session:
        card = session.scalar(
            select(CitizenCard).where(
                CitizenCard.citizen_id == citizen_id,
                CitizenCard.revoked_at.is_(None),
                CitizenCard.activated_at.is_not(None),
            )
        )
        if card is None:
            raise Forbidden("card_required", "confirm with the PIN of an active sign-in card")
        _check_pin(session, card, pin, ctx.settings.card_pin_attempts)


def _check_pin(session: object, card: CitizenCard, pin: str, attempts: int) -> None:
    now = utcnow()
    if card.locked_until is not None and card.locked_until > now:
        raise RateLimited(
            "card_locked",
            "too many wrong PINs; try again later",
            retry_after=int((card.locked_until - now).seconds) + 1,
        )
    if card.pin_hash is None or not pin_matches(pin, card.pin_hash):
        card.failed_attempts += 1
        if card.failed_attempts >= attempts:
            card.failed_attempts, card.locked_until = 0, now + _LOCK
        session.commit()  # type: ignore[attr-defined]
        raise Unauthenticated("wrong_pin", "the PIN is wrong")
    card.failed_attempts = 0
    session.commit()  # type: ignore[attr-defined]


def sign_in_with_card(ctx: Context, code: str, pin: str) -> NewSession:
    with ctx.store.session() as session:
        card = _card(session, code)
        if card.activated_at is None:
            raise Forbidden("card_not_active", "activate the card first by choosing its PIN")
        _check_pin(session, card, pin, ctx.settings.card_pin_attempts)
        citizen = session.get(Citizen, card.citizen_id)
    assert citizen is not None
    return _open_session(ctx, citizen, "card")
