"""The one decoder of the contracts' logs into typed records (``ledger.records``).

Every read that turns logs into records goes through :class:`EventDecoder`: history and
verification, the indexer, proof files and the audit. Logs are taken as the node sends them
(JSON-RPC dicts with hex strings) or as web3 formats them (receipts), and decoded with the
contracts' ABIs; the two logs an award emits (``Transfer`` from zero, then ``ActivityRecorded``)
become one :class:`AwardRecorded`, a mint followed by ``BadgeClaimed`` one :class:`BadgeIssued`
with its voucher's issuer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak

from .records import (
    ZERO_ADDRESS,
    ActivityKindSet,
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgeReissued,
    BadgeRevoked,
    BadgesMoved,
    ChainRecord,
    CitizenRebound,
    EventCreated,
    LimitsChanged,
    Metrics,
    OnChainRef,
    PauseChanged,
    PointsRedeemed,
    PointsTransferred,
    RecordsAnchored,
    Role,
    RoleChanged,
    Venue,
    to_checksum,
)

__all__ = ["EventDecoder", "RawLog"]

_MASK32 = 2**32 - 1


@dataclass(frozen=True)
class RawLog:
    """A log in one shape, whatever the source."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    log_index: int

    @classmethod
    def of(cls, log: Mapping[str, Any]) -> RawLog:
        def hex_of(value: Any) -> str:
            return value if isinstance(value, str) else "0x" + bytes(value).hex()

        def raw(value: Any) -> bytes:
            return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)

        def number(value: Any) -> int:
            return int(value, 16) if isinstance(value, str) else int(value)

        return cls(
            address=to_checksum(log["address"]),
            topics=tuple(raw(t) for t in log["topics"]),
            data=raw(log["data"]),
            block_number=number(log["blockNumber"]),
            block_hash=hex_of(log["blockHash"]),
            tx_hash=hex_of(log["transactionHash"]),
            log_index=number(log["logIndex"]),
        )


@dataclass(frozen=True)
class _Decoded:
    name: str
    args: dict[str, Any]
    ref: OnChainRef


