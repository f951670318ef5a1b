"""The ledger's front door: one object bound to a chain, a deployment and a signing account.

Methods speak the city's words and take and return typed records (``ledger.records``); the Web3,
the contract objects and the transaction sender are private. Every write records its transaction
in the outbox before broadcasting it, under the ``intent`` the caller names, so a retry or a
restart can find the transaction instead of sending a second one (:meth:`Ledger.result_of`).
"""

from __future__ import annotations

import itertools
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_account.signers.local import LocalAccount
from eth_typing import HexStr
from eth_utils import keccak
from web3.types import TxParams, Wei

from . import merkle
from ._chain import Chain, Receipt, load_artifact
from ._events import EventDecoder
from ._reader import NodeReader
from ._transactions import Submitted, TransactionSender
from .deployment import Deployment
from .errors import AccessDenied, ChainUnavailable, ConfigurationError, DeploymentError, InvalidInput
from .outbox import Outbox, OutboxEntry
from .records import (
    ROLE_CONTRACTS,
    ActivityAward,
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgeReissued,
    BadgeRevoked,
    BadgesMoved,
    ChainRecord,
    CitizenRebound,
    CityEvent,
    EventCreated,
    Finality,
    PointsRedeemed,
    RebindingConsent,
    RedemptionConsent,
    Role,
    SignedVoucher,
    TxResult,
    Venue,
    checksum,
    finality,
)

__all__ = ["DEFAULT_CHUNK", "Ledger", "day_offset_of", "new_citizen_account"]

#: Records per transaction in batch calls: far inside a 30M block at under 30,000 gas each.
DEFAULT_CHUNK = 200
_GAS_SINGLE = 400_000
#: Selectors of the views the batched state read asks: ``balanceOf(address)`` and
#: ``hasBadge(uint256,address)``.
_BALANCE_OF = keccak(text="balanceOf(address)")[:4]
_HAS_BADGE = keccak(text="hasBadge(uint256,address)")[:4]
#: ``awardPointsBatch(Award[])``: its selector and argument type, for encoding large batches.
_AWARD_BATCH_TYPE = "(uint256,uint256,bytes32)[]"
_AWARD_BATCH_SELECTOR = keccak(text=f"awardPointsBatch({_AWARD_BATCH_TYPE})")[:4]
_GAS_DEPLOY = 8_000_000
#: Logs are read in block ranges of at most this many blocks (nodes cap eth_getLogs).
LOG_RANGE = 5_000


def _batch_budget(records: int) -> int:
    """Gas for a batch: a new holder's award or a first badge costs under 30,000 gas."""
    return 150_000 + 45_000 * records


