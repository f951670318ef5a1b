"""Open Badges 3.0 credentials for the badges citizens hold, signed by the city's issuer key.

Anyone can fetch the credential of a badge held (it says no more than the public verification
does) and take it to a wallet, a CV or LinkedIn. The credential names its on-chain record as
evidence and the badges contract as its status, so a verifier decides revocation against the
chain, not against this service: :func:`ledger.credentials.verify_credential` needs only the JWT,
the issuer's public key (published at ``/v1/credentials/issuer`` and ``/.well-known/jwks.json``)
and a node.

The issuer key is a P-256 key in a JSON file (``CIVIC_ISSUER_KEY_PATH``, or ``issuer-key.json``
beside a SQLite store), created on first use with mode 0600. Losing it makes every credential
unverifiable by the published key: back it up with the store.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from joserfc.jwk import ECKey
from sqlalchemy.engine import make_url

from ledger import BadgeIssued
from ledger.credentials import (
    CREDENTIAL_TYPES,
    OB_CONTEXT,
    OB_SCHEMA,
    VC_CONTEXT,
    BadgeStatus,
    CredentialVerification,
    did_pkh,
    iso_time,
    sign_credential,
    verify_credential,
)

from ..store import CityEventRow
from . import verification
from .context import Context
from .errors import NotFound, Unavailable
from .indexer import Indexer

__all__ = [
    "IssuedCredential",
    "IssuerKeyNotConfigured",
    "badge_credential",
    "issuer_id",
    "issuer_key",
    "issuer_profile",
    "jwks",
    "key_path",
    "verify",
]

log = logging.getLogger("civic.credentials")

KEY_FILE = "issuer-key.json"


class IssuerKeyNotConfigured(Unavailable):
    """No place is configured for the issuer's signing key."""


# ---------------------------------------------------------------------------------- the key


def key_path(ctx: Context) -> Path:
    """Where the issuer key lives: ``issuer_key_path``, else beside a SQLite store's file."""
    if ctx.settings.issuer_key_path is not None:
        return Path(ctx.settings.issuer_key_path)
    if ctx.store.sqlite:
        database = make_url(ctx.store.url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            return Path(database).resolve().parent / KEY_FILE
    raise IssuerKeyNotConfigured(
        "issuer_key_not_configured",
        "set CIVIC_ISSUER_KEY_PATH to the file holding the Open Badges issuer key (it is created there on "
        "first use): only a SQLite store on disk has a default place for it",
    )


_keys: dict[Path, ECKey] = {}
_keys_lock = threading.Lock()


def issuer_key(ctx: Context) -> ECKey:
    """The issuer's P-256 signing key, read from its file or created there (mode 0600)."""
    path = key_path(ctx).resolve()
    with _keys_lock:
        key = _keys.get(path)
        if key is None:
            key = _keys[path] = _load_or_create(path)
        return key


def _load_or_create(path: Path) -> ECKey:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fresh = ECKey.generate_key("P-256", auto_kid=True)
        temporary = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(fresh.as_dict(private=True), file)
                file.flush()
                os.fsync(file.fileno())
            try:
                os.link(temporary, path)  # atomic, and never over a key another process made
            except FileExistsError:
                pass
            else:
                log.warning("created the Open Badges issuer key %s: back it up with the store", path)
        finally:
            temporary.unlink(missing_ok=True)
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        log.warning("the issuer key %s is readable by others (mode %o): chmod 600 it", path, mode)
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("kty") != "EC" or data.get("crv") != "P-256" or "d" not in data:
        raise IssuerKeyNotConfigured("issuer_key_invalid", f"{path} does not hold a private P-256 JWK")
    data.pop("kid", None)
    key = ECKey.import_key(data)
    key.ensure_kid()  # the RFC 7638 thumbprint
    return key


# ---------------------------------------------------------------------------------- the issuer


def _base(ctx: Context) -> str:
    return ctx.settings.public_base_url.rstrip("/")


def issuer_id(ctx: Context) -> str:
    return f"{_base(ctx)}/v1/credentials/issuer"


def _public_jwk(ctx: Context) -> dict[str, Any]:
    key = issuer_key(ctx)
    return {**key.as_dict(private=False), "kid": key.kid, "use": "sig", "alg": "ES256"}


def jwks(ctx: Context) -> dict[str, Any]:
    """The issuer's public keys as a JWK Set (``/.well-known/jwks.json``)."""
    return {"keys": [_public_jwk(ctx)]}


def issuer_profile(ctx: Context) -> dict[str, Any]:
    """The Open Badges 3.0 issuer Profile the credentials' ``issuer.id`` resolves to, with the
    public key as a ``JsonWebKey`` verification method."""
    ident = issuer_id(ctx)
    jwk = _public_jwk(ctx)
    method = f"{ident}#{jwk['kid']}"
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": ident,
        "type": ["Profile"],
        "name": ctx.settings.issuer_name,
        "url": _base(ctx),
        "description": f"{ctx.settings.issuer_name}: attendance badges of city events, recorded on-chain.",
        "verificationMethod": [{"id": method, "type": "JsonWebKey", "controller": ident, "publicKeyJwk": jwk}],
        "assertionMethod": [method],
        "jwksUri": f"{_base(ctx)}/.well-known/jwks.json",
    }


