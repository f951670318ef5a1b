"""The ledger's one exception tree.

Every failure the ledger reports derives from :class:`LedgerError`. A contract revert arrives as a
subclass of :class:`ContractRevert` named after the contract's custom error, carrying the values
the contract reported (``exc.values``) — callers match on the class, never on message text.
Third-party exceptions (web3, eth-tester, requests) are translated here and chained ``from``.
"""

from __future__ import annotations

import ast
import re
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

__all__ = [
    "AccessDenied",
    "ActivityAlreadyReversed",
    "ActivityNotAwarded",
    "AlreadyHasBadge",
    "AwardTooLarge",
    "BadgeNonTransferable",
    "ChainUnavailable",
    "ClaimWindowClosed",
    "ConfigurationError",
    "ConsentExpired",
    "ContractRevert",
    "DailyCapExceeded",
    "DeploymentError",
    "DuplicateActivity",
    "EmptyBatch",
    "EventFull",
    "InsufficientPoints",
    "InvalidAttendee",
    "InvalidCitizen",
    "InvalidClaimWindow",
    "InvalidConsentSignature",
    "InvalidInput",
    "InvalidLimits",
    "InvalidSignature",
    "InvalidVoucherSigner",
    "LedgerError",
    "LedgerPaused",
    "NoBadge",
    "NotAuthorized",
    "PointsNonTransferable",
    "ReentrantCall",
    "RevertDecoder",
    "TransactionFailed",
    "UnknownActivityKind",
    "UnknownEvent",
    "VoucherAlreadyUsed",
    "VoucherExpired",
    "ZeroPointsAward",
]


class LedgerError(Exception):
    """Base class of every error the ledger raises."""


class ConfigurationError(LedgerError):
    """The ledger's settings are missing or inconsistent (keys, URLs, deployment record)."""


class DeploymentError(LedgerError):
    """The deployment record is missing, or does not match the chain it is used with."""


class ChainUnavailable(LedgerError):
    """The node could not be reached or did not answer."""


class InvalidInput(LedgerError, ValueError):
    """A value given to the ledger cannot be sent to the contracts (wrong range, bad address)."""


class AccessDenied(LedgerError):
    """The ledger's signing account lacks a role the action needs (checked before sending)."""


class TransactionFailed(LedgerError):
    """A transaction was mined with status 0 and no custom error could be decoded."""

    def __init__(self, tx_hash: str, reason: str = "reverted") -> None:
        self.tx_hash = tx_hash
        super().__init__(f"transaction {tx_hash} failed: {reason}")


class ContractRevert(LedgerError):
    """A contract rejected the call with a custom error; ``values`` holds its arguments."""

    def __init__(self, error_name: str, values: dict[str, Any]) -> None:
        self.name = error_name
        self.values = values
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        doc = (type(self).__doc__ or "").strip().splitlines()[0]
        super().__init__(f"{error_name}({shown}): {doc}")


_BY_ERROR: dict[str, type[ContractRevert]] = {}


def _register(cls: type[ContractRevert], *aliases: str) -> None:
    """Maps the contract error ``cls`` is named after, and any ``aliases``, to ``cls``."""
    for name in (cls.__name__, *aliases):
        _BY_ERROR[name] = cls


# Points
class PointsNonTransferable(ContractRevert):
    """Points cannot be transferred or approved."""


_register(PointsNonTransferable)


class DuplicateActivity(ContractRevert):
    """This activity id has already been awarded."""


_register(DuplicateActivity)


class UnknownActivityKind(ContractRevert):
    """The activity kind is not enabled."""


_register(UnknownActivityKind)


class ZeroPointsAward(ContractRevert):
    """An award must carry at least one point."""


_register(ZeroPointsAward)


class AwardTooLarge(ContractRevert):
    """The award is larger than the per-award maximum."""


_register(AwardTooLarge)


class DailyCapExceeded(ContractRevert):
    """The award would take the citizen past the daily cap."""


_register(DailyCapExceeded)


class InvalidCitizen(ContractRevert):
    """The zero address cannot hold points."""


_register(InvalidCitizen)


class EmptyBatch(ContractRevert):
    """A batch must hold at least one record."""


_register(EmptyBatch)


class InvalidLimits(ContractRevert):
    """Limits must be non-zero and the per-award maximum within the daily cap."""


_register(InvalidLimits)


class InsufficientPoints(ContractRevert):
    """The citizen holds fewer points than needed."""


_register(InsufficientPoints)


class ActivityNotAwarded(ContractRevert):
    """This activity id was never awarded."""


_register(ActivityNotAwarded)


class ActivityAlreadyReversed(ContractRevert):
    """This award has already been reversed."""


_register(ActivityAlreadyReversed)


class ConsentExpired(ContractRevert):
    """The citizen's signed consent is past its deadline."""


_register(ConsentExpired)