class EventDecoder:
    """Decodes logs of the deployment's contracts (``contracts`` maps name to address)."""

    def __init__(self, chain_id: int, contracts: Mapping[str, str], abis: Mapping[str, list[dict[str, Any]]]) -> None:
        self.chain_id = chain_id
        self._names: dict[str, str] = {str(to_checksum(a)): name for name, a in contracts.items()}
        self._events: dict[tuple[str, bytes], tuple[str, list[dict[str, Any]]]] = {}
        for name, address in contracts.items():
            for item in abis[name]:
                if item.get("type") != "event":
                    continue
                signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                self._events[(to_checksum(address), keccak(text=signature))] = (item["name"], item["inputs"])

    @property
    def addresses(self) -> list[str]:
        return list(self._names)

    def contract_name(self, address: str) -> str | None:
        return self._names.get(str(to_checksum(address)))

    def decode(self, logs: Iterable[Mapping[str, Any] | RawLog]) -> list[ChainRecord]:
        """Records for ``logs`` (in chain order), skipping logs of other contracts."""
        decoded = [
            d for d in (self._decode_one(log if isinstance(log, RawLog) else RawLog.of(log)) for log in logs) if d
        ]
        decoded.sort(key=lambda d: (d.ref.block_number, d.ref.log_index))
        records: list[ChainRecord] = []
        for i, item in enumerate(decoded):
            following = decoded[i + 1] if i + 1 < len(decoded) else None
            if following is not None and following.ref.tx_hash != item.ref.tx_hash:
                following = None
            record = self._record(item, following)
            if record is not None:
                records.append(record)
            if item.name == "Transfer":
                args = item.args
                records.append(PointsTransferred(item.ref, args["from"], args["to"], int(args["value"])))
        return records

    # ------------------------------------------------------------------ internals

    def _decode_one(self, log: RawLog) -> _Decoded | None:
        if not log.topics:
            return None
        known = self._events.get((log.address, log.topics[0]))
        if known is None:
            return None
        name, inputs = known
        ref = OnChainRef(self.chain_id, log.address, log.tx_hash, log.block_number, log.block_hash, log.log_index)
        if name == "Transfer":  # the commonest log: decoded by hand
            return _Decoded(
                name,
                {"from": _address(log.topics[1]), "to": _address(log.topics[2]), "value": int.from_bytes(log.data)},
                ref,
            )
        if name == "ActivityRecorded":
            return _Decoded(
                name, {"activity": int.from_bytes(log.data[:32]), "evidenceHash": "0x" + log.data[32:64].hex()}, ref
            )
        args: dict[str, Any] = {}
        topics = iter(log.topics[1:])
        plain = [i for i in inputs if not i["indexed"]]
        values = abi_decode([i["type"] for i in plain], log.data) if plain else ()
        for item in inputs:
            if item["indexed"]:
                (args[item["name"]],) = abi_decode([item["type"]], next(topics))
        for item, value in zip(plain, values, strict=True):
            args[item["name"]] = value
        for item in inputs:
            if item["type"] == "address":
                args[item["name"]] = to_checksum(args[item["name"]])
            elif item["type"] in ("bytes32", "bytes"):
                args[item["name"]] = "0x" + bytes(args[item["name"]]).hex()
        return _Decoded(name, args, ref)

    def _record(self, item: _Decoded, following: _Decoded | None) -> ChainRecord | None:
        a, ref = item.args, item.ref
        contract = self._names.get(ref.contract, "")
        match item.name:
            case "ActivityRecorded":
                return None  # folded into the Transfer before it
            case "Transfer" if a["from"] == ZERO_ADDRESS and following and following.name == "ActivityRecorded":
                body = int(following.args["activity"])
                return AwardRecorded(
                    following.ref,
                    activity_id=body >> 192,
                    citizen=a["to"],
                    points=int(a["value"]),
                    kind=(body >> 128) & 0xFF,
                    metrics=Metrics.unpack(body & (2**128 - 1)),
                    evidence_hash=following.args["evidenceHash"],
                )
            case "AwardReversed":
                return AwardReversed(ref, a["activityId"], a["citizen"], a["points"], a["reasonCode"])
            case "PointsRedeemed":
                return PointsRedeemed(ref, a["citizen"], a["rewardId"], a["points"], a["relayer"])
            case "CitizenRebound":
                return CitizenRebound(ref, a["from"], a["to"], a["reasonCode"])
            case "LimitsChanged":
                return LimitsChanged(ref, a["maxPointsPerAward"], a["dailyCap"])
            case "ActivityKindSet":
                return ActivityKindSet(ref, a["kind"], a["enabled"], a["label"])
            case "TransferSingle" if a["from"] == ZERO_ADDRESS:
                issuer = None
                if following is not None and following.name == "BadgeClaimed":
                    issuer = following.args["issuer"]
                return BadgeIssued(ref, a["id"], a["to"], a["operator"], issuer)
            case "TransferBatch":
                return BadgesMoved(ref, a["from"], a["to"], tuple(int(i) for i in a["ids"]))
            case "BadgeRevoked":
                return BadgeRevoked(ref, a["eventId"], a["attendee"], a["reasonCode"])
            case "BadgeReissued":
                return BadgeReissued(ref, a["eventId"], a["attendee"], a["reasonCode"])
            case "EventCreated":
                return EventCreated(
                    ref, a["eventId"], Venue(a["venue"]), a["claimStart"], a["claimEnd"], a["capacity"], a["clientRef"]
                )
            case "RoleGranted" | "RoleRevoked":
                role_id = bytes.fromhex(a["role"][2:])
                return RoleChanged(
                    ref,
                    contract,
                    Role.from_id(role_id),
                    a["role"],
                    a["account"],
                    item.name == "RoleGranted",
                    a["sender"],
                )
            case "Paused" | "Unpaused":
                return PauseChanged(ref, contract, item.name == "Paused", a["account"])
            case "RecordsAnchored":
                return RecordsAnchored(ref, a["root"], a["periodStart"], a["periodEnd"], a["records"])
        return None


def _address(topic: bytes) -> str:
    return to_checksum(topic[12:])
