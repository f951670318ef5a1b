"""Signatures citizens make off-chain: Sign-In with Ethereum (EIP-4361) and custodial keys.

EIP-4361 messages are parsed and their signatures checked by the ``siwe`` package (it pins an
older web3, so ``scripts/setup`` installs it without its dependencies; everything it uses of
web3 8 and eth-account 0.14 works). The service keeps the nonces and decides what to accept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from eth_account import Account
from eth_account.signers.local import LocalAccount

from .errors import InvalidInput

__all__ = ["CitizenKey", "SignIn", "SignInRefused", "citizen_key", "new_citizen_key", "verify_sign_in"]


class SignInRefused(InvalidInput):
    """A sign-in message that does not hold; ``reason`` says which check it failed:
    ``invalid`` (not EIP-4361), ``wrong_domain``, ``expired``, ``not_yet_valid`` or ``bad_signature``."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


#: A citizen's key pair (custodial citizens' keys are kept encrypted by the service).
CitizenKey = LocalAccount


def new_citizen_key() -> CitizenKey:
    return Account.create()  # type: ignore[no-any-return]


def citizen_key(private_key: bytes) -> CitizenKey:
    return Account.from_key(private_key)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class SignIn:
    """A verified EIP-4361 message: who signed it, for which site, chain and nonce."""

    address: str
    domain: str
    uri: str
    chain_id: int
    nonce: str
    issued_at: datetime
    expiration_time: datetime | None
    not_before: datetime | None


def _when(text: str | None) -> datetime | None:
    if not text:
        return None
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


def verify_sign_in(message: str, signature: str, *, domain: str, now: datetime) -> SignIn:
    """Parses ``message`` (EIP-4361) and checks its signature, domain and validity period at
    ``now``; raises :class:`InvalidInput` saying what is wrong."""
    import siwe

    try:
        parsed = siwe.SiweMessage.from_message(message)
    except Exception as exc:  # the grammar's errors are of several kinds
        raise SignInRefused("invalid", f"not an EIP-4361 Sign-In with Ethereum message: {exc}") from exc
    try:
        parsed.verify(signature, domain=domain, timestamp=now)
    except siwe.DomainMismatch as exc:
        raise SignInRefused("wrong_domain", f"the message is for {parsed.domain}, not {domain}") from exc
    except siwe.ExpiredMessage as exc:
        raise SignInRefused("expired", "the sign-in message has expired") from exc
    except siwe.NotYetValidMessage as exc:
        raise SignInRefused("not_yet_valid", "the sign-in message is not valid yet (Not Before)") from exc
    except siwe.VerificationError as exc:
        raise SignInRefused("bad_signature", "the signature is not from the address in the message") from exc
    except Exception as exc:  # malformed signatures raise from the signature library
        raise SignInRefused("invalid", f"the signature is malformed: {exc}") from exc
    return SignIn(
        address=str(parsed.address),
        domain=str(parsed.domain),
        uri=str(parsed.uri),
        chain_id=int(parsed.chain_id),
        nonce=str(parsed.nonce),
        issued_at=_when(parsed.issued_at) or now,
        expiration_time=_when(parsed.expiration_time),
        not_before=_when(parsed.not_before),
    )
