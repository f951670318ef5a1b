"""Open Badges 3.0 credentials of badges, signed as VC-JWTs, and how anyone verifies one.

A credential says "this address holds the badge of this event"; its ``credentialStatus`` names
where that is decided: the badges contract on a chain (``chainId``, ``contract``, ``tokenId`` =
the event id, ``holder``). Verifying needs only the compact JWT, the issuer's public key(s) and
a :class:`~ledger.Ledger` on that deployment — not the city's store — so the service and the
command line check a credential the same way, against any node.

The JWT is the "native" VC-JWT of Open Badges 3.0 / VC Data Model 2.0: the payload IS the
credential, beside the registered claims that mirror it (``iss`` = issuer id, ``sub`` = subject
id, ``jti`` = credential id, ``nbf`` = ``validFrom``); header ``alg: ES256``, ``typ: vc+jwt``,
``kid`` = the RFC 7638 thumbprint of the issuer's P-256 key (and its public ``jwk``).

A verification lists its checks like every other verification here (passed, failed, or
unknown) and ends in one outcome: ``valid`` (every check passed, the chain says the badge is
held), ``revoked`` (genuine, but the chain says the badge was revoked or is no longer held),
``unknown`` (genuine, but the chain could not be asked: never reported as valid), or
``invalid`` (signature, issuer, subject, format or validity period failed).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from eth_utils import is_address, to_checksum_address
from joserfc import jws
from joserfc.jwk import ECKey

from .verification import Check

if TYPE_CHECKING:
    from ._ledger import Ledger

__all__ = [
    "ALGORITHM",
    "CREDENTIAL_TYPES",
    "JWT_TYPE",
    "OB_CONTEXT",
    "OB_SCHEMA",
    "STATUS_TYPE",
    "VC_CONTEXT",
    "BadgeStatus",
    "CredentialOutcome",
    "CredentialVerification",
    "did_pkh",
    "iso_time",
    "key_set",
    "load_token",
    "parse_did_pkh",
    "resolve_issuer_keys",
    "sign_credential",
    "verify_credential",
]

VC_CONTEXT = "https://www.w3.org/ns/credentials/v2"
OB_CONTEXT = "https://purl.imsglobal.org/spec/ob/v3p0/context-3.0.3.json"
#: The 1EdTech JSON Schema the credential conforms to (named in ``credentialSchema``).
OB_SCHEMA = "https://purl.imsglobal.org/spec/ob/v3p0/schema/json/ob_v3p0_achievementcredential_schema.json"
CREDENTIAL_TYPES = ("VerifiableCredential", "OpenBadgeCredential")
#: The ``credentialStatus`` type: revocation decided by the badges contract (``isRevoked``,
#: ``hasBadge``) on the chain the entry names.
STATUS_TYPE = "CivicBadgeChainStatus"
JWT_TYPE = "vc+jwt"
ALGORITHM = "ES256"

CredentialOutcome = Literal["valid", "revoked", "unknown", "invalid"]

#: The checks of every verification, in this order.
CHECKS = ("format", "signature", "issuer", "subject", "validity_period", "status")

_DID_PKH = re.compile(r"^did:pkh:eip155:(\d+):(0x[0-9a-fA-F]{40})$")


def did_pkh(chain_id: int, address: str) -> str:
    """The holder's decentralized identifier (did:pkh, CAIP-10): its chain and address."""
    return f"did:pkh:eip155:{chain_id}:{to_checksum_address(address)}"


def parse_did_pkh(did: object) -> tuple[int, str] | None:
    """(chain id, checksum address) of a did:pkh on an EVM chain, or None."""
    match = _DID_PKH.match(did) if isinstance(did, str) else None
    return (int(match.group(1)), to_checksum_address(match.group(2))) if match else None


