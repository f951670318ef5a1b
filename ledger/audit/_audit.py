"""The audit itself: one scan of the contracts' logs, then every check over the records.

Needs only the chain (a JSON-RPC node, or the embedded chain's :class:`ledger.Chain`) and the
deployment record: never the city's database. See :func:`run_audit`.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_utils import keccak, to_checksum_address

from .. import merkle
from .._chain import Chain, load_artifact
from .._events import EventDecoder
from .._reader import AuditNodeError, NodeReader
from ..commitments import anchor_leaf
from ..deployment import Deployment
from ..errors import DeploymentError, InvalidInput
from ..records import (
    ROLE_CONTRACTS,
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
    PauseChanged,
    PointsRedeemed,
    PointsTransferred,
    RecordsAnchored,
    Role,
    RoleChanged,
)
from .code import CodeMatch, compare_code
from .report import CHECKS, FINDING_KINDS, AuditReport, CheckResult, Finding, record_reference

__all__ = ["ARTIFACTS", "run_audit"]

#: The artifact each deployment contract is compiled from.
ARTIFACTS = {"points": "CivicPoints", "badges": "CivicBadges", "anchors": "CivicAnchors"}
_ADMIN_ID = "0x" + Role.ADMIN.role_id.hex()
#: Role-id hex -> role name, for the report.
_ROLE_NAMES = {"0x" + r.role_id.hex(): r.value for r in Role}
#: Pairs of (account, event) per balanceOfBatch call.
_BADGE_CHUNK = 400


def _selector(signature: str) -> bytes:
    return keccak(text=signature)[:4]


def _calldata(signature: str, types: Sequence[str], args: Sequence[Any]) -> bytes:
    return _selector(signature) + (abi_encode(list(types), list(args)) if types else b"")


def _week(day_number: int) -> str:
    d = date(1970, 1, 1) + timedelta(days=day_number)
    year, week, _ = d.isocalendar()
    return f"{year}-W{week:02d}"


def _week_start(day_number: int) -> str:
    d = date(1970, 1, 1) + timedelta(days=day_number)
    return (d - timedelta(days=d.weekday())).isoformat()


@dataclass
class _Holding:
    contract: str
    role_id: str
    account: str
    from_block: int
    from_time: int
    granted_by: str
    grant_tx: str
    to_block: int | None = None
    to_time: int | None = None
    revoked_by: str | None = None
    revoke_tx: str | None = None


class _Answers:
    """The answers of a batch of calls, taken in order; a call that reverted (None) or answered
    what does not decode is noted in ``unreadable`` and taken as None."""

    def __init__(self, answers: Sequence[bytes | None]) -> None:
        self._answers = iter(answers)
        self.unreadable: list[str] = []

    def abi(self, what: str, types: Sequence[str]) -> tuple[Any, ...] | None:
        raw = next(self._answers)
        if raw is not None:
            try:
                return tuple(abi_decode(list(types), raw))
            except Exception:  # eth_abi's DecodingError family: code that answers garbage
                pass
        self.unreadable.append(what)
        return None

    def uint(self, what: str) -> int | None:
        decoded = self.abi(what, ["uint256"])
        return None if decoded is None else int(decoded[0])


@dataclass(frozen=True)
class _AnchoredEntry:
    """One entry of the records file: ``recomputed`` is the leaf its content gives (None when
    the content was erased: only the leaf can be proven then)."""

    index: int
    record_type: str
    record_id: int
    content_hash: str | None
    at: int | None
    root: bytes
    leaf: bytes
    proof: list[bytes]
    recomputed: bytes | None

    @classmethod
    def of(cls, index: int, entry: Mapping[str, Any]) -> _AnchoredEntry:
        def hash32(value: Any) -> bytes:
            raw = bytes.fromhex(str(value).removeprefix("0x"))
            if len(raw) != 32:
                raise ValueError(f"{value!r} is not a 32-byte hash")
            return raw

        record_type, record_id = str(entry["record_type"]), int(entry["record_id"])
        content_hash = None if entry.get("content_hash") is None else str(entry["content_hash"])
        at = None if entry.get("at") is None else int(entry["at"])
        recomputed = None
        if content_hash is not None and at is not None:
            recomputed = hash32(anchor_leaf(record_type, record_id, content_hash, at))
        return cls(
            index,
            record_type,
            record_id,
            content_hash,
            at,
            hash32(entry["root"]),
            hash32(entry["leaf"]),
            [hash32(p) for p in entry["proof"]],
            recomputed,
        )

    def evidence(self) -> dict[str, Any]:
        return {
            "index": self.index,
            "record_type": self.record_type,
            "record_id": self.record_id,
            "content_hash": self.content_hash,
            "at": self.at,
            "root": "0x" + self.root.hex(),
            "leaf": "0x" + self.leaf.hex(),
            "recomputed_leaf": None if self.recomputed is None else "0x" + self.recomputed.hex(),
        }


class _Audit:
    """The checks over the scanned records (one pass in chain order, then the state reads)."""

    def __init__(
        self,
        reader: NodeReader,
        deployment: Deployment,
        decoder: EventDecoder,
        records: list[ChainRecord],
        times: dict[int, int],
        transactions: dict[str, tuple[str, str | None]],
        block: int,
        head: int | None = None,
    ) -> None:
        self.reader = reader
        self.head = block if head is None else head
        self.deployment = deployment
        self.decoder = decoder
        self.records = records
        self.times = times
        self.transactions = transactions
        self.block = block
        self.findings: list[Finding] = []
        self.addresses = {name: to_checksum_address(a) for name, a in deployment.contracts.items()}
        self.deploy_txs = {deployment.points_tx, deployment.badges_tx, deployment.anchors_tx}
        # rebuilt state
        self.balances: dict[str, int] = defaultdict(int)
        self.supply = 0
        self.badges: dict[tuple[str, int], bool] = {}
        self.holders: dict[tuple[str, str], set[str]] = defaultdict(set)
        self.holdings: list[_Holding] = []
        self.open_holdings: dict[tuple[str, str, str], _Holding] = {}
        self.role_changes: list[dict[str, Any]] = []
        self.role_candidates: set[tuple[str, str, str]] = set()
        self.limits: tuple[int, int] | None = None
        self.limit_history: list[dict[str, Any]] = []
        self.kinds: dict[int, tuple[bool, str]] = {}
        self.cap_state: dict[str, tuple[int, int]] = {}
        self.last_activity_id = 0
        self.awarded: dict[int, AwardRecorded] = {}
        self.reversed: dict[int, AwardReversed] = {}
        self.rebound_away: dict[str, CitizenRebound] = {}
        self.batches: dict[str, list[AwardRecorded]] = defaultdict(list)
        self.events: dict[int, EventCreated] = {}
        self.anchors: list[RecordsAnchored] = []
        self.pauses: list[PauseChanged] = []

    # ------------------------------------------------------------------ findings

    def find(
        self,
        kind: str,
        message: str,
        /,
        *,
        record: ChainRecord | None = None,
        block: int | None = None,
        severity: str = "error",
        **evidence: Any,
    ) -> None:
        """Records a finding; ``evidence`` may use any name (``kind`` too: it is positional here)."""
        assert kind in FINDING_KINDS, kind
        reference = None
        if record is not None:
            reference = record_reference(record, self.decoder.contract_name(record.ref.contract))
            block = record.ref.block_number if block is None else block
        self.findings.append(Finding(kind, message, block, reference, evidence, severity))  # type: ignore[arg-type]

    def day_of(self, block: int) -> int:
        return (self.times[block] + self.deployment.day_offset_seconds) // 86_400

    # ------------------------------------------------------------------ authority

    def _authorise(self, record: ChainRecord, contract: str, role_id: str, extra: Iterable[str | None] = ()) -> None:
        """The act ``record`` needed ``role_id`` on ``contract``: did its sender hold it then?"""
        sender, to = self.transactions[record.ref.tx_hash]
        candidates = [sender]
        if to is not None and to != record.ref.contract:
            candidates.append(to)  # called through a contract (a multisig holding the role)
        candidates.extend(c for c in extra if c)
        for candidate in candidates:
            self.role_candidates.add((contract, role_id, candidate))
        held = self.holders.get((contract, role_id), set())
        if any(c in held for c in candidates):
            return
        role = _ROLE_NAMES.get(role_id, role_id)
        self.find(
            "unauthorised_act",
            f"{type(record).__name__} sent by {sender}, who did not hold {role} on {contract} at block "
            f"{record.ref.block_number}",
            record=record,
            sender=sender,
            candidates=sorted(set(candidates)),
            role=role,
            contract=contract,
            holders_then=sorted(held),
        )

    def _role_change(self, record: RoleChanged) -> None:
        sender, _ = self.transactions[record.ref.tx_hash]
        key = (record.contract_name, record.role_id)
        renounce = not record.granted and record.by == record.account
        constructor = record.ref.tx_hash in self.deploy_txs and record.role_id == _ADMIN_ID
        admins = self.holders.get((record.contract_name, _ADMIN_ID), set())
        self.role_candidates.add((record.contract_name, _ADMIN_ID, record.by))
        if not (renounce or constructor or record.by in admins):
            self.find(
                "unauthorised_role_change",
                f"{'grant' if record.granted else 'revocation'} of {_ROLE_NAMES.get(record.role_id, record.role_id)} "
                f"on {record.contract_name} to {record.account} by {record.by}, not an admin at block "
                f"{record.ref.block_number}",
                record=record,
                by=record.by,
                tx_from=sender,
                admins_then=sorted(admins),
            )
        when = self.times[record.ref.block_number]
        self.role_changes.append(
            {
                "block": record.ref.block_number,
                "time": when,
                "contract": record.contract_name,
                "role": _ROLE_NAMES.get(record.role_id, record.role_id),
                "role_id": record.role_id,
                "account": record.account,
                "granted": record.granted,
                "by": record.by,
                "tx_hash": record.ref.tx_hash,
            }
        )
        members = self.holders[key]
        slot = (record.contract_name, record.role_id, record.account)
        if record.granted and record.account not in members:
            members.add(record.account)
            holding = _Holding(
                record.contract_name,
                record.role_id,
                record.account,
                record.ref.block_number,
                when,
                record.by,
                record.ref.tx_hash,
            )
            self.holdings.append(holding)
            self.open_holdings[slot] = holding
        elif not record.granted and record.account in members:
            members.discard(record.account)
            holding = self.open_holdings.pop(slot)
            holding.to_block, holding.to_time = record.ref.block_number, when
            holding.revoked_by, holding.revoke_tx = record.by, record.ref.tx_hash

    # ------------------------------------------------------------------ the pass over the records

    def replay(self) -> None:
        for record in self.records:
            match record:
                case RoleChanged():
                    self._role_change(record)
                case PointsTransferred():
                    if record.sender != ZERO_ADDRESS:
                        self.balances[record.sender] -= record.points
                    else:
                        self.supply += record.points
                    if record.recipient != ZERO_ADDRESS:
                        self.balances[record.recipient] += record.points
                    else:
                        self.supply -= record.points
                case AwardRecorded():
                    self._authorise(record, "points", "0x" + Role.MINTER.role_id.hex())
                    self._award(record)
                case AwardReversed():
                    self._authorise(record, "points", _ADMIN_ID)
                    award = self.awarded.get(record.activity_id)
                    if award is None:
                        self.find(
                            "reversal_of_unknown_award",
                            f"activity {record.activity_id} reversed but never awarded",
                            record=record,
                            activity_id=record.activity_id,
                        )
                    if record.activity_id in self.reversed:
                        first = self.reversed[record.activity_id]
                        self.find(
                            "award_reversed_twice",
                            f"activity {record.activity_id} reversed again (first in {first.ref.tx_hash})",
                            record=record,
                            first_reversal=first.ref.tx_hash,
                        )
                    self.reversed.setdefault(record.activity_id, record)
                case PointsRedeemed():
                    if record.relayer != record.citizen:
                        self._authorise(record, "points", "0x" + Role.REDEEMER.role_id.hex(), [record.relayer])
                case CitizenRebound():
                    self._authorise(record, "points", _ADMIN_ID)
                    self.rebound_away[record.old] = record
                    state = self.cap_state.pop(record.old, None)
                    if state is not None:
                        self.cap_state[record.new] = state  # the contract moves the day's total too
                    else:
                        self.cap_state.pop(record.new, None)
                case LimitsChanged():
                    self._authorise(record, "points", _ADMIN_ID)
                    self.limits = (record.max_points_per_award, record.daily_cap)
                    self.limit_history.append(
                        {
                            "block": record.ref.block_number,
                            "time": self.times[record.ref.block_number],
                            "max_points_per_award": record.max_points_per_award,
                            "daily_cap": record.daily_cap,
                            "tx_hash": record.ref.tx_hash,
                        }
                    )
                case ActivityKindSet():
                    self._authorise(record, "points", _ADMIN_ID)
                    self.kinds[record.kind] = (record.enabled, record.label)
                case EventCreated():
                    self._authorise(record, "badges", "0x" + Role.ISSUER.role_id.hex())
                    self.events[record.event_id] = record
                case BadgeIssued():
                    issuer = "0x" + Role.ISSUER.role_id.hex()
                    if record.voucher_issuer is not None:
                        self._authorise_voucher(record, issuer)
                    else:
                        self._authorise(record, "badges", issuer, [record.operator])
                    self.badges[(record.attendee, record.event_id)] = True
                    if record.attendee in self.rebound_away:
                        self._to_rebound(record, record.attendee)
                case BadgeRevoked():
                    self._authorise(record, "badges", "0x" + Role.ISSUER.role_id.hex())
                    self.badges[(record.attendee, record.event_id)] = False
                case BadgeReissued():
                    self._authorise(record, "badges", "0x" + Role.ISSUER.role_id.hex())
                case BadgesMoved():
                    for event_id in record.event_ids:
                        self.badges[(record.old, event_id)] = False
                        self.badges[(record.new, event_id)] = True
                case RecordsAnchored():
                    self._authorise(record, "anchors", "0x" + Role.ANCHOR.role_id.hex())
                    self.anchors.append(record)
                case PauseChanged():
                    self._authorise(record, record.contract_name, "0x" + Role.PAUSER.role_id.hex(), [record.by])
                    self.pauses.append(record)

    def _authorise_voucher(self, record: BadgeIssued, issuer_role: str) -> None:
        """A claim: the voucher's signer is the authority (whoever relayed it)."""
        assert record.voucher_issuer is not None
        self.role_candidates.add(("badges", issuer_role, record.voucher_issuer))
        if record.voucher_issuer in self.holders.get(("badges", issuer_role), set()):
            return
        self.find(
            "unauthorised_act",
            f"badge claimed with a voucher of {record.voucher_issuer}, who did not hold issuer on badges at block "
            f"{record.ref.block_number}",
            record=record,
            voucher_issuer=record.voucher_issuer,
            role="issuer",
            contract="badges",
        )

    def _to_rebound(self, record: ChainRecord, address: str) -> None:
        rebinding = self.rebound_away[address]
        self.find(
            "record_to_rebound_address",
            f"{type(record).__name__} to {address} after its record moved to {rebinding.new} "
            f"(block {rebinding.ref.block_number})",
            record=record,
            address=address,
            rebound_to=rebinding.new,
            rebinding_tx=rebinding.ref.tx_hash,
        )

    def _award(self, award: AwardRecorded) -> None:
        block = award.ref.block_number
        if award.activity_id in self.awarded:
            first = self.awarded[award.activity_id]
            self.find(
                "activity_id_duplicate",
                f"activity {award.activity_id} awarded again (first in {first.ref.tx_hash})",
                record=award,
                activity_id=award.activity_id,
                first_award=first.ref.tx_hash,
            )
        elif award.activity_id <= self.last_activity_id:
            self.find(
                "activity_id_not_increasing",
                f"activity {award.activity_id} awarded after activity {self.last_activity_id}",
                record=award,
                activity_id=award.activity_id,
                last_activity_id=self.last_activity_id,
            )
        self.last_activity_id = max(self.last_activity_id, award.activity_id)
        self.awarded.setdefault(award.activity_id, award)
        self.batches[award.ref.tx_hash].append(award)
        enabled, _ = self.kinds.get(award.kind, (False, ""))
        if not enabled:
            self.find(
                "unknown_activity_kind",
                f"activity {award.activity_id} of kind {award.kind}, not enabled at block {block}",
                record=award,
                kind=award.kind,
            )
        if award.citizen in self.rebound_away:
            self._to_rebound(award, award.citizen)
        if self.limits is None:
            return
        maximum, cap = self.limits
        if award.points > maximum:
            self.find(
                "award_over_maximum",
                f"activity {award.activity_id}: {award.points} points, above the maximum of {maximum} in force",
                record=award,
                points=award.points,
                max_points_per_award=maximum,
                activity_id=award.activity_id,
            )
        day = self.day_of(block)
        last_day, total = self.cap_state.get(award.citizen, (-1, 0))
        so_far = total if last_day == day else 0
        if so_far + award.points > cap:
            self.find(
                "daily_cap_exceeded",
                f"{award.citizen} got {so_far + award.points} points on city day {_day_iso(day)}, "
                f"above the cap of {cap}",
                record=award,
                citizen=award.citizen,
                day=_day_iso(day),
                awarded_before=so_far,
                points=award.points,
                daily_cap=cap,
                activity_id=award.activity_id,
            )
        self.cap_state[award.citizen] = (day, so_far + award.points)

    # ------------------------------------------------------------------ pairing checks

    def check_pairs(self) -> None:
        by_position: dict[tuple[str, int], ChainRecord] = {}
        rebindings: dict[str, list[CitizenRebound]] = defaultdict(list)
        for record in self.records:
            if isinstance(record, AwardRecorded | AwardReversed | PointsRedeemed):
                by_position[(record.ref.tx_hash, record.ref.log_index)] = record
            elif isinstance(record, CitizenRebound):
                rebindings[record.ref.tx_hash].append(record)
        for record in self.records:
            if isinstance(record, PointsTransferred):
                explained = False
                follower = by_position.get((record.ref.tx_hash, record.ref.log_index + 1))
                if record.sender == ZERO_ADDRESS:
                    explained = (
                        isinstance(follower, AwardRecorded)
                        and follower.citizen == record.recipient
                        and follower.points == record.points
                    )
                elif record.recipient == ZERO_ADDRESS:
                    explained = (
                        isinstance(follower, AwardReversed | PointsRedeemed)
                        and follower.citizen == record.sender
                        and follower.points == record.points
                    )
                else:
                    explained = any(
                        r.old == record.sender and r.new == record.recipient for r in rebindings[record.ref.tx_hash]
                    )
                if not explained:
                    self.find(
                        "unexplained_transfer",
                        f"{record.points} points from {record.sender} to {record.recipient} "
                        "with no act to explain them",
                        record=record,
                        sender=record.sender,
                        recipient=record.recipient,
                        points=record.points,
                    )
            elif isinstance(record, BadgesMoved) and not any(
                r.old == record.old and r.new == record.new for r in rebindings[record.ref.tx_hash]
            ):
                self.find(
                    "badges_moved_without_rebinding",
                    f"badges {list(record.event_ids)} moved from {record.old} to {record.new} outside a re-binding",
                    record=record,
                    old=record.old,
                    new=record.new,
                    event_ids=list(record.event_ids),
                )

    # ------------------------------------------------------------------ state at the audited block

    def check_state(self) -> dict[str, Any]:
        points, badges = self.addresses["points"], self.addresses["badges"]
        calls: list[tuple[str, bytes]] = []
        citizens = sorted(a for a in self.balances if a != ZERO_ADDRESS)
        calls += [(points, _calldata("balanceOf(address)", ["address"], [a])) for a in citizens]
        calls.append((points, _calldata("totalSupply()", [], [])))
        calls.append((points, _calldata("limits()", [], [])))
        calls.append((points, _calldata("lastActivityId()", [], [])))
        reversed_ids = sorted(self.reversed)
        calls += [(points, _calldata("isReversed(uint256)", ["uint256"], [i])) for i in reversed_ids]
        roles = sorted(self._role_slots())
        calls += [
            (
                self.addresses[c],
                _calldata("hasRole(bytes32,address)", ["bytes32", "address"], [bytes.fromhex(r[2:]), a]),
            )
            for c, r, a in roles
        ]
        pairs = sorted(self.badges)
        chunks = [pairs[i : i + _BADGE_CHUNK] for i in range(0, len(pairs), _BADGE_CHUNK)]
        calls += [
            (
                badges,
                _calldata(
                    "balanceOfBatch(address[],uint256[])",
                    ["address[]", "uint256[]"],
                    [[a for a, _ in chunk], [e for _, e in chunk]],
                ),
            )
            for chunk in chunks
        ]
        answers = _Answers(self.reader.call_many(calls, self.block))
        for citizen in citizens:
            self._compare(
                "balance_mismatch",
                answers.uint(f"balanceOf({citizen})"),
                self.balances[citizen],
                "{citizen}: {on_chain} points in the contract, {rebuilt} from the records",
                citizen=citizen,
            )
        supply = answers.uint("totalSupply()")
        self._compare(
            "total_supply_mismatch",
            supply,
            self.supply,
            "total supply {on_chain} in the contract, {rebuilt} from the records",
        )
        limits = answers.abi("limits()", ["uint64", "uint64"])
        on_chain_limits = None
        if limits is not None:
            on_chain_limits = {"max_points_per_award": int(limits[0]), "daily_cap": int(limits[1])}
        if self.limits is not None:
            self._compare(
                "limits_mismatch",
                on_chain_limits,
                {"max_points_per_award": self.limits[0], "daily_cap": self.limits[1]},
                "limits in the contract are {on_chain[max_points_per_award]} per award and {on_chain[daily_cap]} a "
                "day; the last LimitsChanged says {rebuilt[max_points_per_award]} and {rebuilt[daily_cap]}",
            )
        last = answers.uint("lastActivityId()")
        self._compare(
            "last_activity_id_mismatch",
            last,
            self.last_activity_id,
            "the contract's last activity id is {on_chain}; the last award recorded is {rebuilt}",
        )
        for activity_id in reversed_ids:
            if answers.uint(f"isReversed({activity_id})") == 0:
                self.find(
                    "reversal_state_mismatch",
                    f"activity {activity_id} was reversed on record, but the contract says it is not",
                    record=self.reversed[activity_id],
                    activity_id=activity_id,
                )
        for contract, role_id, account in roles:
            role = _ROLE_NAMES.get(role_id, role_id)
            value = answers.uint(f"{contract}.hasRole({role}, {account})")
            if value is None:
                continue
            on_chain, rebuilt = bool(value), account in self.holders.get((contract, role_id), set())
            if on_chain != rebuilt:
                self.find(
                    "role_state_mismatch",
                    f"{account} {'holds' if on_chain else 'lacks'} {role} on {contract} in the contract; the role "
                    f"records say it {'holds' if rebuilt else 'does not hold'} it",
                    block=self.block,
                    contract=contract,
                    role=role,
                    account=account,
                    on_chain=on_chain,
                    rebuilt=rebuilt,
                )
        held_now = 0
        for chunk in chunks:
            decoded = answers.abi(f"balanceOfBatch({len(chunk)} holdings)", ["uint256[]"])
            if decoded is None or len(decoded[0]) != len(chunk):
                continue
            for (attendee, event_id), value in zip(chunk, decoded[0], strict=True):
                badge_rebuilt = self.badges[(attendee, event_id)]
                held_now += bool(value)
                if bool(value) != badge_rebuilt:
                    self.find(
                        "badge_mismatch",
                        f"{attendee} {'holds' if value else 'does not hold'} the badge of event {event_id} in the "
                        f"contract; the records say {'held' if badge_rebuilt else 'not held'}",
                        block=self.block,
                        attendee=attendee,
                        event_id=event_id,
                        on_chain=bool(value),
                        rebuilt=badge_rebuilt,
                    )
        self._unreadable(answers)
        return {
            "balances_checked": len(citizens),
            "badge_holdings_checked": len(pairs),
            "roles_checked": len(roles),
            "total_supply": supply,
            "badges_held": held_now,
            "limits": on_chain_limits,
            "last_activity_id": last,
            "unreadable": len(answers.unreadable),
        }

    def _compare(self, kind: str, on_chain: Any, rebuilt: Any, message: str, **where: Any) -> None:
        """A finding of ``kind`` when a value read from the contracts (None: unreadable, reported
        apart) differs from the one the records give; ``message`` is formatted with both and
        ``where``, which goes with them into the finding."""
        if on_chain is not None and on_chain != rebuilt:
            self.find(
                kind,
                message.format(on_chain=on_chain, rebuilt=rebuilt, **where),
                block=self.block,
                **where,
                on_chain=on_chain,
                rebuilt=rebuilt,
            )

    def _unreadable(self, answers: _Answers) -> None:
        if answers.unreadable:
            self.find(
                "state_unreadable",
                f"{len(answers.unreadable)} reads of the contracts' state at block {self.block} reverted or "
                f"answered garbage, e.g. {answers.unreadable[0]}",
                block=self.block,
                count=len(answers.unreadable),
                reads=answers.unreadable[:20],
            )

    def _role_slots(self) -> set[tuple[str, str, str]]:
        """Every (contract, role, account) worth asking the contract about: anyone a role record
        names, and every sender of an act that needed a role."""
        slots = set(self.role_candidates)
        for change in self.role_changes:
            slots.add((change["contract"], change["role_id"], change["account"]))
        for role in Role:
            for contract in ROLE_CONTRACTS[role]:
                for account in {a for _, _, a in slots}:
                    slots.add((contract, "0x" + role.role_id.hex(), account))
        return {s for s in slots if s[0] in self.addresses}

    def check_roots(self) -> int:
        points = self.addresses["points"]
        batches = sorted(self.batches.values(), key=lambda b: (b[0].ref.block_number, b[0].ref.log_index))
        calls = [(points, _calldata("awardRoot(uint256)", ["uint256"], [b[0].activity_id])) for b in batches]
        answers = _Answers(self.reader.call_many(calls, self.block))
        for batch in batches:
            ordered = sorted(batch, key=lambda a: a.ref.log_index)
            root = merkle.make_tree([a.leaf() for a in ordered])[0]
            raw = answers.abi(f"awardRoot({ordered[0].activity_id})", ["bytes32"])
            if raw is None:
                continue
            stored = bytes(raw[0])
            if stored != root:
                self.find(
                    "award_root_mismatch",
                    f"batch of {len(batch)} awards from activity {ordered[0].activity_id}: the contract keeps root "
                    f"0x{stored.hex()}, the awards give 0x{root.hex()}",
                    record=ordered[0],
                    batch_key=ordered[0].activity_id,
                    awards=len(batch),
                    on_chain="0x" + stored.hex(),
                    rebuilt="0x" + root.hex(),
                )
        self._unreadable(answers)
        return len(batches)

    # ------------------------------------------------------------------ code and deployment

    def check_code(self, artifacts: Mapping[str, dict[str, Any]]) -> list[CodeMatch]:
        matches = []
        for name, address in self.addresses.items():
            artifact = artifacts[name]
            match = compare_code(name, address, self.reader.code(address, self.block), artifact)
            matches.append(match)
            if match.match == "missing":
                self.find("code_missing", match.detail, block=self.block, contract=name, address=address)
            elif match.match == "mismatch":
                self.find(
                    "code_mismatch",
                    f"{name} at {address}: {match.detail}",
                    block=self.block,
                    contract=name,
                    address=address,
                    first_difference=match.first_difference,
                    differing_bytes=match.differing_bytes,
                    on_chain_length=match.on_chain_length,
                    expected_length=match.expected_length,
                    artifact=match.artifact,
                    compiler=match.compiler,
                    source_hash=match.source_hash,
                )
        d = self.deployment
        if (
            d.source_hash
            and artifacts["points"].get("sourceHash")
            and d.source_hash != artifacts["points"]["sourceHash"]
        ):
            self.find(
                "deployment_mismatch",
                f"the deployment record names source {d.source_hash}; "
                f"the artifacts are of {artifacts['points']['sourceHash']}",
                block=d.block_number,
                recorded=d.source_hash,
                artifacts=artifacts["points"]["sourceHash"],
            )
        deploy_txs = (("points", d.points_tx), ("badges", d.badges_tx), ("anchors", d.anchors_tx))
        missing = [h for _, h in deploy_txs if h not in self.transactions]
        senders = {h: s for h, (s, _) in self.transactions.items()}
        if missing:
            with contextlib.suppress(AuditNodeError):  # no such transaction: the receipt check says so
                senders.update({h: s for h, (s, _) in self.reader.transactions(missing).items()})
        for name, tx_hash in deploy_txs:
            receipt = self.reader.receipt(tx_hash)
            problems = []
            if receipt is None:
                problems.append(f"no transaction {tx_hash} on this chain")
            else:
                created, block_number = _creation(receipt)
                if not created or to_checksum_address(created) != self.addresses[name]:
                    problems.append(f"{tx_hash} created {created}, not {self.addresses[name]}")
                sender = senders.get(tx_hash)
                if sender and to_checksum_address(sender) != to_checksum_address(d.deployer):
                    problems.append(f"{tx_hash} was sent by {sender}, not the recorded deployer {d.deployer}")
                if name == "points" and block_number != d.block_number:
                    problems.append(f"{tx_hash} is in block {block_number}, the record says {d.block_number}")
            for problem in problems:
                self.find(
                    "deployment_mismatch", f"{name}: {problem}", block=d.block_number, contract=name, tx_hash=tx_hash
                )
        return matches

    # ------------------------------------------------------------------ anchors

    def check_anchors(self, records: Path | Sequence[Any] | None, gap_seconds: int) -> dict[str, Any]:
        """The anchored periods in time order and the gaps between them (every gap is listed; one
        longer than ``gap_seconds`` is an ``anchor_gap`` warning), and the records file."""
        periods = sorted(self.anchors, key=lambda a: (a.period_start, a.period_end))
        gaps = []
        covered_until: int | None = None
        previous: RecordsAnchored | None = None
        for period in periods:
            if covered_until is not None and previous is not None and period.period_start > covered_until + 1:
                gap: dict[str, Any] = {
                    "from": covered_until,
                    "to": period.period_start,
                    "seconds": period.period_start - covered_until,
                }
                gaps.append(gap)
                if gap["seconds"] > gap_seconds:
                    self.find(
                        "anchor_gap",
                        f"no anchored period covers {_iso(covered_until)} to {_iso(period.period_start)}",
                        record=period,
                        severity="warning",
                        previous_root=previous.root,
                        next_root=period.root,
                        **gap,
                    )
            if covered_until is None or period.period_end > covered_until:
                covered_until, previous = period.period_end, period
        summary: dict[str, Any] = {
            "periods": [
                {
                    "root": a.root,
                    "period_start": a.period_start,
                    "period_end": a.period_end,
                    "records": a.records,
                    "block": a.ref.block_number,
                    "anchored_at": self.times[a.ref.block_number],
                    "tx_hash": a.ref.tx_hash,
                }
                for a in periods
            ],
            "gaps": gaps,
            "records_file": None,
        }
        if records is not None:
            summary["records_file"] = self._check_records(records)
        summary["gap_seconds"] = gap_seconds
        return summary

    def _check_records(self, records: Path | Sequence[Any]) -> dict[str, Any]:
        """Each entry of the city's export of anchored records (a JSON file, or its entries):
        its leaf recomputed from its content, and proven in its root with the anchors contract's
        own ``verifyRecord`` (an entry whose content was erased, ``content_hash`` null, can only
        have its leaf proven)."""
        name = str(records) if isinstance(records, Path) else "the records given"
        summary: dict[str, Any] = {"file": name, "entries": 0, "verified": 0, "erased": 0}
        if isinstance(records, Path):
            try:
                entries = json.loads(records.read_text(encoding="utf-8"))
                if not isinstance(entries, list):
                    raise ValueError("the file is not a JSON list")
            except (OSError, ValueError) as exc:
                self.find("records_file_invalid", f"{records} cannot be read: {exc}", block=self.block, file=name)
                return summary
        else:
            entries = list(records)
        summary["entries"] = len(entries)
        parsed: list[_AnchoredEntry] = []
        for index, entry in enumerate(entries):
            try:
                parsed.append(_AnchoredEntry.of(index, entry))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                self.find(
                    "records_file_invalid",
                    f"entry {index} of {name} cannot be read: {exc!r}",
                    block=self.block,
                    index=index,
                )
        anchors = self.addresses["anchors"]
        verify = "verifyRecord(bytes32,bytes32[],bytes32)"
        verify_types = ["bytes32", "bytes32[]", "bytes32"]
        roots = sorted({e.root for e in parsed})
        calls = [(anchors, _calldata("anchorOf(bytes32)", ["bytes32"], [r])) for r in roots]
        for e in parsed:
            calls.append((anchors, _calldata(verify, verify_types, [e.root, e.proof, e.leaf])))
            if e.recomputed is not None:
                calls.append((anchors, _calldata(verify, verify_types, [e.root, e.proof, e.recomputed])))
        answers = _Answers(self.reader.call_many(calls, self.block))
        anchor_of: dict[bytes, tuple[int, int, int, int] | None] = {}
        for root in roots:
            decoded = answers.abi(f"anchorOf(0x{root.hex()})", ["(uint64,uint64,uint64,uint32)"])
            if decoded is None:
                anchor_of[root] = None
            else:
                start, end, anchored_at, count = (int(v) for v in decoded[0])
                anchor_of[root] = (start, end, anchored_at, count)
        # A root not anchored at the audited block may have been anchored since (an export is
        # taken now, an audit may look at an earlier or the last final block): those records are
        # outside this audit, said once per root; a root anchored nowhere is an error below.
        unanchored = [r for r in roots if anchor_of[r] is not None and anchor_of[r][2] == 0]  # type: ignore[index]
        later: set[bytes] = set()
        if unanchored and self.head > self.block:
            since = _Answers(
                self.reader.call_many(
                    [(anchors, _calldata("anchorOf(bytes32)", ["bytes32"], [r])) for r in unanchored], self.head
                )
            )
            for root in unanchored:
                decoded = since.abi(f"anchorOf(0x{root.hex()}) at the head", ["(uint64,uint64,uint64,uint32)"])
                if decoded is not None and int(decoded[0][2]) != 0:
                    later.add(root)
                    self.find(
                        "records_anchored_later",
                        f"root 0x{root.hex()} was anchored after block {self.block}: its "
                        f"{sum(1 for e in parsed if e.root == root)} records are not checked at this block",
                        block=self.block,
                        severity="warning",
                        root="0x" + root.hex(),
                    )
            self._unreadable(since)
        for e in parsed:
            if e.root in later:
                continue
            given_answer = answers.uint(f"verifyRecord(leaf of entry {e.index})")
            content_answer = None
            if e.recomputed is not None:
                content_answer = answers.uint(f"verifyRecord(content of entry {e.index})")
            found = anchor_of[e.root]
            if found is None or given_answer is None or (e.recomputed is not None and content_answer is None):
                continue  # unreadable: reported once, below
            proves_given, proves_content = bool(given_answer), bool(content_answer)
            start, end, anchored_at, _ = found
            evidence = e.evidence()
            what = f"{e.record_type} {e.record_id}"
            if anchored_at == 0:
                self.find(
                    "record_not_anchored",
                    f"{what}: root 0x{e.root.hex()} was never anchored",
                    block=self.block,
                    **evidence,
                )
                continue
            if e.recomputed is not None and e.recomputed != e.leaf:
                self.find(
                    "record_altered",
                    f"{what}: its content gives leaf 0x{e.recomputed.hex()}, not the leaf 0x{e.leaf.hex()} "
                    + ("anchored in" if proves_given else "claimed for")
                    + f" root 0x{e.root.hex()}",
                    block=self.block,
                    original_leaf_proven=proves_given,
                    **evidence,
                )
                continue
            if not (proves_content or (e.recomputed is None and proves_given)):
                self.find(
                    "record_proof_invalid",
                    f"{what}: its proof does not lead from its leaf to the anchored root 0x{e.root.hex()}",
                    block=self.block,
                    proof_length=len(e.proof),
                    **evidence,
                )
                continue
            summary["verified"] += 1
            if e.recomputed is None:
                summary["erased"] += 1
            elif e.at is not None and not start <= e.at <= end:
                self.find(
                    "record_outside_period",
                    f"{what} is dated {_iso(e.at or 0)}, outside its anchor's period {_iso(start)} to {_iso(end)}",
                    block=self.block,
                    period_start=start,
                    period_end=end,
                    **evidence,
                )
        self._unreadable(answers)
        return summary

    # ------------------------------------------------------------------ totals

    def totals(self) -> dict[str, Any]:
        by_kind: dict[int, dict[str, Any]] = {}
        by_week: dict[str, dict[str, Any]] = {}
        citizens: set[str] = set()
        awarded_points = reversed_points = redeemed_points = 0

        def week_of(block: int) -> dict[str, Any]:
            day = self.day_of(block)
            key = _week(day)
            return by_week.setdefault(
                key,
                {
                    "week": key,
                    "starts": _week_start(day),
                    "awards": 0,
                    "points": 0,
                    "reversed_points": 0,
                    "redeemed_points": 0,
                    "badges": 0,
                },
            )

        def kind_of(kind: int) -> dict[str, Any]:
            label = self.kinds.get(kind, (False, ""))[1]
            return by_kind.setdefault(
                kind, {"kind": kind, "label": label, "awards": 0, "points": 0, "reversals": 0, "reversed_points": 0}
            )

        reversals, revocations, reissues, redemptions = [], [], [], []
        by_event: dict[int, dict[str, Any]] = {}
        for event_id, created in self.events.items():
            by_event[event_id] = {
                "event_id": event_id,
                "venue": created.venue.name.lower(),
                "capacity": created.capacity,
                "claim_start": created.claim_start,
                "claim_end": created.claim_end,
                "created_block": created.ref.block_number,
                "issued": 0,
                "revoked": 0,
                "reissued": 0,
                "held": 0,
            }

        def event_of(event_id: int) -> dict[str, Any]:
            return by_event.setdefault(
                event_id,
                {
                    "event_id": event_id,
                    "venue": "?",
                    "capacity": 0,
                    "issued": 0,
                    "revoked": 0,
                    "reissued": 0,
                    "held": 0,
                },
            )

        by_reward: dict[int, dict[str, Any]] = {}
        for record in self.records:
            block = record.ref.block_number
            match record:
                case AwardRecorded():
                    citizens.add(record.citizen)
                    awarded_points += record.points
                    k = kind_of(record.kind)
                    k["awards"] += 1
                    k["points"] += record.points
                    w = week_of(block)
                    w["awards"] += 1
                    w["points"] += record.points
                case AwardReversed():
                    reversed_points += record.points
                    award = self.awarded.get(record.activity_id)
                    if award is not None:
                        k = kind_of(award.kind)
                        k["reversals"] += 1
                        k["reversed_points"] += record.points
                    week_of(block)["reversed_points"] += record.points
                    reversals.append(
                        {
                            "activity_id": record.activity_id,
                            "citizen": record.citizen,
                            "points": record.points,
                            "reason_code": record.reason_code,
                            "block": block,
                            "time": self.times[block],
                            "tx_hash": record.ref.tx_hash,
                        }
                    )
                case PointsRedeemed():
                    redeemed_points += record.points
                    week_of(block)["redeemed_points"] += record.points
                    r = by_reward.setdefault(
                        record.reward_id, {"reward_id": record.reward_id, "redemptions": 0, "points": 0}
                    )
                    r["redemptions"] += 1
                    r["points"] += record.points
                    redemptions.append(
                        {
                            "citizen": record.citizen,
                            "reward_id": record.reward_id,
                            "points": record.points,
                            "relayer": record.relayer,
                            "block": block,
                            "tx_hash": record.ref.tx_hash,
                        }
                    )
                case BadgeIssued():
                    event_of(record.event_id)["issued"] += 1
                    week_of(block)["badges"] += 1
                case BadgeRevoked():
                    event_of(record.event_id)["revoked"] += 1
                    revocations.append(
                        {
                            "event_id": record.event_id,
                            "attendee": record.attendee,
                            "reason_code": record.reason_code,
                            "block": block,
                            "time": self.times[block],
                            "tx_hash": record.ref.tx_hash,
                        }
                    )
                case BadgeReissued():
                    event_of(record.event_id)["reissued"] += 1
                    reissues.append(
                        {
                            "event_id": record.event_id,
                            "attendee": record.attendee,
                            "reason_code": record.reason_code,
                            "block": block,
                            "tx_hash": record.ref.tx_hash,
                        }
                    )
        for (_, event_id), held in self.badges.items():
            if held:
                event_of(event_id)["held"] += 1

        def by_reason(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
            counts: dict[int, int] = defaultdict(int)
            for item in items:
                counts[item["reason_code"]] += 1
            return [{"reason_code": code, "count": n} for code, n in sorted(counts.items())]

        rebindings = [
            {
                "old": r.old,
                "new": r.new,
                "reason_code": r.reason_code,
                "block": r.ref.block_number,
                "tx_hash": r.ref.tx_hash,
            }
            for r in self.rebound_away.values()
        ]
        kinds_enabled = {k: {"enabled": e, "label": label} for k, (e, label) in sorted(self.kinds.items())}
        return {
            "records": len(self.records),
            "transactions": len(self.transactions),
            "citizens_awarded": len(citizens),
            "addresses_with_points": sum(1 for a, b in self.balances.items() if b),
            "awards": len(self.awarded),
            "points_awarded": awarded_points,
            "reversals": len(reversals),
            "points_reversed": reversed_points,
            "redemptions": len(redemptions),
            "points_redeemed": redeemed_points,
            "rebuilt_supply": self.supply,
            "events": len(self.events),
            "badges_issued": sum(e["issued"] for e in by_event.values()),
            "badges_revoked": len(revocations),
            "badges_reissued": len(reissues),
            "badges_held": sum(1 for held in self.badges.values() if held),
            "rebindings": rebindings,
            "by_kind": [by_kind[k] for k in sorted(by_kind)],
            "by_week": [by_week[k] for k in sorted(by_week)],
            "by_event": [by_event[k] for k in sorted(by_event)],
            "by_reward": [by_reward[k] for k in sorted(by_reward)],
            "reversal_list": reversals,
            "reversals_by_reason": by_reason(reversals),
            "revocation_list": revocations,
            "revocations_by_reason": by_reason(revocations),
            "reissue_list": reissues,
            "redemption_list": redemptions,
            "limits_history": self.limit_history,
            "activity_kinds": kinds_enabled,
            "pauses": [
                {
                    "contract": p.contract_name,
                    "paused": p.paused,
                    "by": p.by,
                    "block": p.ref.block_number,
                    "tx_hash": p.ref.tx_hash,
                }
                for p in self.pauses
            ],
        }

    def roles(self) -> dict[str, Any]:
        return {
            "changes": self.role_changes,
            "holders": [
                {**asdict(h), "role": _ROLE_NAMES.get(h.role_id, h.role_id)}
                for h in sorted(self.holdings, key=lambda h: (h.contract, h.role_id, h.from_block, h.account))
            ],
            "current": {
                f"{contract}:{_ROLE_NAMES.get(role_id, role_id)}": sorted(members)
                for (contract, role_id), members in sorted(self.holders.items())
                if members
            },
        }


def _creation(receipt: Any) -> tuple[str | None, int]:
    """The contract a receipt's transaction created, and its block (a receipt object, or the
    mapping web3 gives)."""
    if isinstance(receipt, Mapping):
        created = receipt.get("contractAddress")
        return (str(created) if created else None), int(receipt["blockNumber"])
    created = getattr(receipt, "contract_address", None)
    return (str(created) if created else None), int(receipt.block_number)


def _iso(timestamp: int) -> str:
    try:
        return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return str(timestamp)


def _day_iso(day: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def _check_proof_files(chain: Chain, proof_files: Sequence[Path], block: int) -> tuple[list[Finding], int]:
    from ..proofs import check_proof

    findings = []
    passed = 0
    for path in proof_files:
        try:
            proof = json.loads(Path(path).read_text(encoding="utf-8"))
            checks = check_proof(proof, chain)
        except (OSError, ValueError) as exc:
            findings.append(
                Finding("proof_invalid", f"{path} is not a proof file: {exc}", block, None, {"file": str(path)})
            )
            continue
        failed = next((c for c in checks if c.outcome != "passed"), None)
        if failed is None:
            passed += 1
            continue
        findings.append(
            Finding(
                "proof_invalid",
                f"{Path(path).name}: check {failed.name} {failed.outcome}: {failed.detail}",
                int(proof.get("block_number", block)) if isinstance(proof, dict) else block,
                None,
                {
                    "file": str(path),
                    "failed_check": failed.name,
                    "outcome": failed.outcome,
                    "detail": failed.detail,
                    "checks": [asdict(c) for c in checks],
                },
            )
        )
    return findings, passed


def run_audit(
    chain: Chain,
    deployment: Deployment,
    *,
    at_block: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    records_file: Path | Sequence[Mapping[str, Any]] | None = None,
    proof_files: Sequence[Path] = (),
    stage: Callable[[str], None] | None = None,
    reader: NodeReader | None = None,
    artifacts: Mapping[str, dict[str, Any]] | None = None,
    anchor_gap_seconds: int = 86_400,
) -> AuditReport:
    """Audits the whole programme of ``deployment`` on ``chain`` at ``at_block`` (default: the head).

    Scans every log of the three contracts from the deployment block (``progress(done, total)``
    in blocks; ``stage(name)`` names each phase: ``scan``, ``transactions``, ``blocks``,
    ``replay``, ``state``, ``roots``, ``code``, ``anchors``, ``proofs``), then checks: the state
    rebuilt from the events against the contracts' state at ``at_block``; that every act's
    sender held the role it needed at its block; the limits in force at each block and the
    activity ids; each award batch's Merkle root; the code at each address against the committed
    artifacts; the anchored periods and, with ``records_file`` (a JSON file, or its entries as
    a list, e.g. the service's own export), the city's published off-chain
    records (a gap of more than ``anchor_gap_seconds`` between anchored periods is a warning);
    with ``proof_files``, proof files of single records. Node failures are retried;
    a node that keeps failing raises :class:`ledger.audit.AuditNodeError`.
    """
    started = time.monotonic()
    if chain.chain_id != deployment.chain_id:
        raise DeploymentError(f"the deployment is for chain {deployment.chain_id}; the node is chain {chain.chain_id}")
    reader = reader or NodeReader(chain)
    say = stage or (lambda _: None)
    head = reader._retrying("eth_blockNumber", chain.head)
    block = head if at_block is None else at_block
    if not deployment.block_number <= block <= head:
        raise InvalidInput(f"block {block} is outside the programme: blocks {deployment.block_number} to {head}")
    abis = {name: load_artifact(ARTIFACTS[name])["abi"] for name in deployment.contracts}
    decoder = EventDecoder(chain.chain_id, deployment.contracts, abis)

    say("scan")
    records: list[ChainRecord] = []
    for logs in reader.scan_logs(decoder.addresses, deployment.block_number, block, progress):
        records.extend(decoder.decode(logs))
    scanned = time.monotonic()
    say("transactions")
    transactions = reader.transactions([r.ref.tx_hash for r in records])
    say("blocks")
    times = reader.block_times([r.ref.block_number for r in records] + [block])
    block_hash = reader.block_hash(block)

    audit = _Audit(reader, deployment, decoder, records, times, transactions, block, head)
    say("replay")
    audit.replay()
    audit.check_pairs()
    say("state")
    state = audit.check_state()
    say("roots")
    batches = audit.check_roots()
    say("code")
    code = audit.check_code(artifacts or {name: load_artifact(ARTIFACTS[name]) for name in deployment.contracts})
    say("anchors")
    anchors = audit.check_anchors(records_file, anchor_gap_seconds)
    proofs_passed = 0
    if proof_files:
        say("proofs")
        proof_findings, proofs_passed = _check_proof_files(chain, proof_files, block)
        audit.findings.extend(proof_findings)

    counts: dict[str, int] = defaultdict(int)
    warnings: dict[str, int] = defaultdict(int)
    for finding in audit.findings:
        if finding.severity == "error":
            counts[finding.check] += 1
        else:
            warnings[finding.check] += 1
    details = {
        "state_matches_events": (
            f"{state['balances_checked']} balances, the total supply, "
            f"{state['badge_holdings_checked']} badge holdings, "
            f"the limits, the last activity id, {len(audit.reversed)} reversals and {state['roles_checked']} role "
            f"holdings read at block {block}"
        ),
        "records_consistent": f"{len(records)} records: every balance change explained by an act",
        "acts_authorised": (
            f"{len(transactions)} transactions' senders against {len(audit.role_changes)} role changes"
        ),
        "limits_respected": (
            f"{len(audit.awarded)} awards against {len(audit.limit_history)} limit settings and the city's days "
            f"(UTC{deployment.day_offset_seconds / 3600:+g}h)"
        ),
        "award_roots_match": f"{batches} award batches' Merkle roots recomputed",
        "code_matches_source": ", ".join(f"{c.name}: {c.summary}" for c in code),
        "anchors": f"{len(audit.anchors)} anchored periods"
        + (f"; {anchors['records_file']['entries']} off-chain records checked" if anchors["records_file"] else ""),
        "proof_files": f"{len(proof_files)} proof files, {proofs_passed} verified"
        if proof_files
        else "no proof files given",
    }
    checks = []
    for name in CHECKS:
        outcome = "failed" if counts[name] else "passed"
        if name == "proof_files" and not proof_files:
            outcome = "skipped"
        checks.append(CheckResult(name, outcome, details[name], counts[name], warnings[name]))  # type: ignore[arg-type]

    findings = sorted(audit.findings, key=lambda f: (f.block if f.block is not None else -1, f.kind))
    return AuditReport(
        chain_id=chain.chain_id,
        deployment=asdict(deployment),
        audited_block=block,
        audited_block_hash=block_hash,
        audited_block_time=times[block],
        from_block=deployment.block_number,
        findings=findings,
        checks=checks,
        totals={**audit.totals(), "state": state},
        code=code,
        roles=audit.roles(),
        anchors=anchors,
        scan={
            **asdict(reader.stats),
            "from_block": deployment.block_number,
            "to_block": block,
            "records": len(records),
            "scan_seconds": round(scanned - started, 3),
            "duration_seconds": round(time.monotonic() - started, 3),
        },
        records=records,
        block_times=times,
        senders={h: s for h, (s, _) in transactions.items()},
        contract_names={a: n for n, a in audit.addresses.items()},
    )
