"""Stateful property test: random sequences of ledger actions against the real contracts.

A plain-Python model tracks what the contracts should hold (balances, awarded and reversed
activity ids, each citizen's total for the current UTC day, badges). Every rule predicts from the
model whether the action succeeds or which custom error it must raise, then applies it to the
model only on success; after every step the chain is read back and compared with the model.

Each Hypothesis example builds its own eth-tester chain and deployment in ``__init__``. The chain
is moved to 01:00 UTC of a day far in the future first, so blocks advance one second each and the
contracts' day (``block.timestamp / 1 days``) changes only when a rule advances time by a day.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import eth  # noqa: F401  (py-evm raises the recursion limit on import: do it before Hypothesis runs)
import pytest
from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import function_abi_to_4byte_selector, get_abi_input_types, get_abi_output_types, keccak, to_bytes
from hypothesis import HealthCheck, settings
from hypothesis import event as note_outcome
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from web3.contract import Contract

from ledger import ActivityAward, Ledger, Venue, load_artifact
from ledger.errors import (
    ActivityAlreadyReversed,
    ActivityNotAwarded,
    AlreadyHasBadge,
    AwardTooLarge,
    ContractRevert,
    DailyCapExceeded,
    DuplicateActivity,
    InsufficientPoints,
    InvalidInput,
    NoBadge,
    PointsNonTransferable,
)
from tests.conftest import _eth_tester_chain

DAY = 86_400
MAX_AWARD = 1_000
# Lower than the fixture's 3,000 so that a 25-step run reaches the cap now and then.
DAILY_CAP = 1_500
POOL = 4
EVENTS = 2
ACTIVITY_ID_MAX = 9
ACTIVITY_IDS = st.integers(min_value=0, max_value=ACTIVITY_ID_MAX)
CITIZEN = st.integers(min_value=0, max_value=POOL - 1)
EVENT = st.integers(min_value=0, max_value=EVENTS - 1)
# 1..1200, with extra weight on large awards so that the daily cap is reached more often.
AWARD_POINTS = st.integers(min_value=1, max_value=1_200) | st.integers(min_value=600, max_value=1_000)

Expected = tuple[type[ContractRevert] | type[InvalidInput], dict[str, Any] | None] | None


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
        self.chain = _eth_tester_chain()
        start = (self.chain.now() // DAY + 1_000) * DAY + 3_600
        self.chain.advance(start - self.chain.now())
        city = _key("city")
        self.chain.fund(city.address)
        self.ledger = Ledger.deploy(self.chain.w3, city, max_points_per_award=MAX_AWARD, daily_cap=DAILY_CAP)
        self.tester = self.chain.w3.provider.ethereum_tester  # type: ignore[attr-defined]
        self.reader = str(city.address)
        self.citizens = [_key(f"citizen-{i}") for i in range(POOL)]
        self.addresses = [str(c.address) for c in self.citizens]
        for address in self.addresses:  # gas for the citizens' own redemptions and transfer attempts
            self.chain.fund(address)
        self.own = [Ledger(self.chain.w3, self.ledger.deployment, c) for c in self.citizens]
        now = self.ledger.chain_time()
        self.events = [
            self.ledger.create_event(Venue(i % 2), now, now + 400 * DAY, 0, f"ipfs://event-{i}")[0]
            for i in range(EVENTS)
        ]
        # The model.
        self.day = self.chain.now() // DAY
        self.balances = [0] * POOL
        self.awarded: dict[int, tuple[int, int]] = {}  # activity id -> (citizen index, points)
        self.reversed: set[int] = set()
        self.day_totals: dict[int, tuple[int, int]] = {}  # citizen index -> (day, points that day)
        self.consent_nonces = [0] * POOL
        self.badges: set[tuple[int, int]] = set()  # (event index, citizen index)

    # ------------------------------------------------------------------ helpers

    def _today(self, citizen: int) -> int:
        day, total = self.day_totals.get(citizen, (self.day, 0))
        return total if day == self.day else 0

    def _check(self, label: str, expected: Expected, action: Callable[[], object]) -> bool:
        """Runs ``action``; True if it succeeded as the model expected, else asserts the error."""
        if expected is None:
            action()
            note_outcome(f"{label}: ok")
            return True
        error, values = expected
        note_outcome(f"{label}: {error.__name__}")
        with pytest.raises(error) as info:
            action()
        assert type(info.value) is error
        if values is not None:
            assert info.value.values == values
        return False

    def _predict_awards(self, items: list[tuple[int, int, int]]) -> Expected:
        """The contract's checks in its order, award by award, with totals running through the batch."""
        running = {c: self._today(c) for c in range(POOL)}
        for activity_id, citizen, points in items:
            if points > MAX_AWARD:
                return AwardTooLarge, {
                    "activity_id": activity_id,
                    "points": points,
                    "max_points_per_award": MAX_AWARD,
                }
            if activity_id in self.awarded:
                return DuplicateActivity, {"activity_id": activity_id}
            if running[citizen] + points > DAILY_CAP:
                return DailyCapExceeded, {
                    "citizen": self.addresses[citizen],
                    "awarded_today": running[citizen],
                    "points": points,
                    "daily_cap": DAILY_CAP,
                }
            running[citizen] += points
        return None

    def _apply_awards(self, items: list[tuple[int, int, int]]) -> None:
        for activity_id, citizen, points in items:
            self.awarded[activity_id] = (citizen, points)
            self.balances[citizen] += points
            self.day_totals[citizen] = (self.day, self._today(citizen) + points)

    def _awards(self, items: list[tuple[int, int, int]]) -> list[ActivityAward]:
        return [ActivityAward(a, self.addresses[c], p) for a, c, p in items]

    # ------------------------------------------------------------------ points

    @rule(activity_id=ACTIVITY_IDS, citizen=CITIZEN, points=AWARD_POINTS)
    def award(self, activity_id: int, citizen: int, points: int) -> None:
        items = [(activity_id, citizen, points)]
        (award,) = self._awards(items)
        if self._check("award", self._predict_awards(items), lambda: self.ledger.award_points(award)):
            self._apply_awards(items)

    @rule(
        items=st.lists(
            st.tuples(ACTIVITY_IDS, CITIZEN, AWARD_POINTS), min_size=1, max_size=6, unique_by=lambda item: item[0]
        )
    )
    def award_batch(self, items: list[tuple[int, int, int]]) -> None:
        awards = self._awards(items)
        if self._check("award_batch", self._predict_awards(items), lambda: self.ledger.award_points_batch(awards)):
            self._apply_awards(items)

    @rule(data=st.data(), citizen=CITIZEN, reward_id=st.integers(0, 3), with_consent=st.booleans())
    def redeem(self, data: st.DataObject, citizen: int, reward_id: int, with_consent: bool) -> None:
        """The city relays the citizen's signed consent, or the citizen redeems from their own account."""
        balance = self.balances[citizen]
        # Drawn around the balance so that both outcomes are common.
        points = data.draw(st.integers(min_value=0, max_value=balance + 300), label="points")
        expected: Expected = None
        if points == 0 or points > balance:
            expected = InsufficientPoints, {"citizen": self.addresses[citizen], "balance": balance, "needed": points}
        if with_consent:
            consent = self.ledger.sign_redemption(self.citizens[citizen], points, reward_id)
            assert consent.nonce == self.consent_nonces[citizen]
            if self._check("redeem_with_consent", expected, lambda: self.ledger.redeem_with_consent(consent)):
                self.balances[citizen] -= points
                self.consent_nonces[citizen] += 1
        elif self._check("redeem", expected, lambda: self.ledger.redeem(self.citizens[citizen], points, reward_id)):
            self.balances[citizen] -= points
        assert self._view(self.ledger.points, "consentNonce", self.addresses[citizen]) == self.consent_nonces[citizen]

    @precondition(lambda self: bool(self.awarded))
    @rule(data=st.data(), reason=st.integers(0, 2**16 - 1))
    def reverse_awarded(self, data: st.DataObject, reason: int) -> None:
        activity_id = data.draw(st.sampled_from(sorted(self.awarded)), label="activity_id")
        citizen, points = self.awarded[activity_id]
        expected: Expected = None
        if activity_id in self.reversed:
            expected = ActivityAlreadyReversed, {"activity_id": activity_id}
        elif self.balances[citizen] < points:
            expected = (
                InsufficientPoints,
                {
                    "citizen": self.addresses[citizen],
                    "balance": self.balances[citizen],
                    "needed": points,
                },
            )
        if self._check("reverse", expected, lambda: self.ledger.reverse_award(activity_id, reason)):
            self.reversed.add(activity_id)
            self.balances[citizen] -= points

    @precondition(lambda self: len(self.awarded) <= ACTIVITY_ID_MAX)
    @rule(data=st.data(), citizen=CITIZEN, points=st.integers(1, 100))
    def reverse_unawarded(self, data: st.DataObject, citizen: int, points: int) -> None:
        unawarded = sorted(set(range(ACTIVITY_ID_MAX + 1)) - set(self.awarded))
        activity_id = data.draw(st.sampled_from(unawarded), label="activity_id")
        # The ledger finds no record to reverse; the contract itself refuses any citizen and amount.
        self._check("reverse_unawarded", (InvalidInput, None), lambda: self.ledger.reverse_award(activity_id, 1))
        call = self.ledger.points.functions.reverseAward(activity_id, self.addresses[citizen], points, 1)
        expected = ActivityNotAwarded, {"activity_id": activity_id}
        self._check("reverse_unawarded_raw", expected, lambda: self._send(call))

    @rule(
        function=st.sampled_from(["transfer", "approve", "transferFrom"]),
        sender=CITIZEN,
        to=CITIZEN,
        amount=st.integers(0, 2_000),
    )
    def transfer(self, function: str, sender: int, to: int, amount: int) -> None:
        functions = self.ledger.points.functions
        call = {
            "transfer": lambda: functions.transfer(self.addresses[to], amount),
            "approve": lambda: functions.approve(self.addresses[to], amount),
            "transferFrom": lambda: functions.transferFrom(self.addresses[to], self.addresses[sender], amount),
        }[function]()
        # Sent by the citizen holding the points (for transferFrom, by the would-be spender).
        self._check("transfer", (PointsNonTransferable, {}), lambda: self._send(call, self.own[sender]))

    def _send(self, call: Any, by: Ledger | None = None) -> object:
        sender = (by or self.ledger).tx
        return sender.send(call.build_transaction({"from": sender.address, "gas": 400_000}), budget=400_000)

    # ------------------------------------------------------------------ badges

    @rule(event=EVENT, citizen=CITIZEN)
    def issue_badge(self, event: int, citizen: int) -> None:
        event_id, address = self.events[event], self.addresses[citizen]
        expected: Expected = None
        if (event, citizen) in self.badges:
            expected = AlreadyHasBadge, {"event_id": event_id, "attendee": address}
        if self._check("issue_badge", expected, lambda: self.ledger.issue_badge(event_id, address)):
            self.badges.add((event, citizen))

    @rule(event=EVENT, citizens=st.lists(CITIZEN, min_size=1, max_size=POOL, unique=True))
    def issue_badges(self, event: int, citizens: list[int]) -> None:
        event_id = self.events[event]
        expected: Expected = None
        held = [c for c in citizens if (event, c) in self.badges]
        if held:
            expected = AlreadyHasBadge, {"event_id": event_id, "attendee": self.addresses[held[0]]}
        addresses = [self.addresses[c] for c in citizens]
        if self._check("issue_badges", expected, lambda: self.ledger.issue_badges(event_id, addresses)):
            self.badges.update((event, c) for c in citizens)

    @rule(event=EVENT, citizen=CITIZEN, reason=st.integers(0, 2**16 - 1))
    def revoke_badge(self, event: int, citizen: int, reason: int) -> None:
        event_id, address = self.events[event], self.addresses[citizen]
        expected: Expected = None
        if (event, citizen) not in self.badges:
            expected = NoBadge, {"event_id": event_id, "attendee": address}
        if self._check("revoke_badge", expected, lambda: self.ledger.revoke_badge(event_id, address, reason)):
            self.badges.discard((event, citizen))

    # ------------------------------------------------------------------ time

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

    def _view(self, contract: Contract, function: str, *args: Any) -> Any:
        """A view call straight to eth-tester, at the latest block.

        The invariants make up to 22 reads after every step; through web3 (ABI lookup, encoding,
        middleware) each costs about three times the EVM call itself, which would double this
        test's runtime. The same views through web3 and the Ledger's own read methods are
        checked by the ``ledger_reads_agree_with_the_model`` rule.
        """
        selector, inputs, outputs = SIGNATURES["points" if contract is self.ledger.points else "badges"][function]
        data = selector + abi_encode(inputs, args)
        raw = self.tester.call({"from": self.reader, "to": contract.address, "data": "0x" + data.hex()}, "latest")
        values = abi_decode(outputs, to_bytes(hexstr=raw))
        return values[0] if len(values) == 1 else values

    @invariant()
    def clock_is_where_the_model_thinks(self) -> None:
        # Harness check: the chain is on the model's day, well clear of midnight.
        now = self.chain.now()
        assert now // DAY == self.day
        assert now % DAY < DAY // 2

    @invariant()
    def balances_and_supply_match(self) -> None:
        points = self.ledger.points
        onchain = [self._view(points, "balanceOf", a) for a in self.addresses]
        assert onchain == self.balances
        assert self._view(points, "totalSupply") == sum(self.balances) == sum(onchain)

    @invariant()
    def daily_totals_match_and_respect_the_cap(self) -> None:
        for citizen, address in enumerate(self.addresses):
            today = self._view(self.ledger.points, "awardedToday", address)
            assert today <= DAILY_CAP
            assert today == self._today(citizen)

    @invariant()
    def badges_match(self) -> None:
        badges = self.ledger.badges
        pairs = [(e, c) for e in range(EVENTS) for c in range(POOL)]
        accounts = [self.addresses[c] for _, c in pairs]
        held = self._view(badges, "balanceOfBatch", accounts, [self.events[e] for e, _ in pairs])
        assert list(held) == [int(pair in self.badges) for pair in pairs]
        for event, event_id in enumerate(self.events):
            attendees = self._view(badges, "cityEvent", event_id)[3]
            assert attendees == sum(1 for e, _ in self.badges if e == event)

    @invariant()
    def activity_statuses_match(self) -> None:
        for activity_id in self.awarded:
            status = self._view(self.ledger.points, "activityStatus", activity_id)
            assert tuple(status) == (True, activity_id in self.reversed)

    # ------------------------------------------------------------------ the ledger's own read API

    @rule(part=st.sampled_from(["points", "badges", "activities"]))
    def ledger_reads_agree_with_the_model(self, part: str) -> None:
        """The same comparisons through the Ledger's query methods (slower: some replay logs)."""
        ledger = self.ledger
        if part == "points":
            assert [ledger.balance_of(a) for a in self.addresses] == self.balances
            assert ledger.total_supply() == sum(self.balances)
            for citizen, address in enumerate(self.addresses):
                assert ledger.points.functions.awardedToday(address).call() == self._today(citizen)
                assert ledger.consent_nonce(address) == self.consent_nonces[citizen]
        elif part == "badges":
            for event, event_id in enumerate(self.events):
                holders = {c for e, c in self.badges if e == event}
                for citizen, address in enumerate(self.addresses):
                    assert ledger.has_badge(event_id, address) == (citizen in holders)
                assert ledger.city_event(event_id).attendees == len(holders)
                on_record = sorted(b.attendee for b in ledger.attendees_of(event_id))
                assert on_record == sorted(self.addresses[c] for c in holders)
        else:
            for citizen, address in enumerate(self.addresses):
                records = {r.activity_id: r for r in ledger.activities_of(address)}
                expected = {a: p for a, (c, p) in self.awarded.items() if c == citizen}
                assert {a: r.points for a, r in records.items()} == expected
                assert {a for a, r in records.items() if r.reversal is not None} == self.reversed & set(expected)
            for activity_id in range(ACTIVITY_ID_MAX + 1):
                if activity_id not in self.awarded:
                    status = ledger.points.functions.activityStatus(activity_id).call()
                    assert list(status) == [False, False]


LedgerMachine.TestCase.settings = settings(
    max_examples=15,
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
TestLedgerProperties = LedgerMachine.TestCase