def iso_time(timestamp: int) -> str:
    """Unix seconds as the XML Schema dateTime a credential carries (UTC, "Z")."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_time(value: object) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return int(parsed.timestamp()) if parsed.tzinfo is not None else None


@dataclass(frozen=True)
class BadgeStatus:
    """A credential's status entry: the badge ``token_id`` of ``holder`` on the badges
    ``contract`` of chain ``chain_id``. ``id`` is where a person can look it up."""

    id: str
    chain_id: int
    contract: str
    token_id: int
    holder: str

    def entry(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": STATUS_TYPE,
            "statusPurpose": "revocation",
            "chainId": self.chain_id,
            "contract": self.contract,
            # Decimal string: token ids exceed the integers JSON readers keep exactly.
            "tokenId": str(self.token_id),
            "holder": self.holder,
            # The same token as a CAIP-19 asset id.
            "asset": f"eip155:{self.chain_id}/erc1155:{self.contract}/{self.token_id}",
        }

    @classmethod
    def from_entry(cls, entry: object) -> BadgeStatus:
        """The status an entry names; ValueError saying what is wrong with it."""
        if not isinstance(entry, Mapping):
            raise ValueError("credentialStatus is missing or not an object")
        if entry.get("type") != STATUS_TYPE:
            raise ValueError(f"credentialStatus type is {entry.get('type')!r}, expected {STATUS_TYPE!r}")
        chain_id, contract, token, holder = (entry.get(k) for k in ("chainId", "contract", "tokenId", "holder"))
        if not isinstance(chain_id, int) or isinstance(chain_id, bool) or chain_id <= 0:
            raise ValueError("credentialStatus.chainId must be a positive integer")
        if not isinstance(token, str) or not token.isdigit() or int(token) >= 2**256:
            raise ValueError("credentialStatus.tokenId must be a decimal string")
        for name, value in (("contract", contract), ("holder", holder)):
            if not isinstance(value, str) or not is_address(value):
                raise ValueError(f"credentialStatus.{name} must be an address")
        assert isinstance(contract, str) and isinstance(holder, str)
        return cls(
            id=str(entry.get("id", "")),
            chain_id=chain_id,
            contract=to_checksum_address(contract),
            token_id=int(token),
            holder=to_checksum_address(holder),
        )


@dataclass(frozen=True)
class CredentialVerification:
    """Every check made and the one outcome; ``credential`` is the decoded payload (to be
    believed only when the outcome is not ``invalid``), ``status`` the status entry read."""

    outcome: CredentialOutcome
    checks: tuple[Check, ...]
    credential: dict[str, Any] | None = None
    status: BadgeStatus | None = None

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "checks": [{"name": c.name, "outcome": c.outcome, "detail": c.detail} for c in self.checks],
        }


# ---------------------------------------------------------------------------------- signing


def _claims(credential: Mapping[str, Any]) -> dict[str, Any]:
    """The registered JWT claims mirroring the credential."""
    issuer = credential["issuer"]
    claims: dict[str, Any] = {
        "iss": issuer["id"] if isinstance(issuer, Mapping) else issuer,
        "sub": credential["credentialSubject"]["id"],
        "jti": credential["id"],
        "nbf": _parse_time(credential["validFrom"]),
    }
    if "validUntil" in credential:
        claims["exp"] = _parse_time(credential["validUntil"])
    return claims


def sign_credential(credential: Mapping[str, Any], key: ECKey) -> str:
    """The credential as a compact VC-JWT signed with the issuer's P-256 ``key``."""
    if key.kid is None:
        key.ensure_kid()
    header = {"alg": ALGORITHM, "typ": JWT_TYPE, "kid": key.kid, "jwk": key.as_dict(private=False)}
    payload = {**credential, **_claims(credential)}
    data = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
    return jws.serialize_compact(header, data, key, algorithms=[ALGORITHM])


# ---------------------------------------------------------------------------------- keys


