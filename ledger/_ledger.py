"""The ledger's entry point: one object bound to a Web3, a deployment and a signing account."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Sequence
from functools import cache, cached_property
from importlib import resources
from typing import Any, Literal

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.contract import Contract
from web3.exceptions import BlockNotFound, TransactionNotFound
from web3.logs import DISCARD
from web3.types import EventData, TxReceipt

from ._transactions import TransactionSender
from .deployment import Deployment
from .errors import AccessDenied, DeploymentError, InvalidInput, RevertDecoder
from .records import (
    ActivityAward,
    ActivityRecord,
    BadgeRecord,
    CityEvent,
    HistoryEntry,
    Metrics,
    OnChainRef,
    Redemption,
    RedemptionConsent,
    Reversal,
    Role,
    SignedVoucher,
    TxResult,
    Venue,
    checksum,
)

__all__ = ["Finality", "Ledger", "load_artifact"]

Finality = Literal["pending", "confirmed", "final"]

#: Records per transaction in batch calls: far inside a 30M block at under 30,000 gas each.
DEFAULT_CHUNK = 200
_ZERO = "0x0000000000000000000000000000000000000000"
_GAS_SINGLE = 400_000
_GAS_DEPLOY = 6_000_000


@cache
def load_artifact(name: str) -> dict[str, Any]:
    """A compiled contract's artifact, shipped as package data (no Node.js at run time)."""
    text = resources.files("ledger").joinpath("artifacts", f"{name}.json").read_text()
    return json.loads(text)  # type: ignore[no-any-return]