class InvalidConsentSignature(ContractRevert):
    """The consent was not signed by the citizen."""


_register(InvalidConsentSignature)


# Badges
class BadgeNonTransferable(ContractRevert):
    """Badges are soulbound and cannot be transferred."""


_register(BadgeNonTransferable)


class UnknownEvent(ContractRevert):
    """No city event has this id."""


_register(UnknownEvent)


class AlreadyHasBadge(ContractRevert):
    """The attendee already holds this event's badge."""


_register(AlreadyHasBadge)


class NoBadge(ContractRevert):
    """The attendee does not hold this event's badge."""


_register(NoBadge)


class EventFull(ContractRevert):
    """The event has reached its capacity."""


_register(EventFull)


class ClaimWindowClosed(ContractRevert):
    """Claims are accepted only inside the event's claim window."""


_register(ClaimWindowClosed)


class InvalidClaimWindow(ContractRevert):
    """The claim window ends before it starts."""


_register(InvalidClaimWindow)


class VoucherExpired(ContractRevert):
    """The claim voucher is past its deadline."""


_register(VoucherExpired)


class VoucherAlreadyUsed(ContractRevert):
    """The claim voucher has already been used."""


_register(VoucherAlreadyUsed)


class InvalidVoucherSigner(ContractRevert):
    """The voucher was not signed by a badge issuer."""


_register(InvalidVoucherSigner)


class InvalidAttendee(ContractRevert):
    """The zero address cannot hold a badge."""


_register(InvalidAttendee)


# OpenZeppelin
class NotAuthorized(ContractRevert):
    """The sending account lacks the role this action needs."""


_register(NotAuthorized, "AccessControlUnauthorizedAccount")


class LedgerPaused(ContractRevert):
    """Awards and issuance are paused."""


_register(LedgerPaused, "EnforcedPause")


class ReentrantCall(ContractRevert):
    """A re-entrant call was refused."""


_register(ReentrantCall, "ReentrancyGuardReentrantCall")


class InvalidSignature(ContractRevert):
    """The signature is malformed or malleable."""


_register(InvalidSignature, "ECDSAInvalidSignature", "ECDSAInvalidSignatureS", "ECDSAInvalidSignatureLength")

_EXECUTION_REVERTED = re.compile(r"execution reverted: (b['\"].*['\"])$", re.DOTALL)


def _camel_to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class RevertDecoder:
    """Turns revert data into the matching :class:`ContractRevert` using the contracts' ABIs."""

    def __init__(self, abis: list[list[dict[str, Any]]]) -> None:
        self._errors: dict[bytes, tuple[str, list[str], list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [i["type"] for i in item["inputs"]]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                names = [_camel_to_snake(i["name"]) for i in item["inputs"]]
                self._errors[selector] = (item["name"], types, names)

    def decode(self, data: bytes) -> ContractRevert | None:
        """The error for ``data`` (selector and arguments), or None if no ABI declares it."""
        entry = self._errors.get(bytes(data[:4]))
        if entry is None:
            return None
        name, types, names = entry
        raw = abi_decode(types, bytes(data[4:]))
        values = {
            n: to_checksum_address(v) if t == "address" else (v.hex() if isinstance(v, bytes) else v)
            for n, t, v in zip(names, types, raw, strict=True)
        }
        return _BY_ERROR.get(name, ContractRevert)(name, values)

    def from_exception(self, exc: BaseException) -> LedgerError | None:
        """The ledger error for a web3 or eth-tester exception, or None if it is not a revert."""
        data = revert_data(exc)
        if data is None:
            return None
        if len(data) >= 4:
            decoded = self.decode(data)
            if decoded is not None:
                return decoded
        return TransactionFailed("(not sent)", f"reverted with data 0x{data.hex()}")


def revert_data(exc: BaseException) -> bytes | None:
    """Revert data carried by an exception from web3 (any provider) or eth-tester."""
    data: Any = getattr(exc, "data", None)
    if data is None:
        response = getattr(exc, "rpc_response", None)
        if isinstance(response, dict):
            error = response.get("error") or {}
            data = error.get("data") if isinstance(error, dict) else None
            if isinstance(data, dict):
                data = data.get("data")
    if isinstance(data, str) and data.startswith("0x"):
        try:
            return bytes.fromhex(data[2:])
        except ValueError:
            return None
    if isinstance(data, bytes | bytearray):
        return bytes(data)
    # eth-tester reports reverts as TransactionFailed("execution reverted: b'...'").
    if type(exc).__name__ == "TransactionFailed" and exc.args and isinstance(exc.args[0], str):
        match = _EXECUTION_REVERTED.match(exc.args[0])
        if match:
            value = ast.literal_eval(match.group(1))
            return value if isinstance(value, bytes) else None
        if exc.args[0].startswith("execution reverted"):
            return b""
    return None