def key_set(issuer_keys: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> dict[str, ECKey]:
    """The issuer's public P-256 keys by ``kid`` (the RFC 7638 thumbprint, recomputed: a
    published ``kid`` is not believed), from a JWK, a JWK Set, a list of JWKs, or an issuer
    profile listing them as ``verificationMethod`` entries (``publicKeyJwk``)."""
    jwks: list[Mapping[str, Any]]
    if isinstance(issuer_keys, Mapping) and "keys" in issuer_keys:
        jwks = list(issuer_keys["keys"])
    elif isinstance(issuer_keys, Mapping) and "verificationMethod" in issuer_keys:
        methods = issuer_keys["verificationMethod"]
        jwks = [m["publicKeyJwk"] for m in methods if isinstance(m, Mapping) and "publicKeyJwk" in m]
    elif isinstance(issuer_keys, Mapping):
        jwks = [issuer_keys]
    else:
        jwks = list(issuer_keys)
    keys: dict[str, ECKey] = {}
    for jwk in jwks:
        if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            continue
        public = {k: jwk[k] for k in ("kty", "crv", "x", "y")}  # never a private part
        key = ECKey.import_key(public)
        keys[key.thumbprint()] = key
    return keys


def load_token(text: str) -> str:
    """The compact JWT in ``text``: the JWT itself, or a JSON document holding it under
    ``jwt`` (the service's answer for a badge's credential)."""
    text = text.strip()
    if text.startswith("{"):
        document = json.loads(text)
        if not isinstance(document, dict) or not isinstance(document.get("jwt"), str):
            raise ValueError("the JSON document has no 'jwt' string")
        text = document["jwt"].strip()
    return text


def resolve_issuer_keys(token: str, source: str | None = None, *, timeout: float = 10.0) -> dict[str, Any]:
    """The issuer keys to verify ``token`` with, as a JWK Set: from ``source`` (a file or an
    http(s) URL of a JWK, a JWK Set or an issuer profile), or else from the issuer profile at
    the URL the token names as its issuer. The second believes that URL: a verifier who must
    know which city signed compares the outcome's issuer with the one expected."""
    if source is None:
        _, payload = _unverified(token)
        issuer = payload.get("iss")
        if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
            raise ValueError("the token names no issuer URL to fetch its keys from; give the keys")
        source = issuer
    if source.startswith(("https://", "http://")):
        import httpx

        response = httpx.get(source, timeout=timeout, follow_redirects=False, headers={"Accept": "application/json"})
        response.raise_for_status()
        document: Any = response.json()
    else:
        document = json.loads(Path(source).read_text(encoding="utf-8"))
    keys = key_set(document)
    if not keys:
        raise ValueError(f"{source} publishes no P-256 key")
    return {"keys": [{**k.as_dict(private=False), "kid": kid} for kid, k in keys.items()]}


# ---------------------------------------------------------------------------------- verifying


def _b64(part: str) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]*", part):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def _unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and payload of a compact JWS, not yet believed; ValueError if it is none."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not all(parts):
        raise ValueError("not a compact JWS (three base64url parts)")
    try:
        header, payload = json.loads(_b64(parts[0])), json.loads(_b64(parts[1]))
    except (ValueError, binascii.Error, UnicodeDecodeError, RecursionError) as exc:
        raise ValueError(f"undecodable header or payload: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("header and payload must be JSON objects")
    return header, payload


def _format_problem(header: Mapping[str, Any], payload: Mapping[str, Any]) -> str | None:
    if header.get("alg") != ALGORITHM:
        return f"alg is {header.get('alg')!r}, expected {ALGORITHM}"
    if header.get("typ") != JWT_TYPE:
        return f"typ is {header.get('typ')!r}, expected {JWT_TYPE!r}"
    contexts = payload.get("@context")
    if not isinstance(contexts, list) or contexts[:2] != [VC_CONTEXT, OB_CONTEXT]:
        return f"@context must begin with {VC_CONTEXT} and {OB_CONTEXT}"
    types = payload.get("type")
    if not isinstance(types, list) or not set(CREDENTIAL_TYPES) <= set(types):
        return f"type must include {' and '.join(CREDENTIAL_TYPES)}"
    subject = payload.get("credentialSubject")
    if not isinstance(subject, Mapping) or not isinstance(subject.get("type"), list):
        return "credentialSubject must be an AchievementSubject"
    if "AchievementSubject" not in subject["type"]:
        return "credentialSubject must be an AchievementSubject"
    if not isinstance(subject.get("achievement"), Mapping):
        return "credentialSubject has no achievement"
    for name in ("id", "issuer", "validFrom"):
        if name not in payload:
            return f"the credential has no {name}"
    return None


@dataclass
class _Checks:
    made: dict[str, Check] = field(default_factory=dict)

    def add(self, name: str, outcome: Literal["passed", "failed", "unknown"], detail: str) -> None:
        self.made[name] = Check(name, outcome, detail)

    def failed(self) -> bool:
        return any(c.outcome == "failed" for c in self.made.values())

    def rest_unknown(self, why: str) -> None:
        for name in CHECKS:
            self.made.setdefault(name, Check(name, "unknown", f"not checked: {why}"))

    def result(self, payload: dict[str, Any] | None, status: BadgeStatus | None = None) -> CredentialVerification:
        self.rest_unknown("an earlier check failed")
        checks = tuple(self.made[n] for n in CHECKS)
        outcome: CredentialOutcome
        if any(c.outcome != "passed" for c in checks[:-1]):
            outcome = "invalid"
        elif checks[-1].outcome == "passed":
            outcome = "valid"
        elif checks[-1].outcome == "failed":
            outcome = "revoked"
        else:
            outcome = "unknown"
        return CredentialVerification(outcome, checks, payload, status)


def verify_credential(
    token: str,
    issuer_keys: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    ledger: Ledger,
    *,
    expected_issuer: str | None = None,
    now: int | None = None,
    leeway: int = 300,
) -> CredentialVerification:
    """Verifies a badge credential's VC-JWT with the issuer's public key(s) and asks ``ledger``
    (any node of the deployment the credential names) whether the badge is still held.

    ``issuer_keys``: a JWK, a JWK Set or an issuer profile (see :func:`key_set`);
    ``expected_issuer``: the issuer id the key belongs to (None: not compared; the caller
    vouches that the keys are the issuer's, e.g. fetched from its profile);
    ``now``: Unix seconds to judge the validity period at (default: this machine's clock, or
    the chain's when it is ahead: a credential starts at its block's time), with ``leeway``
    seconds of clock difference allowed.
    """
    checks = _Checks()
    if now is None:
        now = int(time.time())
        with contextlib.suppress(Exception):  # the node is not answering: the status check will say so
            now = max(now, ledger.chain_time())

    # format: a compact JWS of an Open Badges 3.0 credential, as this issuer makes them
    try:
        header, payload = _unverified(token)
    except ValueError as exc:
        checks.add("format", "failed", str(exc))
        return checks.result(None)
    problem = _format_problem(header, payload)
    status: BadgeStatus | None = None
    if problem is None:
        try:
            status = BadgeStatus.from_entry(payload.get("credentialStatus"))
        except ValueError as exc:
            problem = str(exc)
    checks.add(
        "format",
        "failed" if problem else "passed",
        problem or f"an Open Badges 3.0 credential as a VC-JWT ({ALGORITHM}, typ {JWT_TYPE})",
    )

    # signature: by a published key of the issuer, chosen by kid (the header's jwk is not believed)
    keys = key_set(issuer_keys)
    kid = header.get("kid")
    key = keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        checks.add("signature", "failed", f"no published issuer key has kid {kid!r} (published: {sorted(keys)})")
    else:
        try:
            jws.deserialize_compact(token, key, algorithms=[ALGORITHM])
        except Exception as exc:  # JoseError, or anything a malformed token provokes
            checks.add("signature", "failed", f"the signature does not verify with key {kid}: {exc}")
        else:
            checks.add("signature", "passed", f"{ALGORITHM} signature by the issuer's key {kid}")
    if checks.made["format"].outcome == "failed":
        return checks.result(payload)

    # issuer: the JWT's iss mirrors the credential's issuer, and is the one expected
    issuer = payload["issuer"]
    issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
    if not isinstance(issuer_id, str) or payload.get("iss") != issuer_id:
        checks.add("issuer", "failed", f"iss {payload.get('iss')!r} does not match issuer.id {issuer_id!r}")
    elif expected_issuer is not None and issuer_id != expected_issuer:
        checks.add("issuer", "failed", f"issued by {issuer_id}, not by {expected_issuer}")
    else:
        checks.add("issuer", "passed", f"issued by {issuer_id}")

    # subject: the holder named by the subject's did:pkh is the one the status entry names
    assert status is not None
    subject = payload["credentialSubject"]
    holder = parse_did_pkh(subject.get("id"))
    if holder is None:
        checks.add("subject", "failed", f"credentialSubject.id {subject.get('id')!r} is not a did:pkh on an EVM chain")
    elif holder != (status.chain_id, status.holder):
        checks.add(
            "subject",
            "failed",
            f"credentialSubject.id {subject.get('id')} is not the status holder "
            f"{did_pkh(status.chain_id, status.holder)}",
        )
    elif payload.get("sub") != subject.get("id") or payload.get("jti") != payload.get("id"):
        checks.add("subject", "failed", "the JWT's sub/jti do not mirror credentialSubject.id / id")
    else:
        checks.add("subject", "passed", f"held by {status.holder} on chain {status.chain_id}")

    # validity period: validFrom (= nbf) reached, validUntil (= exp) not passed
    valid_from, valid_until = _parse_time(payload.get("validFrom")), _parse_time(payload.get("validUntil"))
    if valid_from is None or payload.get("nbf") != valid_from:
        checks.add("validity_period", "failed", "validFrom is not a dateTime with a zone mirrored by nbf")
    elif valid_from > now + leeway:
        checks.add("validity_period", "failed", f"not valid before {payload['validFrom']}")
    elif "validUntil" in payload and (valid_until is None or payload.get("exp") != valid_until):
        checks.add("validity_period", "failed", "validUntil is not a dateTime with a zone mirrored by exp")
    elif valid_until is not None and valid_until < now - leeway:
        checks.add("validity_period", "failed", f"expired at {payload['validUntil']}")
    else:
        until = f" until {payload['validUntil']}" if valid_until is not None else ""
        checks.add("validity_period", "passed", f"valid from {payload['validFrom']}{until}")

    if checks.failed():
        checks.add("status", "unknown", "not checked: the credential is invalid")
        return checks.result(payload, status)

    checks.add(*_status_check(ledger, status))
    return checks.result(payload, status)


def _status_check(ledger: Ledger, status: BadgeStatus) -> tuple[str, Literal["passed", "failed", "unknown"], str]:
    """Asks the chain. Anything that stops the question leaves the status unknown, never
    passed."""
    where = f"badge {status.token_id} of {status.holder} on contract {status.contract} (chain {status.chain_id})"
    try:
        if ledger.chain_id != status.chain_id:
            return "status", "unknown", f"the node is chain {ledger.chain_id}, the {where} is not on it"
        if to_checksum_address(ledger.deployment.badges_address) != status.contract:
            return (
                "status",
                "unknown",
                f"this node's badges contract is {ledger.deployment.badges_address}; ask a node of the "
                f"deployment with {status.contract}",
            )
        if ledger.is_badge_revoked(status.token_id, status.holder):
            return "status", "failed", f"the {where} was revoked (isRevoked)"
        if not ledger.has_badge(status.token_id, status.holder):
            return "status", "failed", f"the {where} is no longer held (hasBadge is false)"
    except Exception as exc:  # the node is down, slow or answers nonsense: unknown, never valid
        return "status", "unknown", f"the chain could not be asked about the {where}: {exc}"
    return "status", "passed", f"the {where} is held and not revoked"