def _batch_budget(records: int) -> int:
    return 200_000 + 60_000 * records


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Ledger:
    """Every action and query on the city's points and badges.

    Writes are signed by ``account`` (the city's operating key); reads need no key. Reads that
    return records rebuild them from the contracts' events, with the on-chain reference of each.
    """

    def __init__(
        self,
        w3: Web3,
        deployment: Deployment,
        account: LocalAccount,
        *,
        confirmations: int = 0,
        **sender_options: Any,
    ) -> None:
        chain_id = w3.eth.chain_id
        if chain_id != deployment.chain_id:
            raise DeploymentError(f"deployment is for chain {deployment.chain_id}, node is chain {chain_id}")
        self.w3 = w3
        self.deployment = deployment
        #: Blocks that must follow a record's block before it is reported final.
        self.confirmations = confirmations
        self.points: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(deployment.points_address), abi=load_artifact("CivicPoints")["abi"]
        )
        self.badges: Contract = w3.eth.contract(
            address=Web3.to_checksum_address(deployment.badges_address), abi=load_artifact("CivicBadges")["abi"]
        )
        for contract in (self.points, self.badges):
            if not w3.eth.get_code(contract.address):
                raise DeploymentError(f"no contract code at {contract.address} on chain {chain_id}")
        self.tx = TransactionSender(w3, account, _decoder(), **sender_options)

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(
        cls,
        w3: Web3,
        account: LocalAccount,
        *,
        max_points_per_award: int = 1_000,
        daily_cap: int = 3_000,
        name: str = "City ESG Points",
        symbol: str = "ESG",
        operators: Iterable[str] = (),
        confirmations: int = 0,
        **sender_options: Any,
    ) -> Ledger:
        """Deploys both contracts with ``account`` as admin and grants the operating roles
        (minter, issuer, redeemer, pauser) to ``account`` and each of ``operators``."""
        sender = TransactionSender(w3, account, _decoder(), **sender_options)
        points_art, badges_art = load_artifact("CivicPoints"), load_artifact("CivicBadges")
        points_receipt = sender.send(
            w3.eth.contract(abi=points_art["abi"], bytecode=points_art["bytecode"])
            .constructor(name, symbol, account.address, max_points_per_award, daily_cap)
            .build_transaction({"from": account.address, "gas": _GAS_DEPLOY}),
            budget=_GAS_DEPLOY,
        )
        badges_receipt = sender.send(
            w3.eth.contract(abi=badges_art["abi"], bytecode=badges_art["bytecode"])
            .constructor(account.address)
            .build_transaction({"from": account.address, "gas": _GAS_DEPLOY}),
            budget=_GAS_DEPLOY,
        )
        deployment = Deployment(
            chain_id=sender.chain_id,
            points_address=str(points_receipt["contractAddress"]),
            badges_address=str(badges_receipt["contractAddress"]),
            block_number=int(points_receipt["blockNumber"]),
            deployer=str(account.address),
            source_hash=str(points_art["sourceHash"]),
            points_tx=points_receipt["transactionHash"].to_0x_hex(),
            badges_tx=badges_receipt["transactionHash"].to_0x_hex(),
        )
        ledger = cls(w3, deployment, account, confirmations=confirmations, **sender_options)
        ledger.tx = sender  # keep the nonce counter that deployed
        for holder in [str(account.address), *operators]:
            for role in (Role.MINTER, Role.ISSUER, Role.REDEEMER, Role.PAUSER):
                ledger.grant_role(role, holder)
        return ledger

    # ------------------------------------------------------------------ helpers

    def _send(self, call: Any, budget: int = _GAS_SINGLE, records: int = 1) -> TxResult:
        receipt = self.tx.send(call.build_transaction({"from": self.tx.address, "gas": budget}), budget=budget)
        return _result(receipt, records)

    def _ref(self, log: EventData) -> OnChainRef:
        return OnChainRef(
            chain_id=self.deployment.chain_id,
            contract=str(log["address"]),
            tx_hash=log["transactionHash"].to_0x_hex(),
            block_number=int(log["blockNumber"]),
            log_index=int(log["logIndex"]),
        )

    def _call(self, call: Any) -> Any:
        """A contract view, with reverts and node failures translated into ledger errors."""
        try:
            return call.call()
        except Exception as exc:
            raise self.tx.translate(exc) from exc

    def _logs(self, contract: Contract, event: str, **filters: Any) -> list[EventData]:
        try:
            return list(
                getattr(contract.events, event).get_logs(
                    argument_filters=filters or None, from_block=self.deployment.block_number, to_block="latest"
                )
            )
        except Exception as exc:
            raise self.tx.translate(exc) from exc

    @cached_property
    def _domains(self) -> dict[str, dict[str, Any]]:
        """The EIP-712 domains, read from the contracts themselves (ERC-5267)."""
        domains = {}
        for key, contract in (("points", self.points), ("badges", self.badges)):
            _, name, version, chain_id, verifying, _, _ = self._call(contract.functions.eip712Domain())
            domains[key] = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
        return domains

    # ------------------------------------------------------------------ points

    def award_points(self, award: ActivityAward) -> TxResult:
        """Awards points for one activity."""
        return self._send(self.points.functions.awardPoints(award.as_tuple()))

    def award_points_batch(self, awards: Sequence[ActivityAward], chunk_size: int = DEFAULT_CHUNK) -> list[TxResult]:
        """Awards many activities, ``chunk_size`` per transaction; each chunk is all or none."""
        if not awards:
            raise InvalidInput("a batch needs at least one award")
        ids = [a.activity_id for a in awards]
        if len(set(ids)) != len(ids):
            raise InvalidInput("a batch lists the same activity id twice")
        return [
            self._send(
                self.points.functions.awardPointsBatch([a.as_tuple() for a in chunk]),
                _batch_budget(len(chunk)),
                len(chunk),
            )
            for chunk in _chunks(awards, chunk_size)
        ]

    def redeem(self, citizen: LocalAccount, points: int, reward_id: int) -> TxResult:
        """A citizen spends their own points, from their own account (which pays the gas)."""
        own = TransactionSender(self.w3, citizen, _decoder())
        receipt = own.send(
            self.points.functions.redeem(points, reward_id).build_transaction(
                {"from": citizen.address, "gas": _GAS_SINGLE}
            ),
            budget=_GAS_SINGLE,
        )
        return _result(receipt, 1)

    def consent_nonce(self, citizen: str) -> int:
        """The nonce the citizen's next redemption consent must carry."""
        return int(self._call(self.points.functions.consentNonce(checksum(citizen, "citizen"))))

    def redemption_typed_data(self, citizen: str, points: int, reward_id: int, deadline: int) -> dict[str, Any]:
        """The EIP-712 document a citizen signs to consent to a redemption (for wallets)."""
        citizen = checksum(citizen, "citizen")
        return {
            "types": {
                "EIP712Domain": [
                    {"name": "name", "type": "string"},
                    {"name": "version", "type": "string"},
                    {"name": "chainId", "type": "uint256"},
                    {"name": "verifyingContract", "type": "address"},
                ],
                "Redemption": [
                    {"name": "citizen", "type": "address"},
                    {"name": "points", "type": "uint64"},
                    {"name": "rewardId", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Redemption",
            "domain": self._domains["points"],
            "message": {
                "citizen": citizen,
                "points": points,
                "rewardId": reward_id,
                "nonce": self.consent_nonce(citizen),
                "deadline": deadline,
            },
        }

    def sign_redemption(
        self, citizen: LocalAccount, points: int, reward_id: int, deadline: int | None = None
    ) -> RedemptionConsent:
        """The citizen's EIP-712 consent to spend ``points`` on ``reward_id`` (signed locally)."""
        deadline = deadline if deadline is not None else self.chain_time() + 3600
        typed = self.redemption_typed_data(citizen.address, points, reward_id, deadline)
        signature = bytes(citizen.sign_message(encode_typed_data(full_message=typed)).signature)
        nonce = int(typed["message"]["nonce"])
        return RedemptionConsent(str(citizen.address), points, reward_id, nonce, deadline, signature)

    def redeem_with_consent(self, consent: RedemptionConsent) -> TxResult:
        """Relays a citizen's signed consent; the city pays the gas. Needs the redeemer role."""
        return self._send(
            self.points.functions.redeemWithConsent(
                consent.citizen, consent.points, consent.reward_id, consent.deadline, consent.signature
            )
        )

    def reverse_award(self, activity_id: int, reason_code: int) -> TxResult:
        """Reverses a wrongful award; the amount and citizen come from the original record."""
        record = self.activity(activity_id)
        if record is None:
            raise InvalidInput(f"activity {activity_id} has no award on-chain")
        return self._send(self.points.functions.reverseAward(activity_id, record.citizen, record.points, reason_code))

    def set_limits(self, max_points_per_award: int, daily_cap: int) -> TxResult:
        return self._send(self.points.functions.setLimits(max_points_per_award, daily_cap))

    def set_activity_kind(self, kind: int, enabled: bool, label: str) -> TxResult:
        return self._send(self.points.functions.setActivityKind(kind, enabled, label))

    # ------------------------------------------------------------------ badges

    def create_event(
        self, venue: Venue, claim_start: int, claim_end: int, capacity: int, uri: str
    ) -> tuple[int, TxResult]:
        """Registers a city event; returns its id (from the EventCreated log) and the receipt."""
        receipt = self.tx.send(
            self.badges.functions.createEvent(int(venue), claim_start, claim_end, capacity, uri).build_transaction(
                {"from": self.tx.address, "gas": _GAS_SINGLE}
            ),
            budget=_GAS_SINGLE,
        )
        (created,) = self.badges.events.EventCreated().process_receipt(receipt, errors=DISCARD)
        return int(created["args"]["eventId"]), _result(receipt, 1)

    def issue_badge(self, event_id: int, attendee: str) -> TxResult:
        return self._send(self.badges.functions.issueBadge(event_id, checksum(attendee, "attendee")))

    def issue_badges(self, event_id: int, attendees: Sequence[str], chunk_size: int = DEFAULT_CHUNK) -> list[TxResult]:
        """Issues the event's badge to many attendees, ``chunk_size`` per transaction."""
        addresses = [checksum(a, "attendee") for a in attendees]
        if not addresses:
            raise InvalidInput("a batch needs at least one attendee")
        if len(set(addresses)) != len(addresses):
            raise InvalidInput("a batch lists the same attendee twice")
        return [
            self._send(self.badges.functions.issueBadges(event_id, list(chunk)), _batch_budget(len(chunk)), len(chunk))
            for chunk in _chunks(addresses, chunk_size)
        ]

    def sign_voucher(
        self, event_id: int, attendee: str, *, deadline: int | None = None, nonce: int | None = None
    ) -> SignedVoucher:
        """An EIP-712 claim voucher signed by this ledger's key (which must hold the issuer role).
        The nonce is random (256 bits) unless given, so vouchers cannot be guessed."""
        attendee = checksum(attendee, "attendee")
        if not self.has_role(Role.ISSUER, self.tx.address):
            raise AccessDenied(f"{self.tx.address} lacks the issuer role: its vouchers would be refused")
        deadline = deadline if deadline is not None else self.chain_time() + 600
        nonce = nonce if nonce is not None else secrets.randbits(256)
        types = {
            "Voucher": [
                {"name": "eventId", "type": "uint256"},
                {"name": "attendee", "type": "address"},
                {"name": "nonce", "type": "uint256"},
                {"name": "deadline", "type": "uint256"},
            ]
        }
        message = {"eventId": event_id, "attendee": attendee, "nonce": nonce, "deadline": deadline}
        signable = encode_typed_data(self._domains["badges"], types, message)
        signature = bytes(self.tx.account.sign_message(signable).signature)
        return SignedVoucher(event_id, attendee, nonce, deadline, signature, self.tx.address)

    def claim_badge(self, voucher: SignedVoucher) -> TxResult:
        """Submits a voucher; the badge goes to ``voucher.attendee`` whoever relays it."""
        return self._send(self.badges.functions.claimBadge(voucher.as_tuple(), voucher.signature))

    def revoke_badge(self, event_id: int, attendee: str, reason_code: int) -> TxResult:
        return self._send(self.badges.functions.revokeBadge(event_id, checksum(attendee, "attendee"), reason_code))

    # ------------------------------------------------------------------ roles and pausing

    def grant_role(self, role: Role, account: str) -> list[TxResult]:
        account = checksum(account, "account")
        return [self._send(c.functions.grantRole(role.role_id, account)) for c in self._role_contracts(role)]

    def revoke_role(self, role: Role, account: str) -> list[TxResult]:
        account = checksum(account, "account")
        return [self._send(c.functions.revokeRole(role.role_id, account)) for c in self._role_contracts(role)]

    def has_role(self, role: Role, account: str) -> bool:
        account = checksum(account, "account")
        return all(self._call(c.functions.hasRole(role.role_id, account)) for c in self._role_contracts(role))

    def pause(self) -> list[TxResult]:
        return [self._send(c.functions.pause()) for c in (self.points, self.badges)]

    def unpause(self) -> list[TxResult]:
        return [self._send(c.functions.unpause()) for c in (self.points, self.badges)]

    def _role_contracts(self, role: Role) -> list[Contract]:
        return [self.points if name == "points" else self.badges for name in role.contracts]

    # ------------------------------------------------------------------ finality and the event feed

    def finality(self, tx_hash: str) -> Finality:
        """``pending`` while the transaction has no receipt on the canonical chain (not yet mined,
        or dropped by a reorganisation), ``confirmed`` once mined, ``final`` once
        ``confirmations`` blocks follow it (or the node's finalized block covers it)."""
        try:
            receipt = self.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return "pending"
        except Exception as exc:
            raise self.tx.translate(exc) from exc
        block = int(receipt["blockNumber"])
        return "final" if self.final_block() >= block else "confirmed"

    def final_block(self) -> int:
        """The highest block this ledger treats as final."""
        try:
            latest = int(self.w3.eth.block_number)
        except Exception as exc:
            raise self.tx.translate(exc) from exc
        return latest - self.confirmations

    def block_hash(self, number: int) -> str | None:
        """The canonical hash of block ``number``, or None beyond the head."""
        try:
            block = self.w3.eth.get_block(number)
        except BlockNotFound:
            return None
        except Exception as exc:
            raise self.tx.translate(exc) from exc
        return block["hash"].to_0x_hex()

    def head(self) -> int:
        try:
            return int(self.w3.eth.block_number)
        except Exception as exc:
            raise self.tx.translate(exc) from exc

    def events_between(self, from_block: int, to_block: int) -> list[EventData]:
        """Every event of both contracts in the block range, decoded, in chain order."""
        try:
            raw = self.w3.eth.get_logs(
                {
                    "address": [self.points.address, self.badges.address],
                    "fromBlock": from_block,
                    "toBlock": to_block,
                }
            )
        except Exception as exc:
            raise self.tx.translate(exc) from exc
        decoded = []
        for log in raw:
            contract = self.points if log["address"] == self.points.address else self.badges
            event = self._event_by_topic(contract).get(bytes(log["topics"][0]))
            if event is not None:
                decoded.append(event.process_log(log))
        return sorted(decoded, key=lambda e: (e["blockNumber"], e["logIndex"]))

    @cache  # noqa: B019 - one ledger per process; the map is small
    def _event_by_topic(self, contract: Contract) -> dict[bytes, Any]:
        found = {}
        abi: list[dict[str, Any]] = list(contract.abi)  # type: ignore[arg-type]
        for item in abi:
            if item.get("type") == "event":
                signature = f"{item['name']}({','.join(i['type'] for i in item['inputs'])})"
                found[keccak(text=signature)] = getattr(contract.events, item["name"])()
        return found

    # ------------------------------------------------------------------ queries

    def chain_time(self) -> int:
        return int(self.w3.eth.get_block("latest")["timestamp"])

    def balance_of(self, citizen: str) -> int:
        return int(self._call(self.points.functions.balanceOf(checksum(citizen, "citizen"))))

    def total_supply(self) -> int:
        return int(self._call(self.points.functions.totalSupply()))

    def limits(self) -> tuple[int, int]:
        max_award, cap = self._call(self.points.functions.limits())
        return int(max_award), int(cap)

    def is_paused(self) -> bool:
        return bool(self._call(self.points.functions.paused()))

    def activity_status(self, activity_id: int) -> tuple[bool, bool]:
        """``(awarded, reversed)`` for an activity id, from contract state."""
        awarded, reversed_ = self._call(self.points.functions.activityStatus(activity_id))
        return bool(awarded), bool(reversed_)

    def activity(self, activity_id: int) -> ActivityRecord | None:
        """The award of ``activity_id`` with its reversal, if any, rebuilt from events."""
        logs = self._logs(self.points, "ActivityRecorded", activityId=activity_id)
        if not logs:
            return None
        reversals = self._logs(self.points, "AwardReversed", activityId=activity_id)
        return self._activity_record(logs[0], reversals[0] if reversals else None)

    def _activity_record(self, log: EventData, reversal: EventData | None) -> ActivityRecord:
        args = log["args"]
        return ActivityRecord(
            activity_id=int(args["activityId"]),
            citizen=str(args["citizen"]),
            points=int(args["points"]),
            kind=int(args["kind"]),
            metrics=Metrics.unpack(int(args["metrics"])),
            evidence_hash=bytes(args["evidenceHash"]),
            ref=self._ref(log),
            reversal=None
            if reversal is None
            else Reversal(int(reversal["args"]["points"]), int(reversal["args"]["reasonCode"]), self._ref(reversal)),
        )

    def activities_of(self, citizen: str) -> list[ActivityRecord]:
        citizen = checksum(citizen, "citizen")
        reversals = {
            int(log["args"]["activityId"]): log for log in self._logs(self.points, "AwardReversed", citizen=citizen)
        }
        return [
            self._activity_record(log, reversals.get(int(log["args"]["activityId"])))
            for log in self._logs(self.points, "ActivityRecorded", citizen=citizen)
        ]

    def redemptions_of(self, citizen: str) -> list[Redemption]:
        citizen = checksum(citizen, "citizen")
        return [
            Redemption(
                citizen=str(log["args"]["citizen"]),
                reward_id=int(log["args"]["rewardId"]),
                points=int(log["args"]["points"]),
                relayer=str(log["args"]["relayer"]),
                ref=self._ref(log),
            )
            for log in self._logs(self.points, "PointsRedeemed", citizen=citizen)
        ]

    def city_event(self, event_id: int) -> CityEvent:
        stored = self._call(self.badges.functions.cityEvent(event_id))
        claim_start, claim_end, capacity, attendees, venue, _ = stored
        uri = self._call(self.badges.functions.uri(event_id))
        return CityEvent(event_id, Venue(venue), claim_start, claim_end, capacity, attendees, uri)

    def event_count(self) -> int:
        return int(self._call(self.badges.functions.eventCount()))

    def _badge_holdings(self, logs: Iterable[EventData]) -> list[BadgeRecord]:
        """Badges currently held, replaying TransferSingle mints and burns in chain order."""
        held: dict[tuple[int, str], BadgeRecord] = {}
        for log in sorted(logs, key=lambda log: (log["blockNumber"], log["logIndex"])):
            args = log["args"]
            event_id = int(args["id"])
            if args["from"] == _ZERO:
                held[(event_id, str(args["to"]))] = BadgeRecord(event_id, str(args["to"]), self._ref(log))
            else:
                held.pop((event_id, str(args["from"])), None)
        return list(held.values())

    def badges_of(self, citizen: str) -> list[BadgeRecord]:
        """The badges ``citizen`` holds now, each with where it was issued."""
        citizen = checksum(citizen, "citizen")
        minted = self._logs(self.badges, "TransferSingle", to=citizen)
        burned = self._logs(self.badges, "TransferSingle", **{"from": citizen})
        return self._badge_holdings([*minted, *burned])

    def attendees_of(self, event_id: int) -> list[BadgeRecord]:
        """Who holds the badge of ``event_id`` now (the token id is not an indexed topic)."""
        logs = [log for log in self._logs(self.badges, "TransferSingle") if int(log["args"]["id"]) == event_id]
        return self._badge_holdings(logs)

    def has_badge(self, event_id: int, attendee: str) -> bool:
        return bool(self._call(self.badges.functions.hasBadge(event_id, checksum(attendee, "attendee"))))

    def history(self, citizen: str) -> list[HistoryEntry]:
        """Every on-chain record touching ``citizen``, oldest first."""
        citizen = checksum(citizen, "citizen")
        entries: list[HistoryEntry] = []
        for log in self._logs(self.points, "ActivityRecorded", citizen=citizen):
            a = log["args"]
            entries.append(HistoryEntry("award", self._ref(log), int(a["points"]), activity_id=int(a["activityId"])))
        for log in self._logs(self.points, "AwardReversed", citizen=citizen):
            a = log["args"]
            entries.append(
                HistoryEntry(
                    "reversal",
                    self._ref(log),
                    -int(a["points"]),
                    activity_id=int(a["activityId"]),
                    reason_code=int(a["reasonCode"]),
                )
            )
        for log in self._logs(self.points, "PointsRedeemed", citizen=citizen):
            a = log["args"]
            entries.append(HistoryEntry("redemption", self._ref(log), -int(a["points"]), reward_id=int(a["rewardId"])))
        for log in self._logs(self.badges, "TransferSingle", to=citizen):
            entries.append(HistoryEntry("badge_issued", self._ref(log), event_id=int(log["args"]["id"])))
        for log in self._logs(self.badges, "BadgeRevoked", attendee=citizen):
            a = log["args"]
            entries.append(
                HistoryEntry(
                    "badge_revoked", self._ref(log), event_id=int(a["eventId"]), reason_code=int(a["reasonCode"])
                )
            )
        return sorted(entries, key=lambda e: (e.ref.block_number, e.ref.log_index))


def _result(receipt: TxReceipt, records: int) -> TxResult:
    return TxResult(
        tx_hash=receipt["transactionHash"].to_0x_hex(),
        block_number=int(receipt["blockNumber"]),
        gas_used=int(receipt["gasUsed"]),
        records=records,
    )


@cache
def _decoder() -> RevertDecoder:
    return RevertDecoder([load_artifact("CivicPoints")["abi"], load_artifact("CivicBadges")["abi"]])


def new_citizen_account() -> LocalAccount:
    """A fresh key pair, for a custodial address or a test citizen."""
    return Account.create()  # type: ignore[no-any-return]