# ---------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class IssuedCredential:
    credential: dict[str, Any]
    jwt: str
    add_to_profile: str


def badge_credential(ctx: Context, indexer: Indexer, event_id: int, address: str) -> IssuedCredential:
    """The signed credential of ``address``'s badge of ``event_id``; NotFound unless the index
    says the address holds it now."""
    answer = verification.badge(ctx, indexer, event_id, address)
    found = answer.verification
    if not answer.holds_badge or found is None or not isinstance(found.record, BadgeIssued):
        raise NotFound("badge_not_held", f"{answer.attendee} does not hold the badge of event {event_id}")
    record = found.record
    with ctx.store.session() as session:
        event = session.get(CityEventRow, event_id)
    issued_at = ctx.ledger.chain.block_time(record.ref.block_number)
    credential = _credential(ctx, event_id, answer.attendee, event, record, issued_at)
    token = sign_credential(credential, issuer_key(ctx))
    return IssuedCredential(credential, token, _linkedin(ctx, credential, issued_at))


def _credential(
    ctx: Context, event_id: int, holder: str, event: CityEventRow | None, record: BadgeIssued, issued_at: int
) -> dict[str, Any]:
    base, issuer_name, chain_id = _base(ctx), ctx.settings.issuer_name, ctx.ledger.chain_id
    contract = ctx.ledger.deployment.badges_address
    title = event.title if event is not None else f"Event {event_id}"
    description = (event.description if event is not None else "") or f"Attended {title}, an event of {issuer_name}."
    verify_url = f"{base}/v1/verify/events/{event_id}/badges/{holder}"
    ref = record.ref
    evidence: dict[str, Any] = {
        "id": verify_url,
        "type": ["Evidence"],
        "name": "On-chain badge record",
        "description": f"The badge was issued to {record.attendee} by transaction {ref.tx_hash} "
        f"(block {ref.block_number}, log {ref.log_index}) of contract {ref.contract} on chain {ref.chain_id}.",
        "narrative": f"Check it on any node of chain {ref.chain_id}, or at {verify_url}.",
        "chainId": ref.chain_id,
        "contract": ref.contract,
        "transactionHash": ref.tx_hash,
        "blockNumber": ref.block_number,
        "blockHash": ref.block_hash,
        "logIndex": ref.log_index,
    }
    if ctx.settings.explorer_tx_url:
        evidence["explorerUrl"] = ctx.settings.explorer_tx_url.replace("{tx}", ref.tx_hash)
    status = BadgeStatus(id=verify_url, chain_id=chain_id, contract=contract, token_id=event_id, holder=holder)
    return {
        "@context": [VC_CONTEXT, OB_CONTEXT],
        "id": f"{base}/v1/credentials/badges/{event_id}/{holder}",
        "type": list(CREDENTIAL_TYPES),
        "name": title,
        "description": f"An attendance badge of {issuer_name}, recorded on chain {chain_id}.",
        "issuer": {"id": issuer_id(ctx), "type": ["Profile"], "name": issuer_name, "url": base},
        "validFrom": iso_time(issued_at),
        "credentialSubject": {
            "id": did_pkh(chain_id, holder),
            "type": ["AchievementSubject"],
            "achievement": {
                "id": f"{base}/v1/badges/{event_id:064x}.json",
                "type": ["Achievement"],
                "achievementType": "Badge",
                "name": title,
                "description": description,
                "criteria": {
                    "narrative": f"Attended {title} and was issued its badge by {issuer_name}: the badge "
                    f"(token {event_id} of the city's badges contract) is held by the citizen's address."
                },
                "image": {"id": f"{base}/v1/badges/{event_id:064x}.svg", "type": "Image", "caption": title},
            },
        },
        "evidence": [evidence],
        "credentialStatus": status.entry(),
        "credentialSchema": [{"id": OB_SCHEMA, "type": "1EdTechJsonSchemaValidator2019"}],
    }


def _linkedin(ctx: Context, credential: dict[str, Any], issued_at: int) -> str:
    """LinkedIn's "Add to profile" link for the badge as a licence or certification."""
    issued = time.gmtime(issued_at)
    query = {
        "startTask": "CERTIFICATION_NAME",
        "name": credential["name"],
        "organizationName": ctx.settings.issuer_name,
        "issueYear": issued.tm_year,
        "issueMonth": issued.tm_mon,
        "certUrl": credential["credentialStatus"]["id"],
        "certId": credential["id"],
    }
    return f"https://www.linkedin.com/profile/add?{urlencode(query)}"


def verify(ctx: Context, token: str) -> CredentialVerification:
    """A credential checked against this city's published key and issuer id, and its status
    against the chain this service runs on."""
    return verify_credential(token, jwks(ctx), ctx.ledger, expected_issuer=issuer_id(ctx))
