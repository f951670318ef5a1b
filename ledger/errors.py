"""The ledger's one exception tree, and the one place third-party errors are translated.

Every failure the ledger reports derives from :class:`LedgerError`. A contract revert arrives as a
subclass of :class:`ContractRevert` named after the contract's custom error, carrying the values
the contract reported (``exc.values``): callers match on the class, never on message text. A class
declares the Solidity errors it stands for (``solidity=(...)``, its own name by default); no
registration list follows the classes. Third-party exceptions (web3, eth-tester, requests) become
ledger errors in :func:`translated` and are chained ``from`` the original.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from eth_abi import decode as abi_decode
from eth_utils import keccak, to_checksum_address

__all__ = [
    "AccessDenied",
    "ActivityAlreadyReversed",
    "ActivityIdNotIncreasing",
    "AlreadyAnchored",
    "AlreadyHasBadge",
    "AwardNotFound",
    "AwardTooLarge",
    "BadgeNonTransferable",
    "BadgeNotRevoked",
    "BadgeWasRevoked",
    "BadgesLinkInvalid",
    "ChainInUse",
    "ChainUnavailable",
    "ClaimWindowClosed",
    "ConfigurationError",
    "ConsentExpired",
    "ContractRevert",
    "DailyCapExceeded",
    "DeploymentError",
    "EmptyBatch",
    "EventAlreadyCreated",
    "EventFull",
    "InsufficientPoints",
    "InvalidAnchor",
    "InvalidArrayLength",
    "InvalidAttendee",
    "InvalidCitizen",
    "InvalidClaimWindow",
    "InvalidClientReference",
    "InvalidConsentSignature",
    "InvalidInput",
    "InvalidLimits",
    "InvalidRebinding",
    "InvalidReceiver",
    "InvalidSignature",
    "InvalidVoucherSigner",
    "LedgerError",
    "LedgerPaused",
    "MalformedAward",
    "NoBadge",
    "NotAuthorized",
    "NotPaused",
    "PointsNonTransferable",
    "RebindTargetHoldsBadges",
    "RebindingNotAllowed",
    "ReentrantCall",
    "RevertDecoder",
    "TransactionFailed",
    "UnknownActivityKind",
    "UnknownEvent",
    "VoucherAlreadyUsed",
    "VoucherExpired",
    "ZeroPointsAward",
    "translated",
]


class LedgerError(Exception):
    """Base class of every error the ledger raises."""


class ConfigurationError(LedgerError):
    """The ledger's settings are missing or inconsistent (keys, URLs, deployment record)."""


class ChainInUse(ConfigurationError):
    """The embedded chain is held by another process (one process owns its journal)."""


class DeploymentError(LedgerError):
    """The deployment record is missing, or does not match the chain it is used with."""


class ChainUnavailable(LedgerError):
    """The node could not be reached or did not answer."""


class InvalidInput(LedgerError, ValueError):
    """A value given to the ledger cannot be sent to the contracts (wrong range, bad address)."""


class AccessDenied(LedgerError):
    """The ledger's signing account lacks a role the action needs (checked before sending)."""


class TransactionFailed(LedgerError):
    """A transaction was mined with status 0, or refused, and no custom error could be decoded."""

    def __init__(self, tx_hash: str, reason: str = "reverted") -> None:
        self.tx_hash = tx_hash
        super().__init__(f"transaction {tx_hash} failed: {reason}")


