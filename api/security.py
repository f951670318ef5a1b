"""Tokens, encryption at rest, and Sign-In with Ethereum (EIP-4361) message checks."""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.fernet import Fernet, InvalidToken
from eth_account import Account
from eth_account.messages import encode_defunct

__all__ = [
    "Cipher",
    "SiweMessage",
    "hash_token",
    "new_token",
    "parse_siwe",
    "recover_signer",
]


def new_token(prefix: str) -> str:
    """A bearer token with 256 bits of entropy; only its hash is stored."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Cipher:
    """Authenticated encryption (Fernet) of personal data and custodial keys."""

    def __init__(self, key: str) -> None:
        self._fernet = Fernet(key.encode())

    def encrypt(self, plain: bytes) -> bytes:
        return self._fernet.encrypt(plain)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken as exc:
            raise ValueError("stored data cannot be decrypted with the configured CIVIC_DATA_KEY") from exc


@dataclass(frozen=True)
class SiweMessage:
    domain: str
    address: str
    uri: str
    version: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None
    not_before: datetime | None = None


_SIWE = re.compile(
    r"^(?P<domain>[^\s]+) wants you to sign in with your Ethereum account:\n"
    r"(?P<address>0x[0-9a-fA-F]{40})\n\n"
    r"(?:(?P<statement>[^\n]*)\n\n)?"
    r"URI: (?P<uri>[^\n]+)\n"
    r"Version: (?P<version>[^\n]+)\n"
    r"Chain ID: (?P<chain_id>[0-9]+)\n"
    r"Nonce: (?P<nonce>[A-Za-z0-9]{8,})\n"
    r"Issued At: (?P<issued_at>[^\n]+)"
    r"(?:\nExpiration Time: (?P<expiration_time>[^\n]+))?"
    # The remaining optional fields, in the order EIP-4361 fixes: an unknown or misplaced field
    # (say a second "Not Before" after "Request ID") must not slip past the checks unread.
    r"(?:\nNot Before: (?P<not_before>[^\n]+))?"
    r"(?:\nRequest ID: [^\n]*)?"
    r"(?:\nResources:(?:\n- [^\n]+)*)?"
    r"\n?$"
)


def _when(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        raise ValueError("timestamps must carry a time zone")
    return value


def parse_siwe(message: str) -> SiweMessage:
    """Parses an EIP-4361 message; raises ValueError naming what is wrong."""
    match = _SIWE.match(message)
    if match is None:
        raise ValueError("not an EIP-4361 Sign-In with Ethereum message")
    if match.group("version") != "1":
        raise ValueError("only version 1 of EIP-4361 messages is supported")
    expiration = match.group("expiration_time")
    not_before = match.group("not_before")
    return SiweMessage(
        domain=match.group("domain"),
        address=match.group("address"),
        uri=match.group("uri"),
        version=match.group("version"),
        chain_id=int(match.group("chain_id")),
        nonce=match.group("nonce"),
        issued_at=_when(match.group("issued_at")),
        expiration_time=_when(expiration) if expiration else None,
        not_before=_when(not_before) if not_before else None,
    )


def recover_signer(message: str, signature: str) -> str:
    """The address that signed ``message`` (EIP-191 personal_sign)."""
    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature))
    except Exception as exc:  # eth_account raises several kinds for malformed signatures
        raise ValueError("the signature is malformed") from exc


def keccak_hex(data: bytes) -> str:
    from eth_utils import keccak

    return "0x" + keccak(data).hex()
