"""Stateful property test: random sequences of ledger actions against the real contracts.

A plain-Python model tracks what the contracts should hold: each address's balance, consent
nonce and total for the city's current day, which addresses were re-bound where, the last
activity id, awarded and reversed activities, badges held and revoked. Every rule predicts from
the model whether the action succeeds or which custom error (with which values) it must raise,
and applies it to the model only on success. After every step the chain is read back and
compared with the model, and the records in the logs are replayed: balances must be the sum of
the records (awards minus reversals and redemptions, moved by re-bindings, and again from the
ERC-20 ``Transfer``s alone), the total supply the sum of balances, and badge holdings what the
badge records say.

Each Hypothesis example builds its own eth-tester chain and deployment in ``__init__``. The chain
is then moved to 01:00 of a day in the city's time zone far in the future, so blocks advance one
second each and the contract's day changes only when a rule advances time by a day.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from typing import Any

import eth  # noqa: F401  (py-evm raises the recursion limit on import: do it before Hypothesis runs)
import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import (
    function_abi_to_4byte_selector,
    get_abi_input_types,
    get_abi_output_types,
    keccak,
    to_bytes,
)
from hypothesis import HealthCheck, settings
from hypothesis import event as note_outcome
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ledger import (
    ActivityAward,
    AwardRecorded,
    AwardReversed,
    BadgeIssued,
    BadgeRevoked,
    BadgesMoved,
    CitizenRebound,
    Ledger,
    PointsRedeemed,
    PointsTransferred,
    RebindingConsent,
    Venue,
    load_artifact,
    merkle,
)
from ledger.errors import (
    ActivityAlreadyReversed,
    ActivityIdNotIncreasing,
    AlreadyHasBadge,
    AwardNotFound,
    AwardTooLarge,
    BadgeNotRevoked,
    BadgeWasRevoked,
    DailyCapExceeded,
    InsufficientPoints,
    InvalidCitizen,
    InvalidInput,
    InvalidRebinding,
    LedgerError,
    LedgerPaused,
    NoBadge,
    PointsNonTransferable,
    RebindTargetHoldsBadges,
    UnknownActivityKind,
)
from tests.conftest import contract, eth_tester_chain

DAY = 86_400
MAX_AWARD = 1_000
# Lower than the fixture's 3,000 so that a 25-step run reaches the cap now and then.
DAILY_CAP = 1_500
POOL = 4
EVENTS = 2
SLOT = st.integers(min_value=0, max_value=POOL - 1)
EVENT = st.integers(min_value=0, max_value=EVENTS - 1)
REASON = st.integers(0, 2**16 - 1)
# Up to the per-award maximum, mostly small: batches of several awards reach the daily cap now and then.
AWARD_POINTS = st.integers(min_value=1, max_value=300) | st.integers(min_value=1, max_value=MAX_AWARD)
# Most batches are well formed; the rest carry one anomaly each.
ANOMALY = st.sampled_from(["none", "none", "none", "reused id", "lost key", "too large", "kind"])

Expected = tuple[type[LedgerError], dict[str, Any] | None] | None


def _key(label: str) -> LocalAccount:
    """A fixed account per label, so a failing example replays with the same addresses."""
    return Account.from_key(keccak(text=f"civic-ledger-properties/{label}"))


Signature = tuple[bytes, list[str], list[str]]  # selector, input types, output types


def _signatures(artifact: str) -> dict[str, Signature]:
    abi = load_artifact(artifact)["abi"]
    return {
        f["name"]: (function_abi_to_4byte_selector(f), get_abi_input_types(f), get_abi_output_types(f))
        for f in abi
        if f["type"] == "function"
    }


SIGNATURES = {"points": _signatures("CivicPoints"), "badges": _signatures("CivicBadges")}


class LedgerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.chain = eth_tester_chain()
        self.city = _key("city")
        self.chain.fund(self.city.address)
        self.ledger = Ledger.deploy(self.chain.chain, self.city, max_points_per_award=MAX_AWARD, daily_cap=DAILY_CAP)
        self.offset = self.ledger.deployment.day_offset_seconds
        now = self.chain.now()
        start = ((now + self.offset) // DAY + 1_000) * DAY + 3_600 - self.offset
        self.chain.advance(start - now)
        self.tester = self.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        self.points = contract(self.chain, self.ledger, "points")
        self.addresses = {"points": self.points.address, "badges": self.ledger.deployment.badges_address}
        self.keys: dict[str, LocalAccount] = {}
        #: Each citizen's keys, oldest first: the last one is where the record lives now.
        self.slots = [[self._new_key(f"citizen-{i}")] for i in range(POOL)]
        now = self.ledger.chain_time()
        self.events = [self.ledger.create_event(Venue(i % 2), now, now + 400 * DAY, 0)[0] for i in range(EVENTS)]
        self.voucher_nonce = 0
        # The model.
        self.day = (self.chain.now() + self.offset) // DAY
        self.balances: dict[str, int] = {}
        self.day_totals: dict[str, tuple[int, int]] = {}  # address -> (day, points that day)
        self.consent_nonces: dict[str, int] = {}
        #: Addresses whose record on-chain is not blank (a re-binding needs a blank target).
        self.touched: set[str] = set()
        self.rebound_to: dict[str, str] = {}
        self.rebindings: list[RebindingConsent] = []
        self.kinds = {0}
        self.last_id = 0
        self.awarded: dict[int, ActivityAward] = {}
        self.batch_of: dict[int, list[ActivityAward]] = {}  # activity id -> its whole batch
        self.award_tx: dict[int, str] = {}
        self.reversed: set[int] = set()
        self.badges: set[tuple[int, str]] = set()  # (event index, address) held
        self.revoked: set[tuple[int, str]] = set()  # (event index, address) revoked
        # The records replayed from the logs so far.
        self.scanned = self.ledger.deployment.block_number - 1
        self.from_records: dict[str, int] = {}
        self.from_transfers: dict[str, int] = {}
        self.badges_on_record: set[tuple[int, str]] = set()
        self.awards_on_record: dict[int, tuple[str, int]] = {}
        self.reversals_on_record: dict[int, tuple[str, int]] = {}

    # ------------------------------------------------------------------ helpers

    def _new_key(self, label: str) -> LocalAccount:
        key = _key(label)
        self.chain.fund(key.address)  # gas for the citizen's own redemptions
        self.keys[key.address] = key
        return key

    def _current(self, slot: int) -> str:
        return str(self.slots[slot][-1].address)

    def _holder(self, address: str) -> str:
        while address in self.rebound_to:
            address = self.rebound_to[address]
        return address

    def _today(self, address: str) -> int:
        day, total = self.day_totals.get(address, (self.day, 0))
        return total if day == self.day else 0

    def _check(self, label: str, expected: Expected, action: Callable[[], Any]) -> Any:
        """Runs ``action``; its result if it succeeded as the model expected, else asserts the
        error (exact class and values) and returns None."""
        if expected is None:
            result = action()
            note_outcome(f"{label}: ok")
            return result if result is not None else True
        error, values = expected
        note_outcome(f"{label}: {error.__name__}")
        with pytest.raises(error) as info:
            action()
        assert type(info.value) is error
        if values is not None:
            assert info.value.values == values
        return None

    def _eth_call(self, call: Any, sender: str) -> Any:
        """A contract call as ``sender`` would send it, checked by the node (nothing is mined)."""
        with self.chain.chain.translated("calling"):
            return call.call({"from": sender})

    # ------------------------------------------------------------------ points

    def _predict_awards(self, awards: list[ActivityAward]) -> Expected:
        """The contract's checks in its order, award by award, with running totals."""
        last = self.last_id
        running: dict[str, int] = {}
        for award in awards:
            activity_id, citizen, points = award.activity_id, award.citizen, award.points
            if activity_id <= last:
                return ActivityIdNotIncreasing, {"activity_id": activity_id, "last_activity_id": last}
            if points > MAX_AWARD:
                return AwardTooLarge, {"activity_id": activity_id, "points": points, "max_points_per_award": MAX_AWARD}
            if award.kind not in self.kinds:
                return UnknownActivityKind, {"activity_id": activity_id, "kind": award.kind}
            if citizen in self.rebound_to:
                return InvalidCitizen, {"citizen": citizen}
            so_far = running.get(citizen, self._today(citizen))
            if so_far + points > DAILY_CAP:
                return DailyCapExceeded, {
                    "citizen": citizen,
                    "awarded_today": so_far,
                    "points": points,
                    "daily_cap": DAILY_CAP,
                }
            running[citizen] = so_far + points
            last = activity_id
        return None

    @rule(
        data=st.data(),
        items=st.lists(st.tuples(SLOT, AWARD_POINTS), min_size=1, max_size=5),
        anomaly=ANOMALY,
    )
    def award(self, data: st.DataObject, items: list[tuple[int, int]], anomaly: str) -> None:
        """A batch of one to five awards with at most one anomaly: an id that is not above the
        last one, an award to a re-bound (lost) address, one above the per-award maximum, or of
        a kind not enabled. Whatever the anomaly, the model alone predicts the outcome (the
        daily cap is reached by the points themselves)."""
        where = data.draw(st.integers(0, len(items) - 1), label="anomaly at")
        awards = []
        activity_id = self.last_id
        for i, (slot, points) in enumerate(items):
            if anomaly == "reused id" and i == where:
                activity_id = max(1, activity_id + data.draw(st.integers(-2, 0), label="id step"))
            else:
                activity_id += data.draw(st.integers(1, 3), label="id step")
            keys = self.slots[slot]
            key = keys[-1]
            kind = 0
            if i == where and anomaly == "lost key" and len(keys) > 1:
                key = data.draw(st.sampled_from(keys[:-1]), label="lost key")
            elif i == where and anomaly == "too large":
                points = data.draw(st.integers(MAX_AWARD + 1, MAX_AWARD + 200), label="points")
            elif i == where and anomaly == "kind":
                kind = data.draw(st.sampled_from([1, 2]), label="kind")
            awards.append(ActivityAward(activity_id, key.address, points, kind=kind))
        if any(b.activity_id <= a.activity_id for a, b in itertools.pairwise(awards)):
            # Not increasing within the batch: the ledger refuses it before sending anything.
            self._check("award_out_of_order", (InvalidInput, None), lambda: self.ledger.award_points(awards))
            return
        self._award("award", awards)

    @initialize(items=st.lists(st.tuples(SLOT, AWARD_POINTS), min_size=1, max_size=POOL, unique_by=lambda i: i[0]))
    def first_awards(self, items: list[tuple[int, int]]) -> None:
        """Every run starts with a well-formed batch, so the rules act on real balances."""
        awards = [ActivityAward(i + 1, self._current(slot), points) for i, (slot, points) in enumerate(items)]
        self._award("first_awards", awards)

    def _award(self, label: str, awards: list[ActivityAward]) -> None:
        results = self._check(label, self._predict_awards(awards), lambda: self.ledger.award_points(awards))
        if results is None:
            return
        (result,) = results
        for award in awards:
            self.awarded[award.activity_id] = award
            self.batch_of[award.activity_id] = awards
            self.award_tx[award.activity_id] = result.tx_hash
            self.balances[award.citizen] = self.balances.get(award.citizen, 0) + award.points
            self.day_totals[award.citizen] = (self.day, self._today(award.citizen) + award.points)
            self.touched.add(award.citizen)
        self.last_id = awards[-1].activity_id

    @rule(kind=st.sampled_from([1, 2]), enabled=st.booleans())
    def set_activity_kind(self, kind: int, enabled: bool) -> None:
        self.ledger.set_activity_kind(kind, enabled, f"kind-{kind}")
        if enabled:
            self.kinds.add(kind)
        else:
            self.kinds.discard(kind)

    @rule(data=st.data(), reward_id=st.integers(0, 3), with_consent=st.booleans())
    def redeem(self, data: st.DataObject, reward_id: int, with_consent: bool) -> None:
        """The city relays the citizen's signed consent, or the citizen redeems from their own
        account (any key, a lost one included)."""
        key = self.keys[data.draw(st.sampled_from(sorted(self.keys)), label="key")]
        address = str(key.address)
        balance = self.balances.get(address, 0)
        # Drawn around the balance so that both outcomes are common.
        points = data.draw(st.integers(min_value=0, max_value=balance + 300), label="points")
        expected: Expected = None
        if points == 0 or points > balance:
            expected = InsufficientPoints, {"citizen": address, "balance": balance, "needed": points}
        if with_consent:
            consent = self.ledger.sign_redemption(key, points, reward_id)
            assert consent.nonce == self.consent_nonces.get(address, 0)
            if self._check("redeem_with_consent", expected, lambda: self.ledger.redeem_with_consent(consent)):
                self.balances[address] = balance - points
                self.consent_nonces[address] = consent.nonce + 1
                self.touched.add(address)
        elif self._check("redeem", expected, lambda: self.ledger.redeem(key, points, reward_id)):
            self.balances[address] = balance - points

    @precondition(lambda self: bool(self.awarded))
    @rule(data=st.data(), reason=REASON, from_tx=st.booleans())
    def reverse(self, data: st.DataObject, reason: int, from_tx: bool) -> None:
        """Reverses an award (found from its transaction, or by scanning the logs): the points
        come back from wherever the citizen's record lives now."""
        activity_id = data.draw(st.sampled_from(sorted(self.awarded)), label="activity_id")
        award = self.awarded[activity_id]
        holder = self._holder(award.citizen)
        balance = self.balances.get(holder, 0)
        expected: Expected = None
        if activity_id in self.reversed:
            expected = ActivityAlreadyReversed, {"activity_id": activity_id}
        elif balance < award.points:
            expected = InsufficientPoints, {"citizen": holder, "balance": balance, "needed": award.points}
        award_tx = self.award_tx[activity_id] if from_tx else None
        result = self._check(
            "reverse", expected, lambda: self.ledger.reverse_award(activity_id, reason, award_tx=award_tx)
        )
        if result is None:
            return
        (reversal,) = [r for r in result.records if isinstance(r, AwardReversed)]
        assert (reversal.activity_id, reversal.citizen, reversal.points) == (activity_id, holder, award.points)
        self.reversed.add(activity_id)
        self.balances[holder] = balance - award.points

    @rule(data=st.data(), forgery=st.sampled_from(["citizen", "more", "fewer", "unawarded"]))
    def reverse_forged(self, data: st.DataObject, forgery: str) -> None:
        """An admin's reversal that names another citizen or amount than the award, or an
        activity never awarded, proves nothing: the contract finds no such award."""
        reverse = self.points.functions.reverseAward
        if forgery == "unawarded" or not self.awarded:
            unawarded = [i for i in range(1, self.last_id + 4) if i not in self.awarded]
            activity_id = data.draw(st.sampled_from(unawarded), label="activity_id")
            slot = data.draw(SLOT, label="slot")
            # The ledger finds no record to reverse; the contract refuses any citizen and amount.
            self._check("reverse_unawarded", (InvalidInput, None), lambda: self.ledger.reverse_award(activity_id, 1))
            forged = ActivityAward(activity_id, self._current(slot), 100)
            call = reverse(forged.head, forged.body, activity_id, [], 1)
        else:
            activity_id = data.draw(st.sampled_from(sorted(self.awarded)), label="activity_id")
            award = self.awarded[activity_id]
            if forgery == "citizen":
                others = sorted({self._current(s) for s in range(POOL)} - {award.citizen})
                changes: dict[str, Any] = {"citizen": data.draw(st.sampled_from(others), label="other")}
            else:
                changes = {"points": award.points + 1 if forgery == "more" or award.points == 1 else award.points - 1}
            forged = dataclasses.replace(award, **changes)
            batch = self.batch_of[activity_id]
            tree = merkle.make_tree([a.leaf() for a in batch])
            proof = merkle.proof_for(tree, batch.index(award))
            call = reverse(forged.head, forged.body, batch[0].activity_id, proof, 1)
        expected = AwardNotFound, {"activity_id": activity_id}
        self._check(f"reverse_forged_{forgery}", expected, lambda: self._eth_call(call, self.city.address))

    @rule(
        function=st.sampled_from(["transfer", "approve", "transferFrom"]),
        sender=SLOT,
        to=SLOT,
        amount=st.integers(0, 2_000),
    )
    def transfer(self, function: str, sender: int, to: int, amount: int) -> None:
        functions = self.points.functions
        source, target = self._current(sender), self._current(to)
        call = {
            "transfer": lambda: functions.transfer(target, amount),
            "approve": lambda: functions.approve(target, amount),
            "transferFrom": lambda: functions.transferFrom(target, source, amount),
        }[function]()
        # Sent by the citizen holding the points (for transferFrom, by the would-be spender).
        self._check("transfer", (PointsNonTransferable, {}), lambda: self._eth_call(call, source))

    # ------------------------------------------------------------------ re-binding

    def _move_record(self, old: str, new: str) -> None:
        self.balances[new] = self.balances.pop(old, 0)
        if old in self.day_totals:
            self.day_totals[new] = self.day_totals.pop(old)
        self.consent_nonces[new] = self.consent_nonces.pop(old, 0)
        if old in self.touched:
            self.touched.add(new)
        self.touched.add(old)  # re-bound: never blank again
        self.rebound_to[old] = new
        for held in (self.badges, self.revoked):
            moved = {(e, a) for e, a in held if a == old}
            held -= moved
            held |= {(e, new) for e, _ in moved}

    @rule(slot=SLOT, reason=REASON)
    def rebind(self, slot: int, reason: int) -> None:
        """A citizen lost their key: the record moves to a new key that signed for it."""
        old = self._current(slot)
        new = self._new_key(f"citizen-{slot}-key-{len(self.slots[slot])}")
        consent = self.ledger.sign_rebinding(new, old, reason, deadline=self.ledger.chain_time() + 400 * DAY)
        result = self._check("rebind", None, lambda: self.ledger.rebind_citizen(consent))
        (rebound,) = [r for r in result.records if isinstance(r, CitizenRebound)]
        assert (rebound.old, rebound.new, rebound.reason_code) == (old, new.address, reason)
        self._move_record(old, str(new.address))
        self.slots[slot].append(new)
        self.rebindings.append(consent)
        assert self.ledger.current_address(old) == new.address
        assert self.ledger.balance_of(old) == 0
        assert self.ledger.awarded_today(old) == 0
        assert self.ledger.consent_nonce(old) == 0
        assert self.ledger.consent_nonce(new.address) == self.consent_nonces[new.address]
        for event, event_id in enumerate(self.events):
            assert self.ledger.is_badge_revoked(event_id, new.address) == ((event, new.address) in self.revoked)
            assert not self.ledger.is_badge_revoked(event_id, old)

    @precondition(lambda self: bool(self.rebindings))
    @rule(data=st.data())
    def rebind_replayed(self, data: st.DataObject) -> None:
        consent = data.draw(st.sampled_from(self.rebindings), label="consent")
        expected = InvalidRebinding, {"from": consent.old, "to": consent.new}
        self._check("rebind_replayed", expected, lambda: self.ledger.rebind_citizen(consent))

    def _holds_badges(self, address: str) -> bool:
        return any(a == address for _, a in self.badges | self.revoked)

    @precondition(lambda self: bool(self.touched) or bool(self.badges | self.revoked))
    @rule(data=st.data(), onto_itself=st.booleans())
    def rebind_onto_a_record(self, data: st.DataObject, onto_itself: bool) -> None:
        """A re-binding onto an address that holds a record, or holds (or held) a badge, or onto
        itself, is refused even with that address's own signature: records are never merged."""
        old = data.draw(st.sampled_from(sorted(self.keys)), label="from")
        taken = sorted(self.touched | {a for _, a in self.badges | self.revoked})
        new = old if onto_itself else data.draw(st.sampled_from(taken), label="to")
        consent = self.ledger.sign_rebinding(self.keys[new], old, 1, deadline=self.ledger.chain_time() + 400 * DAY)
        expected: Expected = InvalidRebinding, {"from": old, "to": new}
        if old != new and old not in self.rebound_to and new not in self.touched:
            # Blank for points, so the points contract lets it through; the badge contract does not.
            assert self._holds_badges(new)
            expected = RebindTargetHoldsBadges, {"to": new}
        self._check("rebind_onto_a_record", expected, lambda: self.ledger.rebind_citizen(consent))

    # ------------------------------------------------------------------ badges

    def _predict_issue(self, event: int, address: str) -> Expected:
        event_id = self.events[event]
        if (event, address) in self.badges:
            return AlreadyHasBadge, {"event_id": event_id, "attendee": address}
        if (event, address) in self.revoked:
            return BadgeWasRevoked, {"event_id": event_id, "attendee": address}
        return None

    @rule(event=EVENT, slot=SLOT, by_voucher=st.booleans())
    def issue_badge(self, event: int, slot: int, by_voucher: bool) -> None:
        event_id, address = self.events[event], self._current(slot)
        if by_voucher:
            self.voucher_nonce += 1
            voucher = self.ledger.sign_voucher(event_id, address, nonce=self.voucher_nonce)
            action: Callable[[], Any] = lambda: self.ledger.claim_badge(voucher)  # noqa: E731
        else:
            action = lambda: self.ledger.issue_badge(event_id, address)  # noqa: E731
        if self._check("issue_badge", self._predict_issue(event, address), action):
            self.badges.add((event, address))

    @rule(event=EVENT, slots=st.lists(SLOT, min_size=1, max_size=POOL, unique=True))
    def issue_badges(self, event: int, slots: list[int]) -> None:
        addresses = [self._current(s) for s in slots]
        expected = next((e for e in (self._predict_issue(event, a) for a in addresses) if e), None)
        if self._check("issue_badges", expected, lambda: self.ledger.issue_badges(self.events[event], addresses)):
            self.badges.update((event, a) for a in addresses)

    @rule(event=EVENT, slot=SLOT, reason=REASON)
    def revoke_badge(self, event: int, slot: int, reason: int) -> None:
        event_id, address = self.events[event], self._current(slot)
        expected: Expected = None
        if (event, address) not in self.badges:
            expected = NoBadge, {"event_id": event_id, "attendee": address}
        if self._check("revoke_badge", expected, lambda: self.ledger.revoke_badge(event_id, address, reason)):
            self.badges.discard((event, address))
            self.revoked.add((event, address))
        assert self.ledger.is_badge_revoked(event_id, address) == ((event, address) in self.revoked)

    @rule(event=EVENT, slot=SLOT, reason=REASON)
    def reissue_badge(self, event: int, slot: int, reason: int) -> None:
        event_id, address = self.events[event], self._current(slot)
        expected: Expected = None
        if (event, address) not in self.revoked:
            expected = BadgeNotRevoked, {"event_id": event_id, "attendee": address}
        if self._check("reissue_badge", expected, lambda: self.ledger.reissue_badge(event_id, address, reason)):
            self.revoked.discard((event, address))
            self.badges.add((event, address))
        assert self.ledger.is_badge_revoked(event_id, address) == ((event, address) in self.revoked)

    # ------------------------------------------------------------------ pausing and time

    @rule(
        data=st.data(),
        actions=st.lists(
            st.sampled_from(["award", "redeem", "redeem_with_consent", "issue", "claim", "reissue", "rebind"]),
            min_size=1,
            max_size=3,
            unique=True,
        ),
    )
    def while_paused(self, data: st.DataObject, actions: list[str]) -> None:
        """Pausing stops awards, redemptions, issuance and re-binding, whatever they carry
        (the pause is checked first); resuming lets them through again."""
        self.ledger.pause()
        slot = data.draw(SLOT, label="slot")
        key, address = self.slots[slot][-1], self._current(slot)
        event_id = self.events[data.draw(EVENT, label="event")]
        attempts: dict[str, Callable[[], Any]] = {
            "award": lambda: self.ledger.award_points([ActivityAward(self.last_id + 1, address, 1)]),
            "redeem": lambda: self.ledger.redeem(key, 1, 0),
            "redeem_with_consent": lambda: self.ledger.redeem_with_consent(self.ledger.sign_redemption(key, 1, 0)),
            "issue": lambda: self.ledger.issue_badge(event_id, address),
            "claim": lambda: self.ledger.claim_badge(self.ledger.sign_voucher(event_id, address)),
            "reissue": lambda: self.ledger.reissue_badge(event_id, address, 1),
            "rebind": lambda: self.ledger.rebind_citizen(
                self.ledger.sign_rebinding(Account.create(), address, 1, deadline=self.ledger.chain_time() + DAY)
            ),
        }
        for action in actions:
            self._check(f"paused_{action}", (LedgerPaused, {}), attempts[action])
        self.ledger.unpause()
        assert not self.ledger.is_paused()

    @rule(days=st.sampled_from([0, 1]))
    def advance(self, days: int) -> None:
        if days:
            self.chain.advance(days * DAY)
            self.day += days
        else:
            # Chain.advance(0) is refused by eth-tester (a block may not keep its parent's
            # timestamp); mining one block moves time by the one second every block takes.
            self.tester.mine_blocks()

    # ------------------------------------------------------------------ invariants

    def _view(self, name: str, function: str, *args: Any) -> Any:
        """A view call straight to eth-tester, at the latest block.

        The invariants make dozens of reads after every step; through web3 (ABI lookup, encoding,
        middleware) each costs about three times the EVM call itself. The same views through the
        Ledger's own read methods are checked by the ``ledger_reads_agree_with_the_model`` rule.
        """
        selector, inputs, outputs = SIGNATURES[name][function]
        data = selector + abi_encode(inputs, args)
        call = {"from": self.city.address, "to": self.addresses[name], "data": "0x" + data.hex()}
        values = abi_decode(outputs, to_bytes(hexstr=self.tester.call(call, "latest")))
        return values[0] if len(values) == 1 else values

    @invariant()
    def clock_is_where_the_model_thinks(self) -> None:
        # Harness check: the chain is on the model's day, well clear of the city's midnight.
        local = self.chain.now() + self.offset
        assert local // DAY == self.day
        assert local % DAY < DAY // 2
        assert self._view("points", "today") == self.day

    @invariant()
    def balances_and_supply_match(self) -> None:
        addresses = sorted(self.keys)
        onchain = [self._view("points", "balanceOf", a) for a in addresses]
        assert onchain == [self.balances.get(a, 0) for a in addresses]
        assert self._view("points", "totalSupply") == sum(self.balances.values()) == sum(onchain)

    @invariant()
    def balances_are_the_sum_of_the_records(self) -> None:
        head = self.ledger.head()
        for record in self.ledger.records_between(self.scanned + 1, head) if head > self.scanned else []:
            match record:
                case AwardRecorded():
                    self._add(self.from_records, record.citizen, record.points)
                    self.awards_on_record[record.activity_id] = (record.citizen, record.points)
                case AwardReversed():
                    self._add(self.from_records, record.citizen, -record.points)
                    self.reversals_on_record[record.activity_id] = (record.citizen, record.points)
                case PointsRedeemed():
                    self._add(self.from_records, record.citizen, -record.points)
                case CitizenRebound():
                    self._add(self.from_records, record.new, self.from_records.pop(record.old, 0))
                case PointsTransferred():
                    self._add(self.from_transfers, record.sender, -record.points)
                    self._add(self.from_transfers, record.recipient, record.points)
                case BadgeIssued():
                    self.badges_on_record.add((record.event_id, record.attendee))
                case BadgeRevoked():
                    self.badges_on_record.remove((record.event_id, record.attendee))
                case BadgesMoved():
                    for event_id in record.event_ids:
                        self.badges_on_record.remove((event_id, record.old))
                        self.badges_on_record.add((event_id, record.new))
        self.scanned = head
        balances = {a: p for a, p in self.balances.items() if p}
        assert {a: p for a, p in self.from_records.items() if p} == balances
        minted = self.from_transfers.pop("0x" + "0" * 40, 0)
        assert {a: p for a, p in self.from_transfers.items() if p} == balances
        assert -minted == sum(balances.values())  # the supply, read from the chain by balances_and_supply_match
        self.from_transfers["0x" + "0" * 40] = minted
        assert self.awards_on_record == {i: (a.citizen, a.points) for i, a in self.awarded.items()}
        assert self.reversals_on_record.keys() == self.reversed
        assert self.badges_on_record == {(self.events[e], a) for e, a in self.badges}

    @staticmethod
    def _add(totals: dict[str, int], address: str, points: int) -> None:
        totals[address] = totals.get(address, 0) + points

    @invariant()
    def daily_totals_match_and_respect_the_cap(self) -> None:
        # Lost keys are checked once, when their record moves (see ``rebind``): nothing changes them after.
        for slot in range(POOL):
            address = self._current(slot)
            today = self._view("points", "awardedToday", address)
            assert today <= DAILY_CAP
            assert today == self._today(address)

    @invariant()
    def badge_holdings_match(self) -> None:
        # Revocations are read back by the rules that change them and by ``ledger_reads_agree_with_the_model``.
        pairs = [(e, a) for e in range(EVENTS) for a in sorted(self.keys)]
        held = self._view("badges", "balanceOfBatch", [a for _, a in pairs], [self.events[e] for e, _ in pairs])
        assert list(held) == [int(pair in self.badges) for pair in pairs]
        for event, event_id in enumerate(self.events):
            attendees = self._view("badges", "cityEvent", event_id)[3]
            assert attendees == sum(1 for e, _ in self.badges if e == event)

    @invariant()
    def activity_ids_match(self) -> None:
        assert self._view("points", "lastActivityId") == self.last_id
        # Every reversed id reads reversed; that no other id does is in the records' invariant
        # (and read for every id by ``ledger_reads_agree_with_the_model``).
        for activity_id in self.reversed:
            assert self._view("points", "isReversed", activity_id)

    # ------------------------------------------------------------------ the ledger's own read API

    @rule(data=st.data(), part=st.sampled_from(["points", "badges", "history"]))
    def ledger_reads_agree_with_the_model(self, data: st.DataObject, part: str) -> None:
        """The same comparisons through the Ledger's query methods (slower: some replay logs)."""
        ledger = self.ledger
        if part == "points":
            for address in self.keys:
                assert ledger.balance_of(address) == self.balances.get(address, 0)
                assert ledger.awarded_today(address) == self._today(address)
                assert ledger.consent_nonce(address) == self.consent_nonces.get(address, 0)
                assert ledger.current_address(address) == self._holder(address)
            assert ledger.total_supply() == sum(self.balances.values())
            assert ledger.last_activity_id() == self.last_id
            assert ledger.today() == self.day
            for activity_id in range(1, self.last_id + 1):
                assert ledger.is_reversed(activity_id) == (activity_id in self.reversed)
        elif part == "badges":
            for event, event_id in enumerate(self.events):
                holders = {a for e, a in self.badges if e == event}
                assert ledger.badge_holdings(event_id, sorted(self.keys)) == {
                    a: a in holders for a in sorted(self.keys)
                }
                for address in self.keys:
                    assert ledger.has_badge(event_id, address) == (address in holders)
                    assert ledger.is_badge_revoked(event_id, address) == ((event, address) in self.revoked)
                assert ledger.city_event(event_id).attendees == len(holders)
        else:
            # A citizen's history, followed across re-bindings, adds up to the current balance.
            for slot in range(POOL):
                current = self._current(slot)
                total = 0
                for record in ledger.history(current):
                    if isinstance(record, AwardRecorded):
                        total += record.points
                    elif isinstance(record, AwardReversed | PointsRedeemed):
                        total -= record.points
                assert total == self.balances.get(current, 0)
            # ``activity`` scans the whole chain: one award per check is enough.
            if self.awarded:
                activity_id = data.draw(st.sampled_from(sorted(self.awarded)), label="activity_id")
                award = self.awarded[activity_id]
                found = ledger.activity(activity_id)
                assert found is not None
                recorded, reversal = found
                assert (recorded.citizen, recorded.points, recorded.kind) == (award.citizen, award.points, award.kind)
                assert (reversal is not None) == (activity_id in self.reversed)


LedgerMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerProperties = LedgerMachine.TestCase


def test_history_of_a_record_rebound_twice_adds_up_to_its_balance(chain, ledger):
    """The history property above for the case a short run seldom reaches: a citizen who lost
    two keys in turn, with awards, a reversal and a redemption at every address."""
    first, second, third = (chain.new_account() for _ in range(3))
    ledger.award_points([ActivityAward(1, first.address, 100), ActivityAward(2, first.address, 40)])
    ledger.reverse_award(2, 1)
    ledger.rebind_citizen(ledger.sign_rebinding(second, first.address, 1))
    ledger.award_points([ActivityAward(3, second.address, 50)])
    ledger.redeem_with_consent(ledger.sign_redemption(second, 30, 1))
    ledger.rebind_citizen(ledger.sign_rebinding(third, second.address, 1))
    ledger.award_points([ActivityAward(4, third.address, 7)])

    history = ledger.history(third.address)
    awarded = sum(r.points for r in history if isinstance(r, AwardRecorded))
    taken = sum(r.points for r in history if isinstance(r, AwardReversed | PointsRedeemed))
    assert sorted(r.activity_id for r in history if isinstance(r, AwardRecorded)) == [1, 2, 3, 4]
    assert [(r.old, r.new) for r in history if isinstance(r, CitizenRebound)] == [
        (first.address, second.address),
        (second.address, third.address),
    ]
    assert awarded - taken == ledger.balance_of(third.address) == 127
    assert ledger.current_address(first.address) == third.address