class ContractRevert(LedgerError):
    """A contract rejected the call with a custom error; ``values`` holds its arguments.

    Subclasses name the Solidity errors they stand for in ``solidity`` (default: the class name).
    """

    solidity: ClassVar[tuple[str, ...]] = ()
    _by_error: ClassVar[dict[str, type[ContractRevert]]] = {}

    def __init_subclass__(cls, *, solidity: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.solidity = solidity or (cls.__name__,)
        for name in cls.solidity:
            ContractRevert._by_error[name] = cls

    def __init__(self, error_name: str, values: dict[str, Any]) -> None:
        self.name = error_name
        self.values = values
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        doc = (type(self).__doc__ or "").strip().splitlines()[0]
        super().__init__(f"{error_name}({shown}): {doc}")

    @classmethod
    def for_error(cls, name: str, values: dict[str, Any]) -> ContractRevert:
        return cls._by_error.get(name, ContractRevert)(name, values)


# Points
class PointsNonTransferable(ContractRevert):
    """Points cannot be transferred or approved."""


class ActivityIdNotIncreasing(ContractRevert):
    """Activity ids must increase: this id is not above the last one awarded."""


class MalformedAward(ContractRevert):
    """The packed award has non-zero reserved bits."""


class UnknownActivityKind(ContractRevert):
    """The activity kind is not enabled."""


class ZeroPointsAward(ContractRevert):
    """An award must carry at least one point."""


class AwardTooLarge(ContractRevert):
    """The award is larger than the per-award maximum."""


class DailyCapExceeded(ContractRevert):
    """The award would take the citizen past the daily cap."""


class InvalidCitizen(ContractRevert):
    """The zero address, or an address whose record was re-bound, cannot receive points."""


class EmptyBatch(ContractRevert):
    """A batch must hold at least one record."""


class InvalidLimits(ContractRevert):
    """Limits must be non-zero and the per-award maximum within the daily cap."""


class InsufficientPoints(ContractRevert):
    """The citizen holds fewer points than needed."""


class AwardNotFound(ContractRevert):
    """No recorded award matches the one given."""


class ActivityAlreadyReversed(ContractRevert):
    """This award has already been reversed."""


class ConsentExpired(ContractRevert):
    """The citizen's signed consent is past its deadline."""


class InvalidConsentSignature(ContractRevert):
    """The consent was not signed by the citizen."""


class InvalidRebinding(ContractRevert):
    """A re-binding needs a fresh target address that is not the source."""


class BadgesLinkInvalid(ContractRevert):
    """The badge contract is already linked, or not linked yet."""


# Badges
class BadgeNonTransferable(ContractRevert):
    """Badges are soulbound and cannot be transferred."""


class UnknownEvent(ContractRevert):
    """No city event has this id."""


class AlreadyHasBadge(ContractRevert):
    """The attendee already holds this event's badge."""


class BadgeWasRevoked(ContractRevert):
    """The attendee's badge for this event was revoked; only an explicit re-issue gives it back."""


class BadgeNotRevoked(ContractRevert):
    """The attendee's badge for this event was not revoked."""


class NoBadge(ContractRevert):
    """The attendee does not hold this event's badge."""


class EventFull(ContractRevert):
    """The event has reached its capacity."""


class ClaimWindowClosed(ContractRevert):
    """Claims are accepted only inside the event's claim window."""


class InvalidClaimWindow(ContractRevert):
    """The claim window ends before it starts."""


class EventAlreadyCreated(ContractRevert):
    """An event with this client reference exists already."""


class InvalidClientReference(ContractRevert):
    """A client reference must be non-zero."""


class VoucherExpired(ContractRevert):
    """The claim voucher is past its deadline."""


class VoucherAlreadyUsed(ContractRevert):
    """The claim voucher has already been used."""


class InvalidVoucherSigner(ContractRevert):
    """The voucher was not signed by a badge issuer."""


class InvalidAttendee(ContractRevert):
    """The zero address cannot hold a badge."""


class RebindTargetHoldsBadges(ContractRevert):
    """The re-binding's target already holds (or held) badges."""


class RebindingNotAllowed(ContractRevert):
    """Only the points contract moves badges, inside a citizen's re-binding."""


class InvalidReceiver(ContractRevert, solidity=("InvalidReceiver", "ERC1155InvalidReceiver")):
    """The attendee is a contract that does not accept ERC-1155 tokens."""


class InvalidArrayLength(ContractRevert, solidity=("InvalidArrayLength", "ERC1155InvalidArrayLength")):
    """The accounts and ids given are not of the same length."""


class NotPaused(ContractRevert, solidity=("NotPaused", "ExpectedPause")):
    """The contract is not paused."""


# Anchors
class InvalidAnchor(ContractRevert):
    """An anchor needs a non-zero root, at least one record and a period that does not end before it starts."""


class AlreadyAnchored(ContractRevert):
    """This root is anchored already."""


# OpenZeppelin
class NotAuthorized(ContractRevert, solidity=("NotAuthorized", "AccessControlUnauthorizedAccount")):
    """The sending account lacks the role this action needs."""


class LedgerPaused(ContractRevert, solidity=("LedgerPaused", "EnforcedPause")):
    """Awards, redemptions and issuance are paused."""


class ReentrantCall(ContractRevert, solidity=("ReentrantCall", "ReentrancyGuardReentrantCall")):
    """A re-entrant call was refused."""


class InvalidSignature(
    ContractRevert,
    solidity=("InvalidSignature", "ECDSAInvalidSignature", "ECDSAInvalidSignatureS", "ECDSAInvalidSignatureLength"),
):
    """The signature is malformed or malleable."""


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
        return ContractRevert.for_error(name, values)

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


@contextmanager
def translated(decoder: RevertDecoder, doing: str = "the node request") -> Iterator[None]:
    """Runs a block of node requests; whatever escapes it is a :class:`LedgerError`: a decoded
    revert, or :class:`ChainUnavailable` when the node could not answer. The one translation
    point of the ledger, as httpx maps its transport's exceptions."""
    try:
        yield
    except LedgerError:
        raise
    except Exception as exc:
        error = decoder.from_exception(exc)
        if error is None and not _from_the_node(exc):
            raise  # a defect in our own code, not the node's answer: let it show as one
        raise (error or ChainUnavailable(f"{doing} failed: {exc}")) from exc


#: Packages whose exceptions mean the node (or the way to it) failed, not our code.
_NODE_PACKAGES = {"web3", "eth_tester", "eth", "requests", "urllib3", "http", "socket", "ssl", "aiohttp"}


def _from_the_node(exc: BaseException) -> bool:
    return isinstance(exc, OSError | TimeoutError) or type(exc).__module__.split(".")[0] in _NODE_PACKAGES