def _chunks(items: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def day_offset_of(time_zone: str, when: datetime | None = None) -> int:
    """Seconds east of UTC of ``time_zone`` (its standard offset now, or at ``when``)."""
    try:
        zone = ZoneInfo(time_zone)
    except Exception as exc:
        raise ConfigurationError(f"unknown time zone {time_zone!r}") from exc
    offset = (when or datetime.now(zone)).astimezone(zone).utcoffset()
    assert offset is not None
    return int(offset.total_seconds())


def new_citizen_account() -> LocalAccount:
    """A fresh key pair, for a custodial address or a test citizen."""
    return Account.create()  # type: ignore[no-any-return]


class Ledger:
    """Every action and query on the city's points, badges and anchors.

    Writes are signed by ``account`` (the city's operating key); reads need no key.
    """

    def __init__(
        self,
        chain: Chain,
        deployment: Deployment,
        account: LocalAccount,
        *,
        confirmations: int = 0,
        outbox: Outbox | None = None,
        gas_strategy: str | None = None,
        receipt_timeout: float = 120.0,
        receipt_poll: float = 0.02,
        replace_after: float = 30.0,
    ) -> None:
        if chain.chain_id != deployment.chain_id:
            raise DeploymentError(f"deployment is for chain {deployment.chain_id}, node is chain {chain.chain_id}")
        self._chain = chain
        self.deployment = deployment
        #: Blocks that must follow a record's block before it is reported final.
        self.confirmations = confirmations
        self._points = chain.contract("CivicPoints", deployment.points_address)
        self._badges = chain.contract("CivicBadges", deployment.badges_address)
        self._anchors = chain.contract("CivicAnchors", deployment.anchors_address)
        for name, address in deployment.contracts.items():
            if not chain.code(address):
                raise DeploymentError(f"no {name} contract code at {address} on chain {chain.chain_id}")
        self._sender = TransactionSender(
            chain,
            account,
            outbox=outbox,
            gas_strategy=gas_strategy,
            receipt_timeout=receipt_timeout,
            receipt_poll=receipt_poll,
            replace_after=replace_after,
        )
        self._decoder = EventDecoder(
            chain.chain_id,
            deployment.contracts,
            {
                "points": load_artifact("CivicPoints")["abi"],
                "badges": load_artifact("CivicBadges")["abi"],
                "anchors": load_artifact("CivicAnchors")["abi"],
            },
        )
        self._domains: dict[str, dict[str, Any]] = {}
        self._issuer_checked: tuple[float, bool] | None = None

    # ------------------------------------------------------------------ identity

    @property
    def chain(self) -> Chain:
        """The connection (blocks, logs, development-chain helpers)."""
        return self._chain

    @property
    def chain_id(self) -> int:
        return self._chain.chain_id

    @property
    def address(self) -> str:
        """The city's operating key."""
        return self._sender.address

    @property
    def decoder(self) -> EventDecoder:
        return self._decoder

    # ------------------------------------------------------------------ deployment

    @classmethod
    def deploy(
        cls,
        chain: Chain,
        account: LocalAccount,
        *,
        max_points_per_award: int = 1_000,
        daily_cap: int = 3_000,
        time_zone: str = "Asia/Seoul",
        name: str = "City ESG Points",
        symbol: str = "ESG",
        badge_name: str = "City Event Badges",
        badge_symbol: str = "BADGE",
        metadata_base_url: str = "http://localhost:8000",
        operators: Iterable[str] = (),
        **options: Any,
    ) -> Ledger:
        """Deploys the three contracts with ``account`` as admin, links them, and grants the
        operating roles (minter, issuer, redeemer, pauser, anchor) to ``account`` and each of
        ``operators``. Badge metadata URIs point at ``metadata_base_url`` (the service)."""
        offset = day_offset_of(time_zone)
        sender = TransactionSender(chain, account, **_sender_options(options))
        base = metadata_base_url.rstrip("/")

        def deploy(artifact: str, *args: Any) -> Receipt:
            call = chain.contract(artifact).constructor(*args)
            return sender.send(_build(chain, call, account.address, _GAS_DEPLOY), budget=_GAS_DEPLOY)

        points = deploy("CivicPoints", name, symbol, account.address, max_points_per_award, daily_cap, offset)
        badges = deploy(
            "CivicBadges",
            account.address,
            points.contract_address,
            badge_name,
            badge_symbol,
            f"{base}/v1/badges/{{id}}.json",
            f"{base}/v1/badges/collection.json",
        )
        anchors = deploy("CivicAnchors", account.address)
        deployment = Deployment(
            chain_id=chain.chain_id,
            points_address=str(points.contract_address),
            badges_address=str(badges.contract_address),
            anchors_address=str(anchors.contract_address),
            block_number=points.block_number,
            deployer=str(account.address),
            source_hash=str(load_artifact("CivicPoints")["sourceHash"]),
            points_tx=points.tx_hash,
            badges_tx=badges.tx_hash,
            anchors_tx=anchors.tx_hash,
            time_zone=time_zone,
            day_offset_seconds=offset,
        )
        ledger = cls(chain, deployment, account, **options)
        ledger._sender = sender  # keep the nonce counter that deployed
        ledger._send(ledger._points.functions.linkBadges(deployment.badges_address))
        for holder in [str(account.address), *operators]:
            for role in (Role.MINTER, Role.ISSUER, Role.REDEEMER, Role.PAUSER, Role.ANCHOR):
                ledger.grant_role(role, holder)
        return ledger

    # ------------------------------------------------------------------ helpers

    def _send(self, call: Any, budget: int = _GAS_SINGLE, intent: str | None = None) -> TxResult:
        params = _build(self._chain, call, self.address, budget)
        return self._result(self._sender.send(params, budget=budget, intent=intent))

    def _result(self, receipt: Receipt) -> TxResult:
        return TxResult(
            tx_hash=receipt.tx_hash,
            block_number=receipt.block_number,
            gas_used=receipt.gas_used,
            records=tuple(self._decoder.decode(receipt.logs)),
        )

    def _call(self, contract: Any, function: str, *args: Any) -> Any:
        return self._chain.call(contract, function, *args)

    def _domain(self, key: str) -> dict[str, Any]:
        """An EIP-712 domain, read from the contract itself (ERC-5267)."""
        if key not in self._domains:
            contract = self._points if key == "points" else self._badges
            _, name, version, chain_id, verifying, _, _ = self._call(contract, "eip712Domain")
            self._domains[key] = {"name": name, "version": version, "chainId": chain_id, "verifyingContract": verifying}
        return self._domains[key]

    def _role_contracts(self, role: Role) -> list[Any]:
        return [self._contract(name) for name in ROLE_CONTRACTS[role]]

    def _contract(self, name: str) -> Any:
        try:
            return {"points": self._points, "badges": self._badges, "anchors": self._anchors}[name]
        except KeyError:
            raise InvalidInput(f"no contract named {name!r}: points, badges or anchors") from None

    # ------------------------------------------------------------------ points

    def max_batch(self) -> int:
        """The most awards or badges one transaction may carry inside the block gas limit."""
        return max(1, (self._sender._block_gas_limit * 9 // 10 - 150_000) // 45_000)

    def award_points(
        self, awards: Sequence[ActivityAward], *, chunk_size: int = DEFAULT_CHUNK, intent: str | None = None
    ) -> list[TxResult]:
        """Awards activities, ``chunk_size`` per transaction (each all or none), the chunks sent
        at consecutive nonces without waiting for each receipt in turn. Activity ids must
        increase, above :meth:`last_activity_id`."""
        return [self._await(s) for s in self.submit_awards(awards, chunk_size=chunk_size, intent=intent)]

    def submit_awards(
        self, awards: Sequence[ActivityAward], *, chunk_size: int = DEFAULT_CHUNK, intent: str | None = None
    ) -> list[Submitted]:
        """Signs, records and broadcasts the award transactions; :meth:`await_result` each."""
        size = max(1, min(chunk_size, self.max_batch()))
        return self.submit_award_batches([(intent, list(chunk)) for chunk in _chunks(awards, size)])

    def submit_award_batches(self, batches: Sequence[tuple[str | None, Sequence[ActivityAward]]]) -> list[Submitted]:
        """One award transaction per batch, each recorded under its own intent label, sent at
        consecutive nonces; only the first is checked before sending (the rest have its shape)."""
        awards = [a for _, batch in batches for a in batch]
        if not awards or any(not batch for _, batch in batches):
            raise InvalidInput("a batch needs at least one award")
        ids = [a.activity_id for a in awards]
        if any(b <= a for a, b in itertools.pairwise(ids)):
            raise InvalidInput("activity ids must increase within a batch")
        calls: list[tuple[TxParams, int]] = []
        for _, batch in batches:
            data = award_batch_calldata(batch)
            params: TxParams = {
                "to": self.deployment.points_address,
                "data": HexStr("0x" + data.hex()),
                "value": Wei(0),
            }
            calls.append((params, _batch_budget(len(batch))))
        return self._sender.submit_many(calls, intents=[label for label, _ in batches])

    def await_result(self, submitted: Submitted, *, decode: bool = True) -> TxResult:
        """The mined result of a submitted transaction (its records decoded, unless ``decode``
        is false: a bulk settlement only needs where it was mined, and the indexer decodes)."""
        if decode:
            return self._await(submitted)
        receipt = self._sender.await_submitted(submitted)
        return TxResult(receipt.tx_hash, receipt.block_number, receipt.gas_used)

    def _await(self, submitted: Submitted) -> TxResult:
        return self._result(self._sender.await_submitted(submitted))

    def redeem(self, citizen: LocalAccount, points: int, reward_id: int) -> TxResult:
        """A citizen spends their own points, from their own account (which pays the gas)."""
        own = TransactionSender(self._chain, citizen)
        params = _build(self._chain, self._points.functions.redeem(points, reward_id), citizen.address, _GAS_SINGLE)
        return self._result(own.send(params, budget=_GAS_SINGLE))

    def consent_nonce(self, citizen: str) -> int:
        """The nonce the citizen's next redemption consent must carry."""
        return int(self._call(self._points, "consentNonce", checksum(citizen, "citizen")))

    def redemption_typed_data(
        self, citizen: str, points: int, reward_id: int, deadline: int, nonce: int | None = None
    ) -> dict[str, Any]:
        """The EIP-712 document a citizen signs to consent to a redemption (for wallets)."""
        citizen = checksum(citizen, "citizen")
        return {
            "types": {
                "EIP712Domain": _DOMAIN_FIELDS,
                "Redemption": [
                    {"name": "citizen", "type": "address"},
                    {"name": "points", "type": "uint64"},
                    {"name": "rewardId", "type": "uint256"},
                    {"name": "nonce", "type": "uint256"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Redemption",
            "domain": self._domain("points"),
            "message": {
                "citizen": citizen,
                "points": points,
                "rewardId": reward_id,
                "nonce": self.consent_nonce(citizen) if nonce is None else nonce,
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

    def redeem_with_consent(self, consent: RedemptionConsent, *, intent: str | None = None) -> TxResult:
        """Relays a citizen's signed consent; the city pays the gas. Needs the redeemer role."""
        return self._send(
            self._points.functions.redeemWithConsent(
                consent.citizen, consent.points, consent.reward_id, consent.deadline, consent.signature
            ),
            intent=intent,
        )

    def reverse_award(
        self, activity_id: int, reason_code: int, *, award_tx: str | None = None, intent: str | None = None
    ) -> TxResult:
        """Reverses a wrongful award. The award and its batch are read from the chain (from
        ``award_tx`` when the caller knows it, else by scanning), and the reversal proves with a
        Merkle proof that it takes back exactly what was awarded, from whom."""
        batch = self._award_batch(activity_id, award_tx)
        if batch is None:
            raise InvalidInput(f"activity {activity_id} has no award on-chain")
        index = next(i for i, a in enumerate(batch) if a.activity_id == activity_id)
        tree = merkle.make_tree([a.leaf() for a in batch])
        award = batch[index]
        return self._send(
            self._points.functions.reverseAward(
                award.head, award.body, batch[0].activity_id, merkle.proof_for(tree, index), reason_code
            ),
            intent=intent,
        )

    def _award_batch(self, activity_id: int, award_tx: str | None) -> list[AwardRecorded] | None:
        """The awards of the transaction that awarded ``activity_id``, in batch order."""
        if award_tx is not None:
            receipt = self._chain.receipt(award_tx)
            records = self._decoder.decode(receipt.logs) if receipt else []
            batch = [r for r in records if isinstance(r, AwardRecorded)]
        else:
            awards = [r for r in self._scan(self.deployment.block_number, self.head()) if isinstance(r, AwardRecorded)]
            found = next((r for r in awards if r.activity_id == activity_id), None)
            if found is None:
                return None
            batch = [r for r in awards if r.ref.tx_hash == found.ref.tx_hash]
        return batch if any(a.activity_id == activity_id for a in batch) else None

    def set_limits(self, max_points_per_award: int, daily_cap: int, *, intent: str | None = None) -> TxResult:
        return self._send(self._points.functions.setLimits(max_points_per_award, daily_cap), intent=intent)

    def set_activity_kind(self, kind: int, enabled: bool, label: str, *, intent: str | None = None) -> TxResult:
        return self._send(self._points.functions.setActivityKind(kind, enabled, label), intent=intent)

    # ------------------------------------------------------------------ re-binding a lost key

    def rebinding_typed_data(self, old: str, new: str, reason_code: int, deadline: int) -> dict[str, Any]:
        """The EIP-712 document the citizen's new key signs to receive the old address's record."""
        return {
            "types": {
                "EIP712Domain": _DOMAIN_FIELDS,
                "Rebinding": [
                    {"name": "from", "type": "address"},
                    {"name": "to", "type": "address"},
                    {"name": "reasonCode", "type": "uint16"},
                    {"name": "deadline", "type": "uint256"},
                ],
            },
            "primaryType": "Rebinding",
            "domain": self._domain("points"),
            "message": {
                "from": checksum(old, "old address"),
                "to": checksum(new, "new address"),
                "reasonCode": reason_code,
                "deadline": deadline,
            },
        }

    def sign_rebinding(
        self, new: LocalAccount, old: str, reason_code: int, deadline: int | None = None
    ) -> RebindingConsent:
        deadline = deadline if deadline is not None else self.chain_time() + 3600
        typed = self.rebinding_typed_data(old, new.address, reason_code, deadline)
        signature = bytes(new.sign_message(encode_typed_data(full_message=typed)).signature)
        return RebindingConsent(checksum(old), str(new.address), reason_code, deadline, signature)

    def rebind_citizen(self, consent: RebindingConsent, *, intent: str | None = None) -> TxResult:
        """Moves a citizen's points and badges from a lost address to the new one that signed
        ``consent``, in one recorded act. Needs the admin role."""
        return self._send(
            self._points.functions.rebindCitizen(
                consent.old, consent.new, consent.reason_code, consent.deadline, consent.signature
            ),
            budget=1_500_000,
            intent=intent,
        )

    def current_address(self, citizen: str) -> str:
        """Where ``citizen``'s record is now, following every re-binding."""
        return str(self._call(self._points, "currentAddress", checksum(citizen, "citizen")))

    # ------------------------------------------------------------------ badges

    def create_event(
        self,
        venue: Venue,
        claim_start: int,
        claim_end: int,
        capacity: int,
        client_ref: bytes | None = None,
        *,
        intent: str | None = None,
    ) -> tuple[int, TxResult]:
        """Registers a city event under ``client_ref`` (32 bytes; random when not given), so
        that a retried creation finds the event instead of making a second; returns its id."""
        client_ref = client_ref or secrets.token_bytes(32)
        if len(client_ref) != 32:
            raise InvalidInput("client_ref must be 32 bytes")
        result = self._send(
            self._badges.functions.createEvent(int(venue), claim_start, claim_end, capacity, client_ref), intent=intent
        )
        created = next(r for r in result.records if isinstance(r, EventCreated))
        return created.event_id, result

    def event_id_for(self, client_ref: bytes) -> int | None:
        """The event created under ``client_ref``, if there is one."""
        found = int(self._call(self._badges, "eventIdFor", client_ref))
        return found or None

    def issue_badges(
        self,
        event_id: int,
        attendees: Sequence[str],
        *,
        chunk_size: int = DEFAULT_CHUNK,
        intent: str | None = None,
    ) -> list[TxResult]:
        """Issues the event's badge to many attendees, ``chunk_size`` per transaction."""
        addresses = [checksum(a, "attendee") for a in attendees]
        if not addresses:
            raise InvalidInput("a batch needs at least one attendee")
        if len(set(addresses)) != len(addresses):
            raise InvalidInput("a batch lists the same attendee twice")
        size = max(1, min(chunk_size, self.max_batch()))
        calls = []
        for chunk in _chunks(addresses, size):
            budget = _batch_budget(len(chunk))
            call = self._badges.functions.issueBadges(event_id, list(chunk))
            calls.append((_build(self._chain, call, self.address, budget), budget))
        return [self._await(s) for s in self._sender.submit_many(calls, intent=intent)]

    def issue_badge(self, event_id: int, attendee: str, *, intent: str | None = None) -> TxResult:
        return self._send(self._badges.functions.issueBadge(event_id, checksum(attendee, "attendee")), intent=intent)

    def reissue_badge(self, event_id: int, attendee: str, reason_code: int, *, intent: str | None = None) -> TxResult:
        """Issues a revoked badge again: an explicit act, recorded with its reason."""
        return self._send(
            self._badges.functions.reissueBadge(event_id, checksum(attendee, "attendee"), reason_code), intent=intent
        )

    def sign_voucher(
        self, event_id: int, attendee: str, *, deadline: int | None = None, nonce: int | None = None
    ) -> SignedVoucher:
        """An EIP-712 claim voucher signed by this ledger's key (which must hold the issuer role).
        The nonce is random (256 bits) unless given, so vouchers cannot be guessed."""
        attendee = checksum(attendee, "attendee")
        if not self._may_issue():
            raise AccessDenied(f"{self.address} lacks the issuer role: its vouchers would be refused")
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
        signable = encode_typed_data(self._domain("badges"), types, message)
        signature = bytes(self._sender.account.sign_message(signable).signature)
        return SignedVoucher(event_id, attendee, nonce, deadline, signature, self.address)

    def _may_issue(self) -> bool:
        """Whether this key holds the issuer role, asked at most once a minute (every voucher
        needs it; a role revoked in between makes the claim fail on-chain all the same)."""
        now = time.monotonic()
        if self._issuer_checked is None or now - self._issuer_checked[0] > 60:
            self._issuer_checked = (now, self.has_role(Role.ISSUER, self.address))
        return self._issuer_checked[1]

    def claim_badge(self, voucher: SignedVoucher, *, intent: str | None = None) -> TxResult:
        """Submits a voucher; the badge goes to ``voucher.attendee`` whoever relays it."""
        return self._send(self._badges.functions.claimBadge(voucher.as_tuple(), voucher.signature), intent=intent)

    def revoke_badge(self, event_id: int, attendee: str, reason_code: int, *, intent: str | None = None) -> TxResult:
        return self._send(
            self._badges.functions.revokeBadge(event_id, checksum(attendee, "attendee"), reason_code), intent=intent
        )

    def set_badge_metadata(self, uri_template: str, contract_uri: str) -> list[TxResult]:
        """Points the collection's metadata (ERC-1155 ``uri`` with ``{id}``, ERC-7572) at new URLs."""
        return [
            self._send(self._badges.functions.setURITemplate(uri_template)),
            self._send(self._badges.functions.setContractURI(contract_uri)),
        ]

    # ------------------------------------------------------------------ anchors

    def anchor_records(
        self, root: bytes, period_start: int, period_end: int, records: int, *, intent: str | None = None
    ) -> TxResult:
        """Anchors the Merkle root of a period's off-chain records in one transaction."""
        return self._send(self._anchors.functions.anchor(root, period_start, period_end, records), intent=intent)

    def anchored_at(self, root: bytes) -> int | None:
        """When ``root`` was anchored (Unix seconds), or None."""
        _, _, anchored_at, _ = self._call(self._anchors, "anchorOf", root)
        return int(anchored_at) or None

    def verify_anchored(self, root: bytes, proof: Sequence[bytes], leaf: bytes) -> bool:
        """The contract's own answer: is ``leaf`` in the anchored tree ``root``?"""
        return bool(self._call(self._anchors, "verifyRecord", root, list(proof), leaf))

    # ------------------------------------------------------------------ roles and pausing

    def grant_role(self, role: Role, account: str) -> list[TxResult]:
        return [self.set_role(name, role, account, True) for name in ROLE_CONTRACTS[role]]

    def revoke_role(self, role: Role, account: str) -> list[TxResult]:
        return [self.set_role(name, role, account, False) for name in ROLE_CONTRACTS[role]]

    def set_role(
        self, contract: str, role: Role, account: str, granted: bool, *, intent: str | None = None
    ) -> TxResult:
        """Grants or revokes ``role`` on one contract ("points", "badges" or "anchors")."""
        account = checksum(account, "account")
        target = self._contract(contract)
        call = target.functions.grantRole if granted else target.functions.revokeRole
        return self._send(call(role.role_id, account), intent=intent)

    def has_role(self, role: Role, account: str) -> bool:
        account = checksum(account, "account")
        return all(self._call(c, "hasRole", role.role_id, account) for c in self._role_contracts(role))

    def pause(self) -> list[TxResult]:
        return [self.set_paused(name, True) for name in ("points", "badges") if not self.is_paused_contract(name)]

    def unpause(self) -> list[TxResult]:
        return [self.set_paused(name, False) for name in ("points", "badges") if self.is_paused_contract(name)]

    def set_paused(self, contract: str, paused: bool, *, intent: str | None = None) -> TxResult:
        target = self._contract(contract)
        return self._send(target.functions.pause() if paused else target.functions.unpause(), intent=intent)

    def is_paused(self) -> bool:
        """Whether awards, redemptions or badge issuance are paused (either contract)."""
        return self.is_paused_contract("points") or self.is_paused_contract("badges")

    def is_paused_contract(self, contract: str) -> bool:
        return bool(self._call(self._contract(contract), "paused"))

    # ------------------------------------------------------------------ transactions and recovery

    def result_of(self, tx_hash: str) -> TxResult | None:
        """The mined result of one of the ledger's transactions, or None while it has no receipt."""
        receipt = self._chain.receipt(tx_hash)
        return None if receipt is None else self._result(receipt)

    def sender_of(self, tx_hash: str) -> str | None:
        """The account that sent ``tx_hash`` (what an auditor checks a role against)."""
        tx = self._chain.transaction(tx_hash)
        return None if tx is None else str(tx["from"])

    def outbox_entries(self, intent: str) -> list[OutboxEntry]:
        """The transactions recorded for ``intent`` (what a retry or restart reconciles)."""
        return self._sender.outbox.for_intent(intent)

    def resume(self) -> int:
        """Re-sends whatever the outbox holds unsettled and closes nonce gaps; returns how many
        transactions were settled."""
        return len(self._sender.resume())

    def fill_nonce_gaps(self) -> list[int]:
        return self._sender.fill_gaps()

    def nonce_gap(self) -> tuple[int, int] | None:
        return self._sender.nonce_gap()

    # ------------------------------------------------------------------ the event feed

    def chain_time(self) -> int:
        """The chain's clock as the contracts will read it: the time the next block carries (see
        :meth:`Chain.next_block_time`), not the last block's, which on a quiet chain is stale."""
        return self._chain.next_block_time()

    def head(self) -> int:
        return self._chain.head()

    def final_block(self, head: int | None = None) -> int:
        """The highest block this ledger treats as final."""
        return (self.head() if head is None else head) - self.confirmations

    def finality(self, block_number: int | None, head: int | None = None) -> Finality:
        return finality(block_number, self.final_block(head))

    def block_hash(self, number: int) -> str | None:
        return self._chain.block_hash(number)

    def records_between(self, from_block: int, to_block: int) -> list[ChainRecord]:
        """Every record of the three contracts in the block range, decoded, in chain order."""
        logs = self._chain.logs(self._decoder.addresses, from_block, to_block)
        return self._decoder.decode(logs)

    def _scan(self, from_block: int, to_block: int) -> list[ChainRecord]:
        records: list[ChainRecord] = []
        for start in range(from_block, to_block + 1, LOG_RANGE):
            records.extend(self.records_between(start, min(start + LOG_RANGE - 1, to_block)))
        return records

    def history(self, citizen: str) -> list[ChainRecord]:
        """Every record that changed ``citizen``'s points or badges, oldest first, following the
        citizen across re-bindings (records of every address the record lived at)."""
        from .verification import rebinding_chain

        citizen = checksum(citizen, "citizen")
        records = self._scan(self.deployment.block_number, self.head())
        addresses = set(rebinding_chain(citizen, records))
        return [r for r in records if _concerns(r, addresses)]

    def activity(self, activity_id: int) -> tuple[AwardRecorded, AwardReversed | None] | None:
        """The award of ``activity_id`` and its reversal, if any (by scanning the logs)."""
        records = self._scan(self.deployment.block_number, self.head())
        award = next((r for r in records if isinstance(r, AwardRecorded) and r.activity_id == activity_id), None)
        if award is None:
            return None
        reversal = next((r for r in records if isinstance(r, AwardReversed) and r.activity_id == activity_id), None)
        return award, reversal

    # ------------------------------------------------------------------ contract state

    def balance_of(self, citizen: str, block: int | str = "latest") -> int:
        return int(self._chain.call(self._points, "balanceOf", checksum(citizen, "citizen"), block=block))

    def total_supply(self, block: int | str = "latest") -> int:
        return int(self._chain.call(self._points, "totalSupply", block=block))

    def limits(self) -> tuple[int, int]:
        max_award, cap = self._call(self._points, "limits")
        return int(max_award), int(cap)

    def today(self) -> int:
        """The city's current day number, as the daily cap counts days."""
        return int(self._call(self._points, "today"))

    def awarded_today(self, citizen: str) -> int:
        return int(self._call(self._points, "awardedToday", checksum(citizen, "citizen")))

    def is_activity_kind_enabled(self, kind: int) -> bool:
        return bool(self._call(self._points, "isActivityKindEnabled", kind))

    def last_activity_id(self) -> int:
        return int(self._call(self._points, "lastActivityId"))

    def is_reversed(self, activity_id: int) -> bool:
        return bool(self._call(self._points, "isReversed", activity_id))

    def city_event(self, event_id: int) -> CityEvent:
        claim_start, claim_end, capacity, attendees, venue, _ = self._call(self._badges, "cityEvent", event_id)
        return CityEvent(event_id, Venue(venue), claim_start, claim_end, capacity, attendees)

    def event_count(self) -> int:
        return int(self._call(self._badges, "eventCount"))

    def states_at(self, holdings: Mapping[str, Iterable[int]], block: int) -> dict[str, tuple[int, list[int]]]:
        """Each address's points balance and which of the given events' badges it holds, at
        ``block``: read in JSON-RPC batches (one round trip per few hundred reads, not one each)."""
        addresses = [checksum(a, "citizen") for a in holdings]
        pairs = [(a, e) for a, given in zip(addresses, holdings.values(), strict=True) for e in sorted(set(given))]
        points, badges = self.deployment.points_address, self.deployment.badges_address
        calls = [(points, _BALANCE_OF + bytes(12) + bytes.fromhex(a[2:])) for a in addresses]
        calls += [(badges, _HAS_BADGE + e.to_bytes(32, "big") + bytes(12) + bytes.fromhex(a[2:])) for a, e in pairs]
        answers = NodeReader(self._chain).call_many(calls, block)
        if any(answer is None or len(answer) != 32 for answer in answers):
            raise ChainUnavailable(f"the contracts did not answer their views at block {block}")
        words = [int.from_bytes(answer or b"", "big") for answer in answers]
        found: dict[str, tuple[int, list[int]]] = {a: (words[i], []) for i, a in enumerate(addresses)}
        for (address, event_id), held in zip(pairs, words[len(addresses) :], strict=True):
            if held:
                found[address][1].append(event_id)
        return found

    def has_badge(self, event_id: int, attendee: str, block: int | str = "latest") -> bool:
        return bool(self._chain.call(self._badges, "hasBadge", event_id, checksum(attendee, "attendee"), block=block))

    def is_badge_revoked(self, event_id: int, attendee: str) -> bool:
        return bool(self._call(self._badges, "isRevoked", event_id, checksum(attendee, "attendee")))

    def badge_holdings(self, event_id: int, attendees: Sequence[str]) -> dict[str, bool]:
        """Whether each of ``attendees`` holds the event's badge, in one call."""
        addresses = [checksum(a, "attendee") for a in attendees]
        if not addresses:
            return {}
        held = self._call(self._badges, "balanceOfBatch", addresses, [event_id] * len(addresses))
        return {a: bool(h) for a, h in zip(addresses, held, strict=True)}

    def badge_collection(self) -> dict[str, str]:
        """What wallets read of the badge collection: name, symbol and metadata URIs."""
        return {
            "name": str(self._call(self._badges, "name")),
            "symbol": str(self._call(self._badges, "symbol")),
            "uri_template": str(self._call(self._badges, "uri", 0)),
            "contract_uri": str(self._call(self._badges, "contractURI")),
        }

    def wait_until(self, timestamp: int, timeout: float = 30.0) -> None:
        """Waits for a block at or after ``timestamp`` (for development chains with block times)."""
        deadline = time.monotonic() + timeout
        while self.chain_time() < timestamp and time.monotonic() < deadline:
            time.sleep(0.2)


_DOMAIN_FIELDS = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]


def award_batch_calldata(batch: Sequence[ActivityAward]) -> bytes:
    """``awardPointsBatch(Award[])`` calldata. Each award is three static words, so the ABI
    encoding is the selector, the array's offset (32) and length, then the words in order: built
    here in one join, not through web3's contract object or eth_abi, whose per-element checks
    cost more than the rest of a batch's preparation (profiled; equality with eth_abi is tested)."""
    words = [_AWARD_BATCH_SELECTOR, (32).to_bytes(32, "big"), len(batch).to_bytes(32, "big")]
    for award in batch:
        words += (award.head.to_bytes(32, "big"), award.body.to_bytes(32, "big"), award.evidence_hash)
    return b"".join(words)


def _build(chain: Chain, call: Any, sender: str, gas: int) -> Any:
    """A call's transaction; web3 asks the node for fee defaults here, so it is translated."""
    with chain.translated("preparing a transaction"):
        return call.build_transaction({"from": sender, "gas": gas})


def _concerns(record: ChainRecord, addresses: set[str]) -> bool:
    match record:
        case AwardRecorded() | AwardReversed() | PointsRedeemed():
            return record.citizen in addresses
        case BadgeIssued() | BadgeRevoked() | BadgeReissued():
            return record.attendee in addresses
        case CitizenRebound() | BadgesMoved():
            return record.old in addresses or record.new in addresses
    return False


def _sender_options(options: dict[str, Any]) -> dict[str, Any]:
    keys = ("outbox", "gas_strategy", "receipt_timeout", "receipt_poll", "replace_after")
    return {k: v for k, v in options.items() if k in keys}
